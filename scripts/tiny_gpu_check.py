"""The tiny series on this machine's GPU: each stage's recipe trained in turn, its minutes and scores.

The tiny series on this machine's GPU (or its CPU, if it has none): train notebooks 01-04's
recipes in turn, each from the one before, as ``vlmkit train`` does (the notebooks' training
cells, without their side experiments and figures), into a fresh checkpoint folder, and print
per stage its training minutes, wall minutes and headline scores, then the series' examples.

    python scripts/tiny_gpu_check.py                    # the tiny recipes: about 2x notebook 02's steps
    python scripts/tiny_gpu_check.py --quick            # the quick recipes (a quarter of the steps)
    python scripts/tiny_gpu_check.py --precision no     # fp32 instead of what "auto" picks here
    VLMKIT_SMOKE=1 python scripts/tiny_gpu_check.py     # CI sizes: the code path in a minute

Results: ``--out`` (JSON); what a run printed: docs/gpu.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from vlmkit.series import machine
from vlmkit.storage.checkpoint import load_model
from vlmkit.train.profiles import CHECKPOINT_ENV, load_profile, smoke_mode
from vlmkit.train.recipes import SERIES_STAGES, series_examples
from vlmkit.train.stages import stage_dir, train_stage
from vlmkit.train.trainer import PRECISIONS, resolve_mixed_precision

# the score printed for each stage (the rest are in --out)
HEADLINE = {"01_captioning": ("object_f1", "bleu4"), "02_grounding": ("acc@0.5",), "03_segmentation": ("miou", "p@0.5"),
            "04_combined": ("ground/acc@0.5", "locate_segment/miou", "caption/object_f1")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the quick recipes (vlmkit.train.recipes.Recipe.quick)")
    p.add_argument("--precision", choices=("auto", *PRECISIONS), default="auto",
                   help="the Trainer's mixed_precision for every stage (default: what 'auto' picks here)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write every stage's results here as JSON")
    args = p.parse_args()
    precision, why = resolve_mixed_precision(args.precision)
    where = machine()
    print(f"machine: {where['kind']}, {where['name']}; arithmetic: {precision} ({why})", flush=True)
    profile = load_profile("tiny", announce=False)
    results, model = {}, None
    with tempfile.TemporaryDirectory() as checkpoints:
        os.environ[CHECKPOINT_ENV] = checkpoints  # nothing of an earlier run is resumed
        for stage in SERIES_STAGES:
            recipe = profile.recipe(stage, quick=args.quick, mixed_precision=args.precision, seed=args.seed)
            torch.manual_seed(args.seed)
            start = time.perf_counter()
            record = train_stage(stage, profile, recipe, start=model)  # the first: a new model
            record["wall_minutes"] = round((time.perf_counter() - start) / 60, 2)
            model = load_model(stage_dir(stage, recipe))  # where this recipe saved it (scratch/ if not the series')
            results[stage] = record
            scores = ", ".join(f"{name} {record['metrics'][name]:.3f}" for name in HEADLINE[stage]
                               if name in record["metrics"])
            print(f"{stage}: {record['train_steps']} steps, {record['train_minutes']:.2f} min training, "
                  f"{record['wall_minutes']:.2f} min with evaluation; {scores}", flush=True)
    examples = series_examples("tiny", smoke=smoke_mode(), quick=args.quick)
    minutes = sum(r["wall_minutes"] for r in results.values())
    print(f"series: {examples:,} training examples, {minutes:.1f} min in all on {where['kind']} ({precision})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": where, "precision": precision, "quick": args.quick,
                                        "examples": examples, "stages": results}, indent=1, default=float))


if __name__ == "__main__":
    main()
