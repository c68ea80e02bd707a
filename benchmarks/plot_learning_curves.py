"""Draw several learning-benchmark runs in one figure: Acc@0.5 against training minutes or steps.

Dashed, where a run recorded it: Acc@0.5 on the colour-only expressions ("the red shape"),
which only a model that binds colour words answers (docs/experiments/binding.md#colour-binding).

One run is one draw (docs/experiments/grounding_recipe.md#run-to-run-spread): put the seeds side by side. Minutes compare
runs of one machine only (the same step cost 86 ms on one 2-core machine, 124-170 on another,
docs/experiments/model_design.md#vit-layers); ``--x step`` compares runs made anywhere.

    python benchmarks/plot_learning_curves.py runs/seed0/results.json runs/seed1/results.json \
        --labels "seed 0" "seed 1" --out docs/learning_curve.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib.pyplot as plt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", type=Path, help="results.json files written by learning_benchmark.py")
    p.add_argument("--labels", nargs="+", help="one legend label per file (default: the folder names)")
    p.add_argument("--x", choices=("minutes", "step"), default="minutes",
                   help="minutes: training minutes, captioning included; step: grounding steps")
    p.add_argument("--out", type=Path, default=Path("outputs/learning_curves.png"))
    args = p.parse_args()
    labels = args.labels or [path.parent.name for path in args.results]
    if len(labels) != len(args.results):
        raise SystemExit(f"{len(args.results)} results files but {len(labels)} labels")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))  # the legend goes beside it
    for path, label in zip(args.results, labels):
        if not path.is_file():
            raise SystemExit(f"no results file at {path}: run benchmarks/learning_benchmark.py --out {path.parent}")
        run = json.loads(path.read_text())
        x_key = "train_minutes" if args.x == "minutes" else "step"
        xs = [c[x_key] for c in run["curve"]]
        # a run stopped early has its printed curve and no final score (benchmarks/runs/*_stopped.json)
        end = f"final {run['final']['acc@0.5']:.3f}" if "final" in run else f"stopped at step {run['curve'][-1]['step']}"
        line, = ax.plot(xs, [c["acc@0.5"] for c in run["curve"]], "o-", markersize=3, label=f"{label} ({end})")
        if all("colour_only" in c for c in run["curve"]):  # results of the benchmark since commit ffeaa5f
            ax.plot(xs, [c["colour_only"] for c in run["curve"]], "--", color=line.get_color(), linewidth=1,
                    label=f"{label}: colour-only expressions")
    ax.axhline(0.9, color="tab:red", linewidth=0.8,
               label="target: Acc@0.5 0.90" + (" within 20 min" if args.x == "minutes" else ""))
    if args.x == "minutes":
        ax.axvline(20, color="tab:red", linewidth=0.8)
    ax.set(xlabel="training minutes (2 CPU threads)" if args.x == "minutes" else "grounding step",
           ylabel="Acc@0.5, held-out 2-4 object scenes", ylim=(0, 1),
           title="Tiny MiniVLM learning ShapeWorld grounding")
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.02, 1))  # beside: never over a curve
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    print(f"{len(args.results)} curves written to {args.out}")


if __name__ == "__main__":
    main()
