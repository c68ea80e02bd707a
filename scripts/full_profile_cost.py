"""What the full profile costs: the full-size model (random weights, built offline at the
published sizes) measured on this CPU, and from those measurements an estimate for GPUs.

    python scripts/full_profile_cost.py                 # SigLIP B/16 + SmolLM2-135M (the default)
    python scripts/full_profile_cost.py --vision vit    # the ImageNet ViT-B/16 instead

Prints parameters per part, image tokens, sequence lengths of real grounding examples (the
packaged COCO sample's), FLOPs of one training example (forward + backward, counted by
``torch.utils.flop_counter``), and for micro-batches of 1, 2 and 4 the peak memory (RSS) and
seconds of a training step on this CPU, each in a fresh process. Then the estimate: time per
1000 steps of the full recipe and memory on a 16 GB T4 and an 80 GB A100, with every
assumption printed. Run it alone: two jobs on 2 cores slow each other many times over.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vlmkit.data.coco import CocoInstances, sample_folder
from vlmkit.data.sources import epoch_shuffled
from vlmkit.text.processor import Processor
from vlmkit.text.tasks import RowStream
from vlmkit.train.profiles import load_profile
from vlmkit.train.recipes import recipe_for
from vlmkit.train.trainer import TrainConfig, Trainer

# Peak dense throughput (TFLOP/s) of each GPU at the precision vlmkit's "auto" picks there,
# and the share of it a small model's training reaches (model FLOPs utilisation, MFU):
# small matrices and a 135M LM keep MFU low; 0.25-0.35 is typical of nanoGPT-sized runs.
GPUS = {"T4 (16 GB, fp16)": {"tflops": 65.0, "memory_gb": 16.0, "mfu": 0.25},
        "A100 (80 GB, bf16)": {"tflops": 312.0, "memory_gb": 80.0, "mfu": 0.30}}
BYTES_PER_TRAINED_PARAMETER = 16  # fp32 weights 4 + gradients 4 + AdamW's two moments 8
BYTES_PER_FROZEN_PARAMETER = 4


def build(vision: str):
    torch.manual_seed(0)
    return load_profile("full", announce=False).new_model(vision=vision, random_init=True)


def grounding_stream(model):
    rows = CocoInstances.from_folder(sample_folder()).referring_rows("val")
    return RowStream(epoch_shuffled(rows), "ground", model.codec, 10**6)


def measure_step(vision: str, batch: int, repeats: int) -> dict:
    """In this (fresh) process: a training step's seconds (median of ``repeats`` after one
    warm-up) and the process's peak RSS."""
    model = build(vision)
    trainer = Trainer(model, grounding_stream(model), TrainConfig(steps=repeats + 1, batch_size=batch, lr=1e-5,
                                                                   warmup_steps=0, progress=False))
    times = []
    for step in range(repeats + 1):
        start = time.perf_counter()
        trainer.train(until_step=step + 1)
        times.append(time.perf_counter() - start)
    return {"batch": batch, "seconds": statistics.median(times[1:]),
            "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            "precision": trainer.precision}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vision", choices=("siglip", "vit"), default="siglip")
    p.add_argument("--batches", type=int, nargs="*", default=[1, 2, 4])
    p.add_argument("--repeats", type=int, default=2, help="timed steps per batch size (after one warm-up)")
    p.add_argument("--measure-step", type=int, help=argparse.SUPPRESS)  # internal: one batch size, JSON out
    args = p.parse_args()
    torch.set_num_threads(2)
    if args.measure_step:
        print(json.dumps(measure_step(args.vision, args.measure_step, args.repeats)))
        return

    model = build(args.vision)
    counts, config = model.num_parameters(), model.config
    print(f"full profile, random weights: {config.vit_pretrained} + {config.lm_pretrained}  (torch {torch.__version__},"
          f" {torch.get_num_threads()} CPU threads)\n")
    print("parameters:")
    for part in ("vision", "projector", "language", "total"):
        print(f"  {part:>10}: {counts[part]:>12,}")
    stream = grounding_stream(model)
    processor = Processor.for_model(model)
    lengths = [processor.training_batch([stream[i]])["input_ids"].shape[1] for i in range(100)]
    print(f"\nimage tokens: {model.num_image_tokens} ({model.vision.grid}x{model.vision.grid} patches of "
          f"{config.vit_patch_size} px at {config.vit_image_size} px, pixel shuffle {config.mp_pixel_shuffle})")
    print(f"sequence length of a grounding example ({len(lengths)} from the COCO sample): mean "
          f"{statistics.mean(lengths):.0f}, max {max(lengths)} tokens (image tokens included)")

    model.train()
    batch = processor.training_batch([stream[0]])
    with FlopCounterMode(display=False) as counter:
        model(**batch).loss.backward()
    flops = counter.get_total_flops()
    print(f"FLOPs of one training example (forward + backward, {batch['input_ids'].shape[1]} tokens): "
          f"{flops / 1e9:.1f} GFLOP")
    del model

    print("\na training step on this CPU (each batch size in a fresh process):")
    print(f"  {'batch':>5} | {'s/step':>7} | {'examples/s':>10} | {'peak RSS GB':>11} | precision")
    steps = {}
    for b in args.batches:
        out = subprocess.run([sys.executable, __file__, "--vision", args.vision, "--measure-step", str(b),
                              "--repeats", str(args.repeats)], capture_output=True, text=True, check=True)
        steps[b] = json.loads(out.stdout.strip().splitlines()[-1])
        s = steps[b]
        print(f"  {b:>5} | {s['seconds']:>7.2f} | {b / s['seconds']:>10.2f} | {s['rss_gb']:>11.2f} | {s['precision']}")
    if len(steps) >= 2:
        (b1, s1), (b2, s2) = sorted(steps.items())[-2:]
        activations = max((s2["rss_gb"] - s1["rss_gb"]) / (b2 - b1), 0.0)
        print(f"  memory per extra example (RSS slope between batch {b1} and {b2}): {activations:.2f} GB")
    else:
        activations = 0.0

    recipe = recipe_for("02_grounding", "full")
    effective = recipe.batch_size * recipe.grad_accum
    trained = counts["total"] if recipe.vision_lr_scale > 0 else counts["total"] - counts["vision"]
    states_gb = (trained * BYTES_PER_TRAINED_PARAMETER + (counts["total"] - trained) * BYTES_PER_FROZEN_PARAMETER) / 1e9
    print(f"\nestimate for the full grounding recipe (micro-batch {recipe.batch_size} x {recipe.grad_accum} accumulated "
          f"= {effective} examples a step, every part trained):")
    print("  assumptions: step FLOPs = FLOPs per example above x effective batch; GPU time = FLOPs / (peak x MFU);")
    print(f"  memory = {BYTES_PER_TRAINED_PARAMETER} bytes per trained parameter (fp32 weights, gradients, AdamW) "
          f"+ activations per example x micro-batch,")
    print(f"  activations from this CPU's RSS slope above (under {steps[max(steps)]['precision'] if steps else '?'}); "
          f"the CUDA context (~0.5-1 GB), allocator slack and evaluation not counted.")
    for name, gpu in GPUS.items():
        seconds = flops * effective / (gpu["tflops"] * 1e12 * gpu["mfu"])
        memory = states_gb + activations * recipe.batch_size
        fits = "fits" if memory < gpu["memory_gb"] * 0.9 else "does not fit: lower batch_size, raise grad_accum, or gradient_checkpointing=True"
        print(f"  {name:>20}: peak {gpu['tflops']:.0f} TFLOP/s x MFU {gpu['mfu']:.2f} -> {seconds:.2f} s/step, "
              f"{seconds * 1000 / 60:.0f} min per 1000 steps; memory ~{memory:.1f} GB ({fits})")


if __name__ == "__main__":
    main()
