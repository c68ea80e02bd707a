"""Checkpoints as directories, written atomically.

A checkpoint directory holds::

    config.json          the VLMConfig (with both parts' Hugging Face configs: reloads offline)
    model.safetensors    the weights
    tokenizer.json ...   the tokenizer (save_pretrained files)
    training_state.pt    optional: optimizer, scheduler, step, RNG states, history

Two ways to load: :func:`load_model` starts a new stage from the weights (the notebooks'
handover); :func:`load_training_state` continues the same run exactly.

Writing goes to a temporary sibling directory that replaces the old checkpoint only
once complete, so an interrupted save never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_model as load_safetensors
from safetensors.torch import save_model as save_safetensors
from transformers import AutoTokenizer

from .model import MiniVLM, VLMConfig

CONFIG_FILE, WEIGHTS_FILE, STATE_FILE = "config.json", "model.safetensors", "training_state.pt"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, "tokenizer_config.json")


class CheckpointError(RuntimeError):
    """A checkpoint directory that is missing, incomplete or does not fit the model."""


def save_checkpoint(model: MiniVLM, directory: str | Path, training_state: dict | None = None) -> Path:
    """Write ``model`` (and optionally ``training_state``) to ``directory`` atomically."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        (tmp / CONFIG_FILE).write_text(json.dumps(model.config.to_dict(), indent=2))
        save_safetensors(_unwrap(model), str(tmp / WEIGHTS_FILE))
        model.tokenizer.save_pretrained(tmp)
        if training_state is not None:
            torch.save(training_state, tmp / STATE_FILE)
        _replace_directory(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _replace_directory(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``: rename the old one aside, rename the new in, delete the old.
    If the process dies between the two renames, :func:`_resolve` finds the old one."""
    backup = target.with_name(f".{target.name}.old")
    if backup.exists():
        shutil.rmtree(backup)
    if target.exists():
        os.replace(target, backup)
    os.replace(new, target)
    shutil.rmtree(backup, ignore_errors=True)


def _resolve(directory: Path) -> Path:
    backup = directory.with_name(f".{directory.name}.old")
    if not directory.exists() and backup.exists():
        return backup  # a save died between its two renames: the previous checkpoint is intact here
    return directory


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """Strip torch.compile's wrapper (its ``_orig_mod.`` prefix) before saving."""
    return getattr(model, "_orig_mod", model)


def check_checkpoint(directory: str | Path) -> Path:
    """The directory to read, or :class:`CheckpointError` naming what is missing."""
    directory = _resolve(Path(directory))
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint at {directory}")
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {directory} is incomplete: missing {', '.join(missing)}")
    return directory


def load_model(directory: str | Path) -> MiniVLM:
    """A MiniVLM with the weights of ``directory``, built offline from its config."""
    directory = check_checkpoint(directory)
    try:
        config = VLMConfig.from_dict(json.loads((directory / CONFIG_FILE).read_text()))
    except (json.JSONDecodeError, ValueError, TypeError) as err:
        raise CheckpointError(f"{directory / CONFIG_FILE} is not a valid vlmkit config: {err}") from err
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = MiniVLM(config, tokenizer)
    try:
        missing, unexpected = load_safetensors(model, str(directory / WEIGHTS_FILE), strict=False)
    except (SafetensorError, RuntimeError, OSError) as err:
        raise CheckpointError(f"cannot load weights from {directory / WEIGHTS_FILE}: {err}") from err
    if missing or unexpected:
        raise CheckpointError(f"weights in {directory / WEIGHTS_FILE} do not fit the config: "
                              f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    return model


def load_training_state(directory: str | Path) -> dict:
    """The training state saved with a checkpoint (to continue the same run)."""
    path = check_checkpoint(directory) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{path.parent} has weights but no {STATE_FILE}: it can start a new stage "
                              f"(load_model) but not resume a run")
    return torch.load(path, weights_only=False)


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
