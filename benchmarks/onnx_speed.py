"""Answers per second from PyTorch and from the ONNX export (onnxruntime), on the same scenes.

    python benchmarks/onnx_speed.py [--checkpoint checkpoints/02_grounding] [--scenes 40]

Exports the model (``vlmkit.inference.export``), answers the same held-out grounding and segmentation
questions both ways, checks the answers are identical, and prints milliseconds per answer:
PyTorch one at a time and batched (its KV-cache loop), ONNX one at a time (the exported loop
re-reads the sequence for each token; see the module doc of ``vlmkit.inference.export``). Run it alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from vlmkit.inference.answers import predict
from vlmkit.inference.export import OnnxVLM, export_onnx
from vlmkit.storage.checkpoint import load_model
from vlmkit.train.profiles import new_model
from vlmkit.train.streams import shapeworld_stream


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="default: a fresh tiny model (same speed)")
    p.add_argument("--scenes", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = (load_model(args.checkpoint) if args.checkpoint else new_model("tiny")).eval()
    with tempfile.TemporaryDirectory() as tmp:
        onnx = OnnxVLM(export_onnx(model, Path(tmp) / "onnx"), threads=args.threads)
        print(f"{args.scenes} held-out questions per task, {args.threads} threads, ms per answer")
        print(f"{'task':>8} | {'torch, 1 at a time':>18} | {'torch, batched':>14} | {'onnxruntime, 1 at a time':>24} | "
              f"{'same answers':>12}")
        for task in ("ground", "segment"):
            examples = [shapeworld_stream(task, model.codec, split="val")[i] for i in range(args.scenes)]
            results = {}
            for name, run in (("single", lambda: [predict(model, [e], progress=False)[0] for e in examples]),
                              ("batched", lambda: predict(model, examples, progress=False)),
                              ("onnx", lambda: onnx.predict(examples))):
                run()  # warm-up
                start = time.perf_counter()
                results[name] = (run(), 1000 * (time.perf_counter() - start) / len(examples))
            same = results["onnx"][0] == results["batched"][0] == results["single"][0]
            print(f"{task:>8} | {results['single'][1]:>18.2f} | {results['batched'][1]:>14.2f} | "
                  f"{results['onnx'][1]:>24.2f} | {str(same):>12}")


if __name__ == "__main__":
    main()
