"""Record a `make demo` run (and a quick one) in vlmkit/demo_runs.json, the minutes each notebook prints.

    python scripts/record_demo.py outputs/demo/summary.json [--quick outputs/demo-quick/summary.json]

The run replaces the recorded one of its machine kind (the history of every run is
docs/experiments/make_demo.md). A run of a tree with uncommitted changes, of another profile
or of the quick recipes alone is refused: the notebooks print these minutes as the tiny
series' on a commit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vlmkit.series import DEMO_RUNS

# the metrics a quick run is summed up by, per notebook (the keys its stage records)
HEADLINE = {"01_captioning": ["object_f1", "bleu4"], "02_grounding": ["acc@0.5"],
            "03_polygon_segmentation": ["miou", "p@0.5"],
            "04_combined": ["ground (acc@0.5)", "locate_segment (miou)"],
            "05_your_data": ["ground (acc@0.5)", "locate_segment (miou)"]}


def run_entry(summary: dict, quick: dict | None = None) -> dict:
    """The demo_runs.json entry of a ``summary.json`` (with a quick run's minutes and headline metrics)."""
    for name, run in (("the run", summary), ("the quick run", quick)):
        if run is None:
            continue
        if run.get("profile") != "tiny":
            raise ValueError(f"{name} used the {run.get('profile')!r} profile; the notebooks print the tiny series'")
        if not run.get("commit") or run["commit"].endswith("+changes"):
            raise ValueError(f"{name} was of {run.get('commit') or 'no commit'}: record runs of a committed tree")
    if not isinstance(summary.get("examples"), int):
        raise ValueError("the run's summary does not name its series' training examples (vlmkit.series writes them): "
                         "add 'examples', vlmkit.train.recipes.series_examples() at its commit")
    if summary.get("quick"):
        raise ValueError("the run is of the quick recipes: give it with --quick, beside a run of the series' recipes")
    if quick is not None and (quick["machine"]["kind"] != summary["machine"]["kind"] or not quick.get("quick")):
        raise ValueError("--quick must be a quick run (vlmkit.series --quick) on the same kind of machine")
    minutes = {Path(e["notebook"]).stem: e["minutes"] for e in summary["notebooks"]}
    entry = {"commit": summary["commit"], "machine": summary["machine"], "arithmetic": summary.get("arithmetic"),
             "examples": summary["examples"], "minutes": minutes, "quick": {}}
    for e in (quick or {}).get("notebooks", []):
        name, metrics = Path(e["notebook"]).stem, e.get("results", {}).get("metrics", {})
        entry["quick"][name] = {"minutes": e["minutes"],
                                "metrics": {k: metrics[k] for k in HEADLINE.get(name, []) if k in metrics}}
    return entry


def record(entry: dict, runs_file: Path = DEMO_RUNS) -> list[dict]:
    """``runs_file``'s runs with ``entry`` in place of the recorded run of its machine kind."""
    runs = [r for r in json.loads(runs_file.read_text()) if r["machine"]["kind"] != entry["machine"]["kind"]]
    runs.insert(0, entry)
    runs_file.write_text(json.dumps(runs, indent=1) + "\n")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", type=Path, help="summary.json of a make demo run")
    parser.add_argument("--quick", type=Path, default=None, help="summary.json of a quick run on the same machine")
    parser.add_argument("--runs", type=Path, default=DEMO_RUNS, help="the file to update (default: the package's)")
    args = parser.parse_args()
    quick = json.loads(args.quick.read_text()) if args.quick else None
    try:
        entry = run_entry(json.loads(args.summary.read_text()), quick)
    except ValueError as err:
        raise SystemExit(f"record_demo: {err}") from None
    record(entry, args.runs)
    print(f"recorded {entry['machine']['kind']} ({entry['machine']['name']}, commit {entry['commit']}): "
          f"{sum(entry['minutes'].values()):.1f} notebook minutes in {args.runs}")


if __name__ == "__main__":
    main()
