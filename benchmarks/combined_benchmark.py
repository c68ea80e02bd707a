"""Does notebook 04's task mixture keep what notebook 03 learned? Every task scored before and after.

Does notebook 04's task mixture keep what notebook 03 learned? Train the mixture from a
notebook-03 checkpoint with a variant of the tiny recipe and print each task's held-out score
at the start and after, as notebook 04's table does (the same rows, the same evaluation).

    python benchmarks/combined_benchmark.py checkpoints/03_segmentation                   # the tiny recipe
    python benchmarks/combined_benchmark.py checkpoints/03_segmentation --set steps=2400

With the recipe as it is and seed 0 it trains on notebook 04's examples with its settings and
scores the same held-out rows (threads other than the notebook's 2 may round differently).
The variants tried and what each did: ``docs/experiments/combined_recipe.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from vlmkit.evaluation.evaluate import evaluate_task
from vlmkit.storage.checkpoint import load_model
from vlmkit.train.profiles import load_profile
from vlmkit.train.recipes import parse_assignments
from vlmkit.train.stages import stage_stream
from vlmkit.train.trainer import Trainer

SHOWN = {"caption": ["cider"], "ground": ["acc@0.5"], "locate_segment": ["miou", "p@0.5", "box_acc@0.5"],
         "point": ["inside"], "describe": ["cider"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("start", type=Path, help="the checkpoint to start from (notebook 03's)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="combined recipe fields (vlmkit.train.recipes.CombinedRecipe), e.g. steps=2400 lr=3e-4")
    p.add_argument("--seed", type=int, default=0, help="training data and dropout (the held-out scenes stay the same)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    profile = load_profile("tiny", announce=False)
    recipe = profile.recipe("04_combined", **parse_assignments(args.set))
    print(recipe, flush=True)

    model = load_model(args.start)
    rows = {task: profile.evaluation_rows(task, "val", count=recipe.eval_size) for task in recipe.task_weights}
    start = {task: evaluate_task(model, task, task_rows, progress=False) for task, task_rows in rows.items()}
    stream = stage_stream(profile, recipe, model.codec, seed=args.seed)
    trainer = Trainer(model, stream, recipe.train_config(progress=False, seed=args.seed))
    trainer.train()
    after = {task: evaluate_task(model, task, task_rows, progress=False) for task, task_rows in rows.items()}
    scores = {f"{task} ({metric})": {"start": start[task][metric], "combined": after[task][metric]}
              for task in rows for metric in SHOWN.get(task, [])}
    print(f"{trainer.step} steps in {trainer.train_seconds / 60:.2f} min")
    for name, pair in scores.items():
        print(f"  {name:<30} {pair['start']:7.3f} -> {pair['combined']:7.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"recipe": parse_assignments(args.set), "seed": args.seed,
                                        "train_minutes": trainer.train_seconds / 60, "scores": scores,
                                        "history": trainer.history}, indent=1, default=float))


if __name__ == "__main__":
    main()
