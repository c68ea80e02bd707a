"""One training loop for every task and both profiles, on ``accelerate``.

``accelerate`` places the model, runs bf16/fp16 autocast (bf16 also on a CPU where it is
faster than fp32; a T4's fp16 reproduced on a CPU: ``vlmkit.train.rounding``),
accumulates gradients, and under ``accelerate launch`` spreads the
work over GPUs or nodes with no change here. Data comes from a :class:`vlmkit.text.tasks.Stream`:
step ``s`` on process ``p`` reads examples at fixed indices, so a resumed run sees exactly
the examples the uninterrupted run would have seen (no sampler state to save), whichever
number of worker processes builds its batches (:mod:`vlmkit.train.batches`). The loss stays
on the device between log steps: the training process does not wait for the GPU after
every micro-batch.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup, get_wsd_schedule

from vlmkit.model import MiniVLM
from vlmkit.model.config import LORA_ALPHA, LORA_TARGETS
from vlmkit.model.lora import add_lora
from vlmkit.storage.checkpoint import (CheckpointError, check_replaceable, load_checkpoint, load_training_state,
                                       rng_state, save_checkpoint, set_rng_state)
from vlmkit.text.processor import Processor
from vlmkit.text.tasks import Stream
from vlmkit.train.batches import MicroBatches, batch_loader
from vlmkit.train.optimizer import build_optimizer
from vlmkit.train.rounding import ROUNDED_PRECISIONS, Rounding


@dataclass(frozen=True)
class TrainConfig:
    """Every number the Trainer trains with; a recipe (:mod:`vlmkit.train.recipes`) extends it."""

    steps: int = 1000
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 2e-3
    weight_decay: float = 0.01
    # "adamw", or "muon": Muon on the hidden weight matrices, at muon_lr_scale x their part's rate,
    # AdamW on the rest (vlmkit.train.optimizer)
    optimizer: str = "adamw"
    muon_lr_scale: float = 1.0
    warmup_steps: int = 50
    # 0: cosine decay from the end of warm-up to the last step. >0: the rate stays at lr until
    # the last decay_steps, which decay it (warmup-stable-decay), so a shorter run is not also
    # a run at a lower rate early on (docs/experiments/shorter_series.md#a-constant-rate-then-a-short-decay)
    decay_steps: int = 0
    max_grad_norm: float = 1.0
    mixed_precision: str = "auto"  # "auto" or one of PRECISIONS: see resolve_mixed_precision
    eval_every: int = 0  # steps; 0 = only at the end
    save_every: int = 0  # steps; 0 = only at the end
    log_every: int = 10
    seed: int = 0
    progress: bool = True
    # For this many steps train on each answer's first token alone. For a box that is x1,
    # where the model decides *which* object: trained on the whole box from the start,
    # teacher-forced y1, x2 and y2 just follow x1 to its object and the model never learns
    # to read the words (docs/experiments/binding.md#binding-probe).
    first_token_steps: int = 0
    # per-part learning rates as shares of lr, which the projector (new, randomly initialised)
    # trains at; pretrained parts want far less (nanoVLM: 5e-5 against the projector's 5e-3).
    # 0 freezes the part (no gradients computed for it).
    vision_lr_scale: float = 1.0
    lm_lr_scale: float = 1.0
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, more time
    # "tokens": the answer as text (every task); "box": the box head regresses grounding boxes
    # (vlmkit.model.box_head; the model needs box_head=True)
    objective: str = "tokens"
    # LoRA adapters on the LM (vlmkit.model.lora): rank 0 = none; the model gets them at the start
    lora_rank: int = 0
    lora_alpha: float = LORA_ALPHA
    lora_targets: str = LORA_TARGETS
    # processes that build micro-batches ahead of the step (vlmkit.train.batches): 0 builds them
    # in the training process (the tiny recipes: on 2 CPU cores a worker competes with the step);
    # a GPU wants a few
    data_workers: int = 0


# Fields that change how or when the run saves, logs and evaluates, or where its batches are
# built, but not the weights it reaches: a resumed run may change these. Any other difference
# makes a different run.
BOOKKEEPING_FIELDS = ("eval_every", "save_every", "log_every", "progress", "data_workers")


def changed_fields(saved: dict, config: TrainConfig) -> dict[str, tuple]:
    """``{field: (saved, now)}`` for the fields, other than bookkeeping, where ``config``
    differs from a saved run's ``asdict(TrainConfig)``; a field added since the run was saved
    counts at its default, which is how that run trained."""
    saved = {f.name: saved.get(f.name, f.default) for f in fields(config)}
    return {f.name: (saved[f.name], getattr(config, f.name)) for f in fields(config)
            if f.name not in BOOKKEEPING_FIELDS and saved[f.name] != getattr(config, f.name)}


# what mixed_precision may name besides "auto"
PRECISIONS = ("no", "bf16", "fp16", *ROUNDED_PRECISIONS)


def resolve_mixed_precision(setting: str) -> tuple[str, str]:
    """``(precision, why)`` with "auto" resolved to the fastest arithmetic here: bf16 on a GPU
    that supports it (Ampere and later); fp16 with loss scaling on an older GPU (Colab's T4:
    accelerate scales the loss so small gradients do not underflow to zero); on a CPU bf16 only
    where it has bf16 instructions (AVX512-BF16 or AMX) *and* bf16 autocast measures faster than
    fp32 there (:func:`cpu_bf16_speedup`: some CPUs that list the instructions run it slower),
    else "no" (fp32). The tiny recipes learn alike in all three since the language model has 16
    heads (docs/experiments/binding.md), so the fastest is the right choice. Losses are computed
    in fp32. "fp16" needs a GPU: accelerate would run it as fp32 on a CPU; there "fp16-rounded"
    stands in for a T4 (fp16's rounding and loss scaling, :mod:`vlmkit.train.rounding`)."""
    if setting != "auto" and setting not in PRECISIONS:
        raise ValueError(f"mixed_precision={setting!r}: choose auto, {', '.join(PRECISIONS)}")
    if setting == "fp16" and not torch.cuda.is_available():
        raise ValueError("mixed_precision='fp16' needs a GPU: on a CPU accelerate would train in fp32 and call it "
                         "fp16. 'fp16-rounded' reproduces a T4's fp16 rounding and loss scaling in fp32 here.")
    if setting != "auto":
        return setting, "as configured"
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        # bf16 in hardware (Ampere on); torch's default also says yes where it only emulates bf16,
        # as on a T4, whose emulated bf16 is slow and has no cuDNN convolutions
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return "bf16", f"{name} supports bf16"
        return "fp16", f"{name} has no bf16 hardware: fp16 with loss scaling"
    if not cpu_has_bf16():
        return "no", "this CPU has no bf16 instructions (bf16 would be emulated, far slower): fp32"
    speedup = cpu_bf16_speedup()
    if speedup >= BF16_MIN_SPEEDUP:
        return "bf16", f"bf16 autocast measured {speedup:.2f}x as fast as fp32 on this CPU"
    return "no", f"this CPU has bf16 instructions, but bf16 autocast measured {speedup:.2f}x as fast as fp32: fp32"


def cpu_has_bf16() -> bool:
    """True if this CPU runs bf16 matrix products natively; without that, bf16 autocast is
    emulated and not expected to beat fp32. (``torch.cpu``'s feature probes are private,
    hence the getattr: a torch without them means fp32, not an error.)"""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


# bf16 must measure this much faster to be chosen: a margin, so that a machine where the two are
# close keeps fp32 (the exact one) rather than flipping between runs with timing noise
BF16_MIN_SPEEDUP = 1.1


@functools.cache
def cpu_bf16_speedup(rows: int = 2048, width: int = 192, rounds: int = 3) -> float:
    """fp32 time over bf16-autocast time of a forward and backward pass through an MLP of the
    tiny LM's shape (``width`` -> 3 x ``width`` -> ``width``, a batch's ``rows`` tokens), best
    of ``rounds`` alternating rounds: > 1 where bf16 is faster. Measured once a process (about
    half a second): matrix products are what bf16 speeds up or slows down
    (docs/experiments/step_profile.md). The global random state is left as it was: timing must
    not change what a caller draws next."""
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):  # the layers' initialisation draws from the global RNG
        mlp = torch.nn.Sequential(torch.nn.Linear(width, 3 * width), torch.nn.SiLU(),
                                  torch.nn.Linear(3 * width, width))
    x = torch.randn(rows, width, generator=generator, requires_grad=True)
    best = {True: math.inf, False: math.inf}
    for _ in range(rounds):
        for bf16 in best:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                mlp(x).float().sum().backward()  # once untimed: the first call pays for setup
            start = time.perf_counter()
            for _ in range(4):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    mlp(x).float().sum().backward()
            best[bf16] = min(best[bf16], time.perf_counter() - start)
    return best[False] / best[True]


def prepare_model(model: MiniVLM, config: TrainConfig, precision: str = "no") -> None:
    """What ``config`` asks of the model before its optimizer exists: LoRA adapters, frozen
    parts (a learning-rate share of 0), gradient checkpointing (in ``precision``, the resolved
    one: an fp16-rounded run's recomputed forward must be rounded as the first was)."""
    for name in ("vision_lr_scale", "lm_lr_scale", "muon_lr_scale"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name} is a share of lr, at least 0; got {getattr(config, name)}")
    if config.objective not in ("tokens", "box"):
        raise ValueError(f"objective={config.objective!r}: choose 'tokens' or 'box'")
    if config.objective == "box" and model.box_head is None:
        raise ValueError("objective='box' trains the box head; build the model with box_head=True")
    if config.lora_rank and not model.config.lm_lora_rank:
        add_lora(model, config.lora_rank, config.lora_alpha, config.lora_targets)
    elif config.lora_rank and (model.config.lm_lora_rank, model.config.lm_lora_targets) != (
            config.lora_rank, config.lora_targets):
        raise ValueError(f"the model has LoRA rank {model.config.lm_lora_rank} on {model.config.lm_lora_targets!r}, "
                         f"the config asks for rank {config.lora_rank} on {config.lora_targets!r}")
    if config.vision_lr_scale == 0:
        model.vision.requires_grad_(False)
    if config.lm_lr_scale == 0:
        model.lm.requires_grad_(False)
    if config.gradient_checkpointing:
        # non-reentrant: works with inputs_embeds and frozen parts (the reentrant variant
        # needs an input that requires grad). The recomputation runs in backward, where a
        # torch function mode entered around the forward is not active: it gets its own.
        kwargs = {"use_reentrant": False}
        if precision in ROUNDED_PRECISIONS:
            kwargs["context_fn"] = lambda: (contextlib.nullcontext(), Rounding(ROUNDED_PRECISIONS[precision]))
        for part in (model.lm, model.vision.vit):
            if hasattr(part, "activation_checkpointing_enable"):  # its name from transformers 5.2x on
                part.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                part.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


class Trainer:
    """Train ``model`` on ``stream``; optionally evaluate with ``evaluate(model) -> dict``
    and save to ``output_dir`` (a checkpoint directory with training state)."""

    def __init__(self, model: MiniVLM, stream: Stream, config: TrainConfig, output_dir: str | Path | None = None,
                 evaluate: Callable[[MiniVLM], dict] | None = None):
        self.config, self.stream, self.evaluate = config, stream, evaluate
        self.output_dir = Path(output_dir) if output_dir else None
        if self.output_dir is not None:
            check_replaceable(self.output_dir)  # refuse now, not after an hour of training
        self.precision, why = resolve_mixed_precision(config.mixed_precision)  # saved with each checkpoint
        # accelerate runs autocast for bf16 and fp16; the rounded precisions are fp32 to accelerate,
        # rounded here around the forward and backward pass of each training step (not
        # evaluation's), fp16-rounded with the loss scaled as accelerate scales fp16's on a GPU
        rounded = ROUNDED_PRECISIONS.get(self.precision)
        self.accelerator = Accelerator(mixed_precision="no" if rounded else self.precision,
                                       gradient_accumulation_steps=config.grad_accum)
        self.rounding = (lambda: Rounding(rounded)) if rounded else contextlib.nullcontext
        self.scaler = torch.amp.GradScaler(self.accelerator.device.type) if rounded == torch.float16 else None
        if config.progress:
            print(f"mixed precision: {self.precision} ({why}); batch {config.batch_size} x {config.grad_accum} "
                  f"accumulated = {config.batch_size * config.grad_accum} per step")
            if config.optimizer == "muon":
                print(f"optimizer: Muon on the hidden weight matrices at {config.muon_lr_scale:g}x the rate, AdamW on "
                      "the rest")
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched > 1 and self.accelerator.num_processes == 1:
            raise RuntimeError(f"launched as {launched} processes (WORLD_SIZE) but accelerate sees one, so each "
                               "would train alone on the same examples; on a CPU set ACCELERATE_USE_CPU=true "
                               "(as `accelerate launch --cpu` does)")
        torch.manual_seed(config.seed)
        self.processor = Processor.for_model(model)
        prepare_model(model, config, self.precision)
        # the parts the model builds new (projector, box head) train at lr; the encoder and the
        # LM at their shares of it
        vision, lm = {id(p) for p in model.vision.parameters()}, {id(p) for p in model.lm.parameters()}
        groups = []
        for lr, belongs in ((config.lr, lambda p: id(p) not in vision and id(p) not in lm),
                            (config.lr * config.vision_lr_scale, lambda p: id(p) in vision),
                            (config.lr * config.lm_lr_scale, lambda p: id(p) in lm)):
            params = [p for p in model.parameters() if p.requires_grad and belongs(p)]
            groups += [{"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay, "lr": lr},
                       {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "lr": lr}]
        optimizer = build_optimizer([g for g in groups if g["params"]], model, config.optimizer, config.lr,
                                    config.muon_lr_scale)
        # Not prepared by accelerate: its wrapper steps once per process, and our schedule
        # counts optimizer steps, which every process takes together.
        if config.decay_steps:
            if config.warmup_steps + config.decay_steps > config.steps:
                raise ValueError(f"warmup_steps ({config.warmup_steps}) + decay_steps ({config.decay_steps}) "
                                 f"exceed steps ({config.steps})")
            self.scheduler = get_wsd_schedule(optimizer, config.warmup_steps, config.decay_steps, config.steps)
        else:
            self.scheduler = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, config.steps)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.batches = MicroBatches(stream, self.processor, config.batch_size, config.steps, config.grad_accum,
                                    self.accelerator.num_processes, self.accelerator.process_index, config.objective,
                                    config.first_token_steps)
        self.step, self.history, self.train_seconds = 0, [], 0.0
        self.saved = (None, -1)  # (directory, step) of the last save
        self._pending = None  # (iterator over micro-batches, the index it yields next), kept between train() calls

    @property
    def unwrapped(self) -> MiniVLM:
        return self.accelerator.unwrap_model(self.model)

    def next_batch(self, index: int) -> dict[str, torch.Tensor]:
        """Micro-batch ``index`` (:class:`vlmkit.train.batches.MicroBatches`), on the device. The
        iterator (and its worker processes) lives on across :meth:`train` calls that continue
        one another; a run moved to another step (:meth:`resume`), or an iterator that failed,
        gets a new one from ``index`` on."""
        if self._pending is None or self._pending[1] != index:
            loader = batch_loader(self.batches, index, self.config.data_workers,
                                  pin_memory=self.accelerator.device.type == "cuda")
            self._pending = (iter(loader), index)
        iterator = self._pending[0]
        self._pending = None  # until the batch arrives: a failed fetch leaves no iterator to trust
        batch = next(iterator)
        self._pending = (iterator, index + 1)
        return {k: v.to(self.accelerator.device, non_blocking=True) for k, v in batch.items()}

    def differences(self, state: dict) -> dict[str, tuple]:
        """``{name: (saved, now)}`` where this run differs from the saved run of training
        ``state``: its TrainConfig fields, and the precision it trained in. "auto" may resolve
        differently on another machine (:func:`resolve_mixed_precision`), so the precision the
        saved run resolved is compared, not the setting, where the checkpoint records it."""
        changed = changed_fields(state["train_config"], self.config)
        if "precision" in state:
            changed.pop("mixed_precision", None)
            if state["precision"] != self.precision:
                changed["precision"] = (state["precision"], self.precision)
        return changed

    def resume(self, directory: str | Path) -> None:
        """Continue the run saved in ``directory`` exactly: weights, optimizer, schedule, RNG, step.

        The run must have been saved with this ``TrainConfig`` (bookkeeping fields such as
        ``eval_every`` aside) and in this precision: resuming with another learning rate, batch,
        step count or arithmetic would silently be a different run, so it raises
        ``ValueError`` naming the differences (:meth:`differences`)."""
        saved, state = load_checkpoint(directory)
        changed = self.differences(state)
        if changed:
            listed = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items())
            hint = (" ('auto' chooses by this machine: set mixed_precision to the saved precision to resume here)"
                    if "precision" in changed and self.config.mixed_precision == "auto" else "")
            raise ValueError(f"{directory} was saved by a run with another TrainConfig ({listed}){hint}; resume "
                             f"with the saved config, or start a new stage from its weights with load_model")
        self.unwrapped.load_state_dict(saved.state_dict())
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.step, self.history, self.train_seconds = state["step"], state["history"], state["train_seconds"]

    def resume_if_saved(self) -> bool:
        """Continue from ``output_dir`` if it holds an unfinished save of this same run (what a
        notebook cell does when it is run again after a kernel restart); otherwise start from
        the beginning. Says which, and returns True if it resumed."""
        if self.output_dir is None:
            raise ValueError("resume_if_saved needs the Trainer's output_dir")
        try:
            state = load_training_state(self.output_dir)  # the step and config decide; weights load in resume
        except CheckpointError:
            return False  # nothing saved there (or no training state): a fresh run
        changed = self.differences(state)
        if changed or state["step"] >= self.config.steps:
            why = f"its TrainConfig differs in {sorted(changed)}" if changed else "that run had finished"
            print(f"Not resuming from {self.output_dir}: {why}. Training from step 0; the first save replaces it.")
            return False
        self.resume(self.output_dir)
        print(f"Resumed the interrupted run saved in {self.output_dir} at step {self.step} of {self.config.steps}.")
        return True

    def save(self, directory: str | Path | None = None) -> Path:
        state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "rng": rng_state(), "step": self.step, "history": self.history, "train_seconds": self.train_seconds,
                 "train_config": asdict(self.config), "precision": self.precision}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        target = Path(directory) if directory else self.output_dir
        if target is None:
            raise ValueError("no directory to save to: pass one or set output_dir")
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            save_checkpoint(self.unwrapped, target, state,
                            companions={"history.json": json.dumps(self.history, indent=1)})
        self.saved = (target, self.step)
        return target

    def run_evaluation(self) -> None:
        """Evaluate now and append the metrics to the history (no-op without an evaluate function).
        With several processes the main one evaluates (it alone saves) and the others wait."""
        if self.evaluate is None:
            return
        if self.accelerator.is_main_process:
            self.model.eval()
            metrics = self.evaluate(self.unwrapped)
            self.model.train()
            self.history.append({"step": self.step, "train_seconds": self.train_seconds, **metrics})
        self.accelerator.wait_for_everyone()

    def backward_and_step(self, loss: torch.Tensor) -> bool:
        """Gradients of one micro-batch; at the last of a step, clipped and applied. With loss
        scaling (fp16-rounded) the scaler unscales before clipping and skips a step whose
        gradients overflowed, halving the scale, as accelerate does for fp16 on a GPU. Returns
        whether the weights were updated: the schedule moves on only then (as accelerate's own
        scheduler wrapper would), so fp16 on a GPU and fp16-rounded here follow one schedule."""
        c, sync = self.config, self.accelerator.sync_gradients
        if self.scaler is None:  # accelerate's own path (its scaler too, for fp16 on a GPU)
            self.accelerator.backward(loss)
            if sync and c.max_grad_norm:
                self.accelerator.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
            self.optimizer.step()  # a no-op until the last micro-batch of the step
            return sync and not self.optimizer.step_was_skipped
        self.scaler.scale(loss / c.grad_accum).backward()
        if not sync:
            return False
        self.scaler.unscale_(self.optimizer.optimizer)
        if c.max_grad_norm:
            self.accelerator.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
        scale = self.scaler.get_scale()
        self.scaler.step(self.optimizer.optimizer)
        self.scaler.update()
        return self.scaler.get_scale() >= scale  # lowered: the gradients overflowed, the step was skipped

    def train(self, until_step: int | None = None) -> list[dict]:
        """Train to ``until_step`` (default: ``config.steps``); returns the history.

        Stopping early and calling :meth:`save`, then :meth:`resume` in a new Trainer and
        training on, ends with the same weights as one uninterrupted run.
        """
        c = self.config
        end = min(until_step or c.steps, c.steps)
        self.model.train()
        bar = tqdm(total=end, initial=self.step, desc="training", disable=not c.progress or end <= self.step)
        # the micro-batch losses since the last log, summed on the device: read (a wait for
        # the GPU) only at log, evaluation and save steps
        total, count, since = torch.zeros((), device=self.accelerator.device), 0, self.step
        while self.step < end:
            step_start = time.perf_counter()
            for micro in range(c.grad_accum):
                batch = self.next_batch(self.batches.index(self.step, micro))
                with self.accelerator.accumulate(self.model):
                    with self.rounding():  # rounds the backward too (vlmkit.train.rounding)
                        loss = self.model(**batch).loss
                    if self.backward_and_step(loss):
                        self.scheduler.step()
                    self.optimizer.zero_grad()
                total += loss.detach().float()
                count += 1
            self.step += 1
            self.train_seconds += time.perf_counter() - step_start
            log_now = self.step % c.log_every == 0 or self.step == end
            evaluate_now = self.step == c.steps or (c.eval_every and self.step % c.eval_every == 0)
            save_now = c.save_every and self.step % c.save_every == 0 and self.output_dir and self.step < end
            if log_now or evaluate_now or save_now:
                mean = self.mean_loss(total / count, since)  # checked finite before anything is saved
            if log_now:
                self.history.append({"step": self.step, "loss": mean, "lr": self.scheduler.get_last_lr()[0],
                                     "train_seconds": self.train_seconds})
                bar.set_postfix(loss=f"{mean:.3f}")
                total, count, since = torch.zeros_like(total), 0, self.step
            bar.update(1)
            # periodic work depends on the step alone, so a resumed run does exactly what an
            # uninterrupted one does; the last step is evaluated once
            if evaluate_now:
                self.run_evaluation()
            if save_now:
                self.save()
        bar.close()
        if self.step == c.steps:
            self._pending = None  # the run is over: its workers may go
        if self.output_dir:
            self.save()
        return self.history

    def mean_loss(self, mean: torch.Tensor, since: int) -> float:
        """The mean training loss of the steps after ``since``, over every process; a loss
        that is not finite ends training."""
        value = self.accelerator.reduce(mean, reduction="mean").item()
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss became {value} between step {since} and step {self.step}; lower "
                                     f"the learning rate")
        return value
