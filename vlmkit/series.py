"""Run the notebook series headless (``make demo``): execute every notebook in order with
papermill, keep the executed copies, and summarise each stage's headline metrics.

    python -m vlmkit.series --out outputs/demo [--notebooks notebooks]

Only notebooks that exist are run, and the summary lists exactly what ran.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vlmkit.train.profiles import load_profile
from vlmkit.train.stages import RESULTS_FILE, stage_dir

NOTEBOOK_STAGE = {"01_captioning": "01_captioning", "02_grounding": "02_grounding",
                  "03_polygon_segmentation": "03_segmentation", "04_combined": "04_combined",
                  "05_your_data": "05_your_data"}


def run_series(notebook_dir: Path, out: Path) -> dict:
    import papermill

    notebooks = sorted(notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no numbered notebooks in {notebook_dir}")
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("summary.json", "summary.md"):  # an earlier run's, beside this run's notebooks (make book)
        (out / stale).unlink(missing_ok=True)
    summary = {"profile": load_profile(announce=False).name, "notebooks": []}
    for nb in notebooks:
        stage = NOTEBOOK_STAGE.get(nb.stem)
        results = stage_dir(stage) / RESULTS_FILE if stage else None
        if results is not None:
            results.unlink(missing_ok=True)  # the summary quotes this run's results or none
        print(f">> executing {nb} -> {out / nb.name}", flush=True)
        start = time.perf_counter()
        papermill.execute_notebook(str(nb), str(out / nb.name), cwd=str(nb.parent), progress_bar=True,
                                   log_output=False)
        entry = {"notebook": nb.name, "minutes": round((time.perf_counter() - start) / 60, 2)}
        if results is not None and results.is_file():
            entry["results"] = json.loads(results.read_text())
        summary["notebooks"].append(entry)
        print(f"   done in {entry['minutes']} min", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text(_markdown(summary))
    return summary


def _markdown(summary: dict) -> str:
    lines = [f"# vlmkit demo results (profile: {summary['profile']})", "",
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
    args = parser.parse_args()
    load_profile()
    summary = run_series(args.notebooks, args.out)
    print((args.out / "summary.md").read_text())
    print(f"executed notebooks and summary in {args.out}/ ({len(summary['notebooks'])} notebooks)")


if __name__ == "__main__":
    main()
