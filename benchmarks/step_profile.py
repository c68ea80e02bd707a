"""Where a tiny-profile training step goes, by torch.profiler over a few steps of a stage.

Where a tiny-profile training step goes: ``torch.profiler`` over a few steps of notebook 02's
grounding recipe (or another stage's), split into building the batch (ShapeWorld scenes drawn
in Python, tokenised, stacked) and the model's forward, backward and optimizer step, then the
top operators.

    python benchmarks/step_profile.py                      # 02_grounding, 20 steps after 5 warm-up
    python benchmarks/step_profile.py --stage 03_segmentation
    python benchmarks/step_profile.py --stage 04_combined   # the task mixture
    python benchmarks/step_profile.py --scenes 0            # every scene drawn new (before reuse)

With a recipe that reuses its scenes (``scenes`` > 0) the profiled steps are those of an epoch
after the first: their scenes are drawn before the profiler starts.

Run it alone: two jobs on 2 cores slow each other many times over.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from vlmkit.train.profiles import load_profile
from vlmkit.train.stages import stage_stream
from vlmkit.train.trainer import Trainer

STAGES = ("02_grounding", "03_segmentation", "04_combined")
PARTS = ("examples: ShapeWorld scenes drawn", "batch: tokens and pixel tensors", "model forward (loss)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", choices=STAGES, default="02_grounding")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rows", type=int, default=15, help="operators listed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--scenes", type=int, default=None, help="distinct scenes reused (default: the recipe's)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    profile_ = load_profile("tiny", announce=False)
    recipe = profile_.recipe(args.stage)
    if args.scenes is not None:
        recipe = dataclasses.replace(recipe, scenes=args.scenes)
    model = profile_.new_model()
    # past the curriculum's first stages: the 2-4 object scenes most steps train on
    start = getattr(recipe, "attribute_pair_steps", 0) + int(getattr(recipe, "single_object_fraction", 0) * recipe.steps)
    tasks = recipe.tasks()
    stream = stage_stream(profile_, recipe, model.codec)
    config = dataclasses.replace(recipe.train_config(progress=False, first_token_steps=0), eval_every=0,
                                 save_every=0)
    trainer = Trainer(model, stream, config)
    trainer.step = start
    if recipe.scenes:  # drawn and kept, as in every epoch after the first
        for step in range(start, start + args.warmup + args.steps):
            trainer.batches.examples(trainer.batches.index(step))
    draw, build, train_step = trainer.batches.examples, trainer.processor.training_batch, trainer.model.forward

    def timed(name, fn):
        def wrapped(*a, **k):
            with record_function(name):
                return fn(*a, **k)
        return wrapped

    trainer.batches.examples = timed(PARTS[0], draw)
    trainer.processor.training_batch = timed(PARTS[1], build)
    trainer.model.forward = timed(PARTS[2], train_step)
    trainer.train(until_step=start + args.warmup)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.train(until_step=start + args.warmup + args.steps)
    events = {e.key: e for e in prof.key_averages()}
    total = sum(e.self_cpu_time_total for e in events.values())
    print(f"{args.stage} ({', '.join(tasks)}): {args.steps} steps of batch {recipe.batch_size}, {args.threads} threads, "
          f"{f'{recipe.scenes} scenes reused' if recipe.scenes else 'every scene new'}; "
          f"{trainer.train_seconds / (args.warmup + args.steps):.3f} s a step on average (warm-up included)\n")
    for name in PARTS:
        if name in events:
            print(f"  {name:<40} {events[name].cpu_time_total / 1e6 / args.steps:7.3f} s a step "
                  f"({100 * events[name].cpu_time_total / total:4.1f}% of all profiled CPU time)")
    print()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
