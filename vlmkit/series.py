"""Run the notebook series headless (``make demo``): execute every notebook in order with
papermill, keep the executed copies, and summarise each stage's headline metrics and the
machine it ran on.

    python -m vlmkit.series --out outputs/demo [--notebooks notebooks] [--quick]

Only notebooks that exist are run, and the summary lists exactly what ran. The minutes of
recorded runs, by machine kind, are kept in ``demo_runs.json`` beside this module
(:func:`recorded_minutes`, which each notebook prints; ``scripts/record_demo.py`` adds a run).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import torch

from vlmkit.train.profiles import load_profile, smoke_mode
from vlmkit.train.recipes import series_examples
from vlmkit.train.stages import RESULTS_FILE, stage_dir
from vlmkit.train.trainer import cpu_has_bf16, resolve_mixed_precision

DEMO_RUNS = Path(__file__).with_name("demo_runs.json")
MACHINE_KINDS = ("CPU with AMX", "CPU with bf16", "CPU without bf16", "GPU")

NOTEBOOK_STAGE = {"01_captioning": "01_captioning", "02_grounding": "02_grounding",
                  "03_polygon_segmentation": "03_segmentation", "04_combined": "04_combined",
                  "05_your_data": "05_your_data"}


def machine() -> dict:
    """The machine a run's minutes belong to: its kind (one of :data:`MACHINE_KINDS`), the
    processor's name and torch's threads."""
    if torch.cuda.is_available():
        return {"kind": "GPU", "name": torch.cuda.get_device_name(), "threads": torch.get_num_threads()}
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():  # Linux: the first processor's name, family and model
        fields = dict(line.split(":", 1) for line in cpuinfo.read_text().split("\n\n")[0].splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        name = f"{fields.get('model name', name)} (family {fields.get('cpu family', '?')} model {fields.get('model', '?')})"
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    kind = "CPU with AMX" if amx else "CPU with bf16" if cpu_has_bf16() else "CPU without bf16"
    return {"kind": kind, "name": name, "threads": torch.get_num_threads()}


def _commit(folder: Path) -> str | None:
    """The repository's commit (with ``+changes`` when the tree differs), or None outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+changes" if dirty else "")


def run_series(notebook_dir: Path, out: Path, quick: bool = False) -> dict:
    """Execute the numbered notebooks of ``notebook_dir`` in order into ``out`` (with the quick
    recipes: ``quick``) and write ``summary.json`` and ``summary.md`` there."""
    import papermill

    notebooks = sorted(notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no numbered notebooks in {notebook_dir}")
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("summary.json", "summary.md"):  # an earlier run's, beside this run's notebooks (make book)
        (out / stale).unlink(missing_ok=True)
    profile = load_profile(announce=False).name
    summary = {"profile": profile, "quick": quick, "commit": _commit(notebook_dir), "machine": machine(),
               "arithmetic": resolve_mixed_precision("auto")[0],
               "examples": series_examples(profile, smoke=smoke_mode(), quick=quick), "notebooks": []}
    for nb in notebooks:
        stage = NOTEBOOK_STAGE.get(nb.stem)
        results = stage_dir(stage, quick=quick) / RESULTS_FILE if stage else None
        if results is not None:
            results.unlink(missing_ok=True)  # the summary quotes this run's results or none
        print(f">> executing {nb} -> {out / nb.name}", flush=True)
        start = time.perf_counter()
        papermill.execute_notebook(str(nb), str(out / nb.name), cwd=str(nb.parent), progress_bar=True,
                                   log_output=False, parameters={"quick": True} if quick else {})
        entry = {"notebook": nb.name, "minutes": round((time.perf_counter() - start) / 60, 2)}
        if results is not None and results.is_file():
            entry["results"] = json.loads(results.read_text())
        summary["notebooks"].append(entry)
        print(f"   done in {entry['minutes']} min", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text(_markdown(summary))
    return summary


def recorded_minutes(notebook: str, runs_file: Path = DEMO_RUNS) -> str:
    """What ``notebook`` took in the latest recorded ``make demo`` on each machine kind (and the
    quick recipe's minutes and scores where recorded), as lines to print; this machine's kind
    is marked, and so is a run of a series of another length than today's recipes."""
    runs = json.loads(runs_file.read_text())
    here, today = machine()["kind"], series_examples()
    lines = [f"{notebook} in the latest recorded `make demo` of each machine kind (this machine: {here}):"]
    for kind in MACHINE_KINDS:
        run = next((r for r in runs if r["machine"]["kind"] == kind and notebook in r["minutes"]), None)
        if run is None:
            lines.append(f"  {kind:17} not measured yet")
            continue
        text = f"  {kind:17} {run['minutes'][notebook]:5.1f} min"
        quick = run.get("quick", {}).get(notebook)
        if quick:
            shown = ", ".join(f"{k} {v:.3f}" for k, v in quick["metrics"].items())
            text += f"; quick recipe {quick['minutes']:.1f} min ({shown})"
        other_length = run.get("examples", today) != today
        length = f", a series of {run['examples']:,} examples, today's {today:,}" if other_length else ""
        lines.append(f"{text}   [{run['machine']['name']}, {run['machine']['threads']} threads, commit {run['commit']}{length}]")
    return "\n".join(lines)


def _markdown(summary: dict) -> str:
    quick = " with the quick recipes" if summary.get("quick") else ""
    lines = [f"# vlmkit demo results (profile: {summary['profile']}{quick})", "",
             "| notebook | minutes | headline metrics |", "|---|---|---|"]
    for entry in summary["notebooks"]:
        lines.append(f"| {entry['notebook']} | {entry['minutes']} | {headline_metrics(entry) or '(none recorded)'} |")
    return "\n".join(lines) + "\n"


def headline_metrics(entry: dict) -> str:
    """One summary entry's metrics as one line (``""`` when its stage recorded none): the demo's
    summary and the book's index quote them alike."""
    metrics = entry.get("results", {}).get("metrics", {})
    return ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"))
    parser.add_argument("--quick", action="store_true", help="the quick recipes (vlmkit.train.recipes.Recipe.quick)")
    args = parser.parse_args()
    load_profile()
    summary = run_series(args.notebooks, args.out, quick=args.quick)
    print((args.out / "summary.md").read_text())
    print(f"executed notebooks and summary in {args.out}/ ({len(summary['notebooks'])} notebooks)")


if __name__ == "__main__":
    main()
