"""What a tiny-profile grounding step costs on this machine, variant by variant, in alternating rounds.

What a tiny-profile grounding step costs on this machine: variants of the config, dynamic
padding against the source tutorial's fixed padding, and how the cost grows with batch and length.

    python benchmarks/training_speed.py [--sections variants padding scaling optimizer precision] [--variants lm_heads=4]
    python benchmarks/training_speed.py --sections compile    # opt-in: 2-2.5 minutes compiling, cold

A variant is a set of ``VLMConfig`` overrides (``name=value``, several joined by commas);
the tiny config itself is always timed first. Each round times ``--steps`` steps of each
setting in turn, after ``--warmup`` untimed ones: the speed of a shared machine drifts over
minutes, so settings timed one after the other would differ by the drift. Building one batch
(scenes, text, tokens: part of every step, the same for every variant) is timed on its own.

``padding``: the same model and examples, each batch padded to its longest sequence (vlmkit's
processor) or to 384 tokens (what the tutorial this project grew from does), timed in
alternating rounds, as samples a second and their ratio. ``scaling``: milliseconds a step and
samples a second at batch 8, 32, 64 and 128 (dynamic padding), and at batch 32 padded to 64,
128, 256 and 384 tokens, so a learner sees what a bigger machine buys. ``optimizer``: torch's
three AdamW implementations (the for-loop the Trainer uses, ``foreach``, ``fused``) and Muon on
the hidden matrices with AdamW on the rest (``optimizer="muon"``) from the same weights on the
same batches: the optimizer step alone (the steady number: whole steps drift between rounds by
more than the optimizer's share), whole steps in alternating rounds, and whether the AdamW
weights afterwards equal the for-loop's bit for bit (the demo's runs repeat to the digit only if
they do). ``precision``: bf16 autocast, fp32 rounded as fp16 autocast
rounds (``vlmkit.train.rounding``, a T4's stand-in) and plain fp32, in alternating rounds, and what
``mixed_precision="auto"`` chooses on this CPU. ``compile`` (not run by default): the model
eager against ``torch.compile(model)`` (inductor unless ``--compile-backend``), the same weights
and batches, alternating rounds, and the seconds that compiling and the first steps took. All
but ``variants`` time the model's step alone (forward, backward, AdamW) on batches built
beforehand, under the precision the Trainer's "auto" would choose here (``precision``: under
each).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time

import numpy as np
import torch
import torch.nn.functional as F

from vlmkit.text.processor import IGNORE_INDEX, Processor
from vlmkit.train.rounding import Rounding
from vlmkit.train.profiles import new_model
from vlmkit.train.optimizer import build_optimizer
from vlmkit.train.recipes import parse_assignments
from vlmkit.train.streams import multi_object_world, shapeworld_stream
from vlmkit.train.trainer import TrainConfig, Trainer, resolve_mixed_precision

TUTORIAL_LENGTH = 384  # the source tutorial pads every training example to this many tokens
ADAMW = {"for-loop (Trainer)": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}
MUON = "Muon + AdamW"  # TrainConfig(optimizer="muon"): a different update, so its weights are not compared
PRECISIONS = {"bf16 autocast": "bf16", "fp16-rounded fp32": "fp16-rounded", "fp32": "no"}  # name -> Trainer's
ARITHMETIC = {"bf16": lambda: torch.autocast("cpu", dtype=torch.bfloat16), "fp16-rounded": lambda: Rounding(torch.float16),
              "no": contextlib.nullcontext}  # what the Trainer runs a forward pass in, on a CPU


def parse_overrides(variant: str) -> dict:
    """``"lm_heads=8,vit_layers=2"`` -> ``{"lm_heads": 8, "vit_layers": 2}`` (values read as by
    :func:`vlmkit.train.recipes.parse_assignments`)."""
    return parse_assignments([item for item in variant.split(",") if item])


def padded_to(batch: dict[str, torch.Tensor], length: int, pad_id: int) -> dict[str, torch.Tensor]:
    """``batch`` padded on the right to ``length`` tokens: padding ids, attention mask 0, labels ignored."""
    extra = length - batch["input_ids"].shape[1]
    if extra < 0:
        raise ValueError(f"the batch is {batch['input_ids'].shape[1]} tokens long, more than {length}")
    fill = {"input_ids": pad_id, "attention_mask": 0, "labels": IGNORE_INDEX}
    return {k: F.pad(v, (0, extra), value=fill[k]) if k in fill else v for k, v in batch.items()}


def step_ms(model, batches: list[dict], steps: int, optimizer: torch.optim.Optimizer | None = None,
            precision: str | None = None) -> float:
    """Milliseconds of one training step (forward, backward, AdamW), over ``steps`` steps that
    cycle through ``batches``, in ``precision`` (a key of ARITHMETIC); by default the one the
    Trainer's "auto" chooses on this CPU (bf16 where it measures faster than fp32, else fp32)."""
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=5e-4)
    precision = precision or resolve_mixed_precision("auto")[0]
    model.train()
    start = time.perf_counter()
    for i in range(steps):
        with ARITHMETIC[precision]():
            loss = model(**batches[i % len(batches)]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return 1000 * (time.perf_counter() - start) / steps


def time_variants(args, stream) -> None:
    settings = {"tiny": {}} | {v: parse_overrides(v) for v in args.variants}
    models = {name: new_model("tiny", **overrides) for name, overrides in settings.items()}
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


def batches_of(stream, processor, batch_size: int, count: int) -> list[dict]:
    return [processor.training_batch([stream[i] for i in range(b * batch_size, (b + 1) * batch_size)])
            for b in range(count)]


def time_padding(args, stream) -> None:
    # a position table long enough for the tutorial's 384 tokens (rotary positions: no parameters)
    model = new_model("tiny", lm_max_positions=512)
    processor = Processor.for_model(model)
    dynamic = batches_of(stream, processor, args.batch_size, 8)
    fixed = [padded_to(b, TUTORIAL_LENGTH, model.tokenizer.pad_token_id) for b in dynamic]
    step_ms(model, dynamic, args.warmup)
    rounds = {"dynamic": [], "fixed": []}
    for _ in range(args.rounds):
        rounds["dynamic"].append(step_ms(model, dynamic, args.padding_steps))
        rounds["fixed"].append(step_ms(model, fixed, args.padding_steps))
    length = np.mean([b["input_ids"].shape[1] for b in dynamic])
    per_second = {k: 1000 * args.batch_size / np.mean(v) for k, v in rounds.items()}
    for name, label in (("dynamic", f"padded to the longest in the batch ({length:.0f} tokens on average)"),
                        ("fixed", f"padded to {TUTORIAL_LENGTH} tokens (the tutorial)")):
        ms = " ".join(f"{m:.0f}" for m in rounds[name])
        print(f"  {label:<58}: {per_second[name]:7.1f} samples/s ({np.mean(rounds[name]):.0f} ms a step; rounds {ms})")
    print(f"  dynamic padding trains {per_second['dynamic'] / per_second['fixed']:.1f}x as many samples a second")


def time_scaling(args, stream) -> None:
    model = new_model("tiny", lm_max_positions=512)
    processor = Processor.for_model(model)
    step_ms(model, batches_of(stream, processor, 32, 2), args.warmup)
    print(f"  {'batch':>5} | {'tokens':>6} | {'ms a step':>9} | samples/s")
    for batch_size in (8, 32, 64, 128):
        batches = batches_of(stream, processor, batch_size, 4)
        ms = step_ms(model, batches, args.padding_steps)
        tokens = np.mean([b["input_ids"].shape[1] for b in batches])
        print(f"  {batch_size:>5} | {tokens:>6.0f} | {ms:>9.0f} | {1000 * batch_size / ms:9.1f}")
    base = batches_of(stream, processor, 32, 4)
    for length in (64, 128, 256, TUTORIAL_LENGTH):
        ms = step_ms(model, [padded_to(b, length, model.tokenizer.pad_token_id) for b in base], args.padding_steps)
        print(f"  {32:>5} | {length:>6} | {ms:>9.0f} | {1000 * 32 / ms:9.1f}")


def make_optimizer(name: str, model) -> torch.optim.Optimizer:
    """One of the contenders of the ``optimizer`` section (a key of ADAMW, or MUON) over ``model``."""
    if name == MUON:
        groups = [{"params": list(model.parameters()), "lr": 5e-4, "weight_decay": 0.01}]
        return build_optimizer(groups, model, "muon", lr=5e-4, muon_lr_scale=2.0)
    return torch.optim.AdamW(model.parameters(), lr=5e-4, **ADAMW[name])


def time_optimizers(args, stream) -> None:
    start = new_model("tiny")
    batches = batches_of(stream, Processor.for_model(start), args.batch_size, 8)
    names = [*ADAMW, MUON]
    models = {name: copy.deepcopy(start) for name in names}
    optimizers = {name: make_optimizer(name, models[name]) for name in names}
    alone = {}
    for name in names:  # on a copy, so the timed models stay in step
        model = copy.deepcopy(start)
        optimizer = make_optimizer(name, model)
        model(**batches[0]).loss.backward()
        optimizer.step()
        begin = time.perf_counter()
        for _ in range(args.padding_steps):
            optimizer.step()
        alone[name] = 1000 * (time.perf_counter() - begin) / args.padding_steps
    rounds = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            rounds[name].append(step_ms(models[name], batches, args.padding_steps, optimizers[name]))
    weights = {name: torch.cat([p.detach().flatten() for p in m.parameters()]) for name, m in models.items()}
    reference = weights[next(iter(ADAMW))]
    steps = args.rounds * args.padding_steps
    for name, ms in rounds.items():
        gap = (weights[name] - reference).abs().max().item()
        same = ("another update" if name == MUON else
                "identical to the for-loop's" if gap == 0 else f"up to {gap:.1e} from the for-loop's")
        print(f"  {name:<18}: optimizer step {alone[name]:5.2f} ms; whole step {np.mean(ms):5.1f} ms (rounds "
              f"{' '.join(f'{m:.0f}' for m in ms)}); weights after {steps} steps {same}")


def time_precision(args, stream) -> None:
    """bf16 autocast, fp16-rounded fp32 and fp32 from the same weights on the same batches, in
    alternating rounds: whether the precision "auto" picks is the fastest here (its probe times
    an MLP, not the model; measured per machine: docs/experiments/arithmetic.md)."""
    start = new_model("tiny")
    batches = batches_of(stream, Processor.for_model(start), args.batch_size, 8)
    models = {name: copy.deepcopy(start) for name in PRECISIONS}
    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=5e-4) for name, model in models.items()}
    for name, model in models.items():
        step_ms(model, batches, args.warmup, optimizers[name], precision=PRECISIONS[name])
    rounds = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            rounds[name].append(step_ms(model, batches, args.padding_steps, optimizers[name],
                                        precision=PRECISIONS[name]))
    for name, ms in rounds.items():
        print(f"  {name:<17}: {np.mean(ms):6.1f} ms a step (rounds {' '.join(f'{m:.0f}' for m in ms)})")
    chosen, why = resolve_mixed_precision("auto")
    ratios = ", ".join(f"{name} {np.mean(rounds[name]) / np.mean(rounds['fp32']):.2f}x" for name in rounds if name != "fp32")
    print(f"  the time of fp32 here: {ratios}; mixed_precision='auto' chooses {chosen} ({why})")


def time_compile(args, stream) -> None:
    """The eager model against ``torch.compile`` of it, from the same weights on the same batches
    (several sequence lengths, as dynamic padding gives), in alternating rounds after the compiled
    model's warm-up, which includes compiling. Why it is not in the Trainer:
    docs/experiments/step_profile.md#torchcompile-faster-steps-not-adopted.
    In the precision "auto" chooses here (torch 2.13's dynamo cannot run the model under
    :class:`vlmkit.train.rounding.Rounding`, a ``TorchFunctionMode``: its resumed frames are called
    with wrong arguments, ``TypeError: to() received ... (torch.Size)``; "auto" never rounds)."""
    precision, why = resolve_mixed_precision("auto")
    start = new_model("tiny")
    batches = batches_of(stream, Processor.for_model(start), args.batch_size, 8)
    eager, compiled = copy.deepcopy(start), copy.deepcopy(start)
    optimizers = {"eager": torch.optim.AdamW(eager.parameters(), lr=5e-4),
                  "compiled": torch.optim.AdamW(compiled.parameters(), lr=5e-4)}
    models = {"eager": eager, "compiled": torch.compile(compiled, backend=args.compile_backend)}
    warmup = max(args.warmup, len(batches))  # every batch's length compiled before timing
    begin = time.perf_counter()
    # torch 2.13's AOTAutograd cache, once warm from an earlier run, replays this model's graphs
    # with garbage shapes ("invalid shape dimension -6557..."): compile afresh every run
    with torch._functorch.config.patch(enable_autograd_cache=False):
        step_ms(models["compiled"], batches, warmup, optimizers["compiled"], precision)
    warmup_s = time.perf_counter() - begin
    step_ms(eager, batches, warmup, optimizers["eager"], precision)
    rounds = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            rounds[name].append(step_ms(model, batches, args.padding_steps, optimizers[name], precision))
    lengths = sorted({b["input_ids"].shape[1] for b in batches})
    print(f"  compiling ({args.compile_backend}) and the first {warmup} steps: {warmup_s:.1f} s "
          f"(sequence lengths {lengths}; {precision}: {why})")
    for name, ms in rounds.items():
        print(f"  {name:<8}: {np.mean(ms):6.1f} ms a step (rounds {' '.join(f'{m:.0f}' for m in ms)})")
    print(f"  compiled steps take {np.mean(rounds['compiled']) / np.mean(rounds['eager']):.2f}x the eager time")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sections", nargs="+", choices=("variants", "padding", "scaling", "optimizer", "precision", "compile"),
                   default=["variants", "padding", "scaling", "optimizer", "precision"])
    p.add_argument("--variants", nargs="*", default=["vit_layers=4"], help="VLMConfig overrides to time")
    p.add_argument("--steps", type=int, default=200, help="timed Trainer steps per variant and round")
    p.add_argument("--padding-steps", type=int, default=20, help="timed steps per setting in padding and scaling")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend for the compile section")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tiny = new_model("tiny")
    stream = shapeworld_stream("ground", tiny.codec, multi_object_world(), examples_per_scene=2)
    start = time.perf_counter()
    batches_of(stream, Processor.for_model(tiny), args.batch_size, 20)
    print(f"building one batch of {args.batch_size}: {1000 * (time.perf_counter() - start) / 20:.1f} ms")
    if "variants" in args.sections:
        print("Trainer steps (batch building included), the tiny config and variants:")
        time_variants(args, stream)
    if "padding" in args.sections:
        print(f"model steps, batch {args.batch_size}, dynamic padding against the tutorial's fixed padding:")
        time_padding(args, stream)
    if "scaling" in args.sections:
        print("model steps, by batch size (dynamic padding) and by padded length (batch 32):")
        time_scaling(args, stream)
    if "optimizer" in args.sections:
        print(f"AdamW implementations and Muon, batch {args.batch_size}, the same start and batches:")
        time_optimizers(args, stream)
    if "precision" in args.sections:
        print(f"bf16 autocast, fp16-rounded fp32 and fp32, batch {args.batch_size}, the same start and batches:")
        time_precision(args, stream)
    if "compile" in args.sections:
        print(f"eager against torch.compile, batch {args.batch_size}, the same start and batches:")
        time_compile(args, stream)


if __name__ == "__main__":
    main()
