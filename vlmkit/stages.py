"""The notebooks' handover: each stage starts from the previous stage's checkpoint.

:func:`previous_stage` loads it, or — when it is missing — says so and trains a short
stand-in, so any notebook runs on its own. :func:`record_results` writes a stage's
headline metrics next to its checkpoint, where ``make demo`` collects them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .checkpoint import CheckpointError, load_model, save_checkpoint
from .model import MiniVLM
from .profiles import checkpoint_root, new_model, smoke_mode
from .recipes import shapeworld_stream
from .trainer import TrainConfig, Trainer

STAGES = ("01_captioning", "02_grounding", "03_segmentation", "04_combined")
RESULTS_FILE = "results.json"


def stage_dir(name: str) -> Path:
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; stages are {STAGES}")
    return checkpoint_root() / name


def previous_stage(name: str, stand_in: Callable[[], MiniVLM]) -> MiniVLM:
    """The model saved by stage ``name``; if there is none, ``stand_in()`` with a message."""
    path = stage_dir(name)
    try:
        model = load_model(path)
    except CheckpointError as err:
        print(f"Could not resume from stage {name}: {err}.\n"
              f"Training a short stand-in instead so this notebook runs on its own; run notebook "
              f"{name} first for the real starting point.")
        return stand_in()
    print(f"Resumed from {path} ({model.num_parameters()['total']:,} parameters)")
    return model


def short_captioning_model(profile: str = "tiny", steps: int = 100, **config_overrides) -> MiniVLM:
    """A fresh model with a few captioning steps: the stand-in for a missing stage 01
    (10 steps in CI smoke mode)."""
    steps = min(steps, 10) if smoke_mode() else steps
    model = new_model(profile, **config_overrides)
    Trainer(model, shapeworld_stream("caption", model.codec), TrainConfig(steps=steps, warmup_steps=10)).train()
    return model


def stage_trainer(name: str, model: MiniVLM, stream, config: TrainConfig, evaluate=None) -> Trainer:
    """The Trainer of stage ``name``. It saves to the stage's checkpoint every 5% of its steps
    (unless ``config.save_every`` says otherwise), and when the notebook cell runs again after
    a kernel restart it continues the interrupted run from its last save instead of starting
    over (:meth:`Trainer.resume_if_saved`)."""
    config = replace(config, save_every=config.save_every or max(config.steps // 20, 25))
    trainer = Trainer(model, stream, config, output_dir=stage_dir(name), evaluate=evaluate)
    trainer.resume_if_saved()
    return trainer


def save_stage(model: MiniVLM, name: str, trainer: Trainer | None = None) -> Path:
    """Save the stage's checkpoint (with the trainer's state and history when given)."""
    if trainer is not None:
        return trainer.save(stage_dir(name))
    return save_checkpoint(model, stage_dir(name))


def record_results(name: str, metrics: dict, **extra) -> dict:
    """Write the stage's headline metrics to ``<checkpoint>/results.json`` and return them."""
    record = {"stage": name, "metrics": metrics, **extra}
    path = stage_dir(name)
    path.mkdir(parents=True, exist_ok=True)
    (path / RESULTS_FILE).write_text(json.dumps(record, indent=1, default=float))
    return record


def compare_codecs(model: MiniVLM, formats: tuple[str, ...], steps: int, eval_rows: list[dict], profile: str,
                   batch_size: int = 32, lr: float = 2e-3) -> dict[str, dict]:
    """Train a copy of ``model`` for ``steps`` grounding steps in each codec format and score
    it, unconstrained (only ``loc`` could be constrained, and that would not be fair). Every
    format trains on plain cross-entropy (soft location targets exist only for ``loc``), so
    the format is the one difference."""
    import copy

    from .data import training_stream
    from .evaluate import evaluate_grounding

    results = {}
    for fmt in formats:
        candidate = copy.deepcopy(model)
        candidate.config.codec_format, candidate.config.codec_label_sigma = fmt, 0.0
        stream = training_stream(profile, "ground", candidate.codec, single_object_examples=steps * batch_size)
        trainer = Trainer(candidate, stream, TrainConfig(steps=steps, batch_size=batch_size, lr=lr,
                                                         warmup_steps=min(50, steps // 5)))
        trainer.train()
        scored = evaluate_grounding(candidate, eval_rows, constrained=False, progress=False)
        answer_tokens = len(candidate.tokenizer(stream[0].answer, add_special_tokens=False)["input_ids"])
        results[fmt] = scored["metrics"] | {"answer_tokens": answer_tokens, "minutes": trainer.train_seconds / 60}
    return results
