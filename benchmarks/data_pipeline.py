"""Full-profile batch building in examples/s per worker process, before and after, and the workers a T4 and an A100 need.

Full-profile grounding examples from the COCO photos packaged with vlmkit (JPEGs of about
640x480, resized to 224 px), built into micro-batches of the full recipe's size exactly as the
Trainer builds them (:class:`vlmkit.train.batches.MicroBatches`: examples drawn, images decoded
and resized, prompts and answers tokenised, padded and stacked). The tokenizer is the full
profile's offline stand-in (a byte-level BPE with vlmkit's tokens; the real SmolLM2 tokenizer
comes from the Hugging Face Hub, which this machine cannot reach); the model's 49 image tokens
are those of the full-size model built with random weights.

    python benchmarks/data_pipeline.py                  # 60 micro-batches of 16 per setting
    python benchmarks/data_pipeline.py --batches 3      # a quick check that it runs

Settings: *before* builds the batches in the training process and decodes every JPEG in full
(vlmkit before issue 54); *after* decodes in draft mode (:func:`vlmkit.data.images.load_image`),
in the training process (0 workers) and in 1 and 2 DataLoader worker processes. Each setting is
timed after a warm-up (worker start-up is not counted). *Per worker* is examples/s over the
processes that build (the training process when 0). The workers a GPU needs: its examples/s
by ``docs/gpu.md``'s estimate (``--gpu``: seconds per step of the full recipe's 64 examples)
over the 1-worker rate per worker, rounded up; each wants a core of its own beside the training
process. Run it alone: two jobs on 2 cores slow each other many times over.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from unittest import mock

import torch

from vlmkit.data.coco import CocoInstances, sample_folder
from vlmkit.data.images import load_image
from vlmkit.data.sources import epoch_shuffled
from vlmkit.text import processor as processor_module
from vlmkit.text.processor import Processor
from vlmkit.text.tasks import RowStream
from vlmkit.train.batches import MicroBatches, batch_loader
from vlmkit.train.profiles import load_profile
from vlmkit.train.streams import ENDLESS

SETTINGS = (("before: in the training process, full JPEG decode", 0, False),
            ("after: in the training process, draft decode", 0, True),
            ("after: 1 worker process, draft decode", 1, True),
            ("after: 2 worker processes, draft decode", 2, True))


def full_decode():
    """Processor.pixels as it was: every JPEG decoded at full size."""
    return mock.patch.object(processor_module, "load_image", lambda image, size=None: load_image(image))


def full_profile_batches(batch_size: int, steps: int) -> MicroBatches:
    """Micro-batches of full-profile grounding examples from the packaged COCO photos."""
    torch.manual_seed(0)
    model = load_profile("full", announce=False).new_model(random_init=True)
    processor = Processor.for_model(model)
    rows = CocoInstances.from_folder(sample_folder()).referring_rows("val")
    stream = RowStream(epoch_shuffled(rows), "ground", model.codec, ENDLESS)
    return MicroBatches(stream, processor, batch_size, steps)


def examples_per_second(batches: MicroBatches, workers: int, count: int, warmup: int) -> float:
    """Examples/s of building ``count`` micro-batches after ``warmup`` of them."""
    loader = iter(batch_loader(batches, 0, workers))
    for _ in range(warmup):
        next(loader)
    start = time.perf_counter()
    for _ in range(count):
        next(loader)
    return count * batches.batch_size / (time.perf_counter() - start)


def parse_gpus(items: list[str]) -> dict[str, float]:
    """``["T4=0.62"]`` -> ``{"T4": 0.62}`` (seconds per step)."""
    gpus = {}
    for item in items:
        name, _, seconds = item.partition("=")
        try:
            gpus[name] = float(seconds)
        except ValueError:
            raise SystemExit(f"--gpu takes NAME=SECONDS_PER_STEP, e.g. A100=0.11; got {item!r}") from None
    return gpus


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=60, help="micro-batches timed per setting")
    p.add_argument("--batch-size", type=int, default=16, help="the full recipes' micro-batch")
    p.add_argument("--step-examples", type=int, default=64, help="examples a step of the full recipe takes")
    p.add_argument("--gpu", nargs="+", default=["T4=0.62", "A100=0.11"], metavar="NAME=SECONDS",
                   help="seconds per step of --step-examples examples (default: docs/gpu.md's estimate)")
    args = p.parse_args()
    torch.set_num_threads(1)  # one core per builder: the training process alone, or each worker
    batches = full_profile_batches(args.batch_size, steps=args.batches + 8)
    print(f"full-profile grounding examples (224 px, the packaged COCO photos, stand-in tokenizer), micro-batches "
          f"of {args.batch_size}, {args.batches} timed per setting after a warm-up\n")
    print(f"{'setting':<52} | workers | examples/s | per worker")
    per_worker = {}
    for name, workers, draft in SETTINGS:
        with contextlib.nullcontext() if draft else full_decode():
            rate = examples_per_second(batches, workers, args.batches, warmup=2 * max(workers, 1))
        per_worker[name] = rate / max(workers, 1)
        print(f"{name:<52} | {workers:>7} | {rate:>10.1f} | {per_worker[name]:>10.1f}")
    one_worker = per_worker[SETTINGS[2][0]]
    print(f"\nworkers a GPU needs (its examples/s by the estimate / {one_worker:.1f} examples/s per worker, "
          f"rounded up):")
    for gpu, seconds in parse_gpus(args.gpu).items():
        demand = args.step_examples / seconds
        print(f"  {gpu}: {args.step_examples} examples per {seconds} s step = {demand:.0f} examples/s -> "
              f"{math.ceil(demand / one_worker)} worker(s)")


if __name__ == "__main__":
    main()
