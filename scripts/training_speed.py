"""What a tiny-profile grounding step costs on this machine, for the tiny config and variants.

    python scripts/training_speed.py [--variants lm_heads=4 vit_layers=2] [--steps 200] [--rounds 3]

A variant is a set of ``VLMConfig`` overrides (``name=value``, several joined by commas);
the tiny config itself is always timed first. Each round times ``--steps`` steps of each
setting in turn, after ``--warmup`` untimed ones: the speed of a shared machine drifts over
minutes, so settings timed one after the other would differ by the drift. Building one batch
(scenes, text, tokens: part of every step, the same for every variant) is timed on its own.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vlmkit.processor import Processor
from vlmkit.profiles import new_model
from vlmkit.shapeworld.streams import multi_object_world, shapeworld_stream
from vlmkit.recipes import parse_assignments
from vlmkit.trainer import TrainConfig, Trainer


def parse_overrides(variant: str) -> dict:
    """``"lm_heads=8,vit_layers=2"`` -> ``{"lm_heads": 8, "vit_layers": 2}`` (values read as by
    :func:`vlmkit.recipes.parse_assignments`)."""
    return parse_assignments([item for item in variant.split(",") if item])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="*", default=["vit_layers=2"], help="VLMConfig overrides to time")
    p.add_argument("--steps", type=int, default=200, help="timed steps per setting and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    settings = {"tiny": {}} | {v: parse_overrides(v) for v in args.variants}
    models = {name: new_model("tiny", **overrides) for name, overrides in settings.items()}
    stream = shapeworld_stream("ground", models["tiny"].codec, multi_object_world(), examples_per_scene=2)
    processor = Processor.for_model(models["tiny"])
    start = time.perf_counter()
    for b in range(20):
        processor.training_batch([stream[i] for i in range(b * args.batch_size, (b + 1) * args.batch_size)])
    print(f"building one batch of {args.batch_size}: {1000 * (time.perf_counter() - start) / 20:.1f} ms")

    total = args.warmup + args.rounds * args.steps
    config = TrainConfig(steps=total, batch_size=args.batch_size, lr=5e-4, progress=False)
    trainers = {name: Trainer(model, stream, config) for name, model in models.items()}
    for trainer in trainers.values():
        trainer.train(until_step=args.warmup)
    ms_per_step = {name: [] for name in trainers}
    for _ in range(args.rounds):
        for name, trainer in trainers.items():
            before = trainer.train_seconds
            trainer.train(until_step=trainer.step + args.steps)
            ms_per_step[name].append(1000 * (trainer.train_seconds - before) / args.steps)
    for name, ms in ms_per_step.items():
        rounds = " ".join(f"{m:.0f}" for m in ms)
        print(f"{name:>24}: {np.mean(ms):5.0f} ms a step (rounds: {rounds}), "
              f"{sum(p.numel() for p in models[name].parameters()):,} parameters, {args.threads} torch threads")


if __name__ == "__main__":
    main()
