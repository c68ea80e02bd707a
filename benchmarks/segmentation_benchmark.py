"""How well does the tiny profile learn outlines? Segmentation variants from a grounding checkpoint.

How well does the tiny profile learn outlines? Train segmentation from a grounding
checkpoint with a variant of the tiny recipe and print, on held-out 2-4 object scenes and
every expression of each (as notebook 03 scores them): mIoU, P@0.5, parse rate, and the
grounding Acc@0.5 the model keeps, with training minutes (evaluation excluded).

    python benchmarks/segmentation_benchmark.py checkpoints/02_grounding               # the tiny recipe
    python benchmarks/segmentation_benchmark.py checkpoints/02_grounding --set steps=3000 max_vertices=8

The recipe is notebook 03's (:mod:`vlmkit.train.recipes`); ``--set`` changes its fields, checked
against them. The variants tried and what each did: ``docs/experiments/segmentation_recipe.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from vlmkit.evaluation.evaluate import evaluate_grounding, evaluate_segmentation
from vlmkit.storage.checkpoint import load_model, save_checkpoint
from vlmkit.text.tasks import MixtureStream
from vlmkit.train.profiles import load_profile
from vlmkit.train.recipes import parse_assignments
from vlmkit.train.trainer import Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("start", type=Path, help="the grounding checkpoint to start from (notebook 02's)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="segmentation recipe fields (vlmkit.train.recipes.SegmentRecipe), e.g. steps=3000 max_vertices=8")
    p.add_argument("--task", choices=("segment", "locate_segment"), default=None,
                   help="the outline alone, or the box then the outline in one answer (default: the recipe's task)")
    p.add_argument("--ground-share", type=float, default=0.0,
                   help="share of training examples that are grounding questions (against forgetting)")
    p.add_argument("--seed", type=int, default=0, help="training data and dropout (the held-out scenes stay the same)")
    p.add_argument("--eval-size", type=int, default=200, help="held-out scenes, every expression of each")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    p.add_argument("--save", type=Path, default=None, help="save the trained model here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    profile = load_profile("tiny", announce=False)
    recipe = profile.recipe("03_segmentation", **parse_assignments(args.set))
    args.task = args.task or recipe.task
    print(recipe, flush=True)

    model = load_model(args.start)
    val_rows = profile.evaluation_rows("segment", "val", count=args.eval_size)
    stream = profile.training_stream(args.task, model.codec, recipe, seed=args.seed)
    if args.ground_share:
        ground = profile.training_stream("ground", model.codec, seed=args.seed + 1)
        stream = MixtureStream([stream, ground], [1 - args.ground_share, args.ground_share], seed=args.seed)
    trainer = Trainer(model, stream, recipe.train_config(seed=args.seed),
                      evaluate=lambda m: evaluate_segmentation(m, val_rows[:60], progress=False, task=args.task).metrics)
    trainer.train()
    scored = evaluate_segmentation(model, val_rows, per_row=None, progress=False, task=args.task)
    segment, ious = scored.metrics, np.asarray(scored.ious)
    ground = evaluate_grounding(model, val_rows, per_row=None, progress=False).metrics
    result = {"recipe": parse_assignments(args.set), "task": args.task, "ground_share": args.ground_share,
              "box_acc@0.5": segment.get("box_acc@0.5"), "seed": args.seed, "train_minutes": trainer.train_seconds / 60,
              "miou": segment["miou"], "p@0.5": segment["p@0.5"], "parse_rate": segment["parse_rate"],
              # where the misses are: another object (or none) against the right object outlined badly
              "iou<0.1": float((ious < 0.1).mean()), "0.1<=iou<0.5": float(((ious >= 0.1) & (ious < 0.5)).mean()),
              "ground_acc@0.5": ground["acc@0.5"], "history": trainer.history}
    if args.save:
        save_checkpoint(model, args.save)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, default=float))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
