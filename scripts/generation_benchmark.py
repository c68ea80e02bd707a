"""Generation speed of the tiny MiniVLM on this machine: per-sample latency at batch 1, with
and without the KV cache, and per-sample cost in batches; boxes and polygons.

    python scripts/generation_benchmark.py [--checkpoint checkpoints/02_grounding] [--samples 40]

Untrained weights decode as fast as trained ones for a fixed number of tokens; the grammar
keeps every answer to the length a real box or outline has.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from vlmkit.checkpoint import load_model
from vlmkit.inference import predict
from vlmkit.profiles import new_model
from vlmkit.shapeworld.streams import shapeworld_stream


def _per_sample_ms(fn, n: int) -> float:
    start = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - start) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None)
    p.add_argument("--samples", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = (load_model(args.checkpoint) if args.checkpoint else new_model("tiny")).eval()
    print(f"threads {args.threads}; {args.samples} samples per measurement")
    print(f"{'task':>8} | {'batch 1, cache':>14} | {'batch 1, no cache':>17} | {'batched (all)':>13}")
    for task, max_new in (("ground", 8), ("segment", 40)):
        examples = [shapeworld_stream(task, model.codec)[i] for i in range(args.samples)]
        one_by_one = lambda cache: [model.generate(**_prompt(model, [e]), max_new_tokens=max_new,  # noqa: E731
                                                   use_cache=cache) for e in examples]
        cached = _per_sample_ms(lambda: one_by_one(True), len(examples))
        uncached = _per_sample_ms(lambda: one_by_one(False), len(examples))
        batched = _per_sample_ms(lambda: predict(model, examples, batch_size=len(examples), constrained=True,
                                                 progress=False), len(examples))
        print(f"{task:>8} | {cached:11.1f} ms | {uncached:14.1f} ms | {batched:10.1f} ms")


def _prompt(model, examples):
    from vlmkit.processor import Processor

    return Processor.for_model(model).prompt_batch(examples)


if __name__ == "__main__":
    main()
