"""Profiles: the one switch between the embedded default and the full world.

* ``tiny`` (default): CPU, offline. ShapeWorld data, a MiniVLM built from a config,
  a word-level tokenizer built on the spot. Runs anywhere in minutes.
* ``full``: GPU and internet. A pretrained ViT and SmolLM2 from the Hugging Face Hub,
  RefCOCO/COCO data you downloaded (see the README's GPU recipe).

Switch with the environment variable ``VLMKIT_PROFILE=full`` or the ``profile``
parameter of a notebook. Everything else — classes, training loop, metrics — is shared.
"""

from __future__ import annotations

import os
from pathlib import Path

from .codecs import Codec
from .model import PRESETS, MiniVLM
from .shapeworld.language import vocabulary
from .tasks import PROMPTS
from .tokenizer import build_word_tokenizer, load_pretrained_tokenizer

PROFILE_ENV, SMOKE_ENV, CHECKPOINT_ENV = "VLMKIT_PROFILE", "VLMKIT_SMOKE", "VLMKIT_CHECKPOINT_DIR"
DESCRIPTIONS = {
    "tiny": "tiny: CPU, offline, ShapeWorld, a MiniVLM built from a config",
    "full": "full: GPU + internet, google/vit-base-patch16-224 + HuggingFaceTB/SmolLM2-135M, RefCOCO/COCO",
}


def profile_name(name: str | None = None, announce: bool = True) -> str:
    """The profile to use: ``name``, else ``$VLMKIT_PROFILE``, else ``tiny``; printed."""
    chosen = (name or os.environ.get(PROFILE_ENV) or "tiny").strip().lower()
    if chosen not in DESCRIPTIONS:
        raise ValueError(f"unknown profile {chosen!r}; choose one of {sorted(DESCRIPTIONS)} "
                         f"(set {PROFILE_ENV} or the notebook's 'profile' parameter)")
    if announce:
        smoke = " [CI smoke sizes]" if smoke_mode() else ""
        print(f"vlmkit profile -> {DESCRIPTIONS[chosen]}{smoke}  (switch: {PROFILE_ENV}=tiny|full)")
    return chosen


def smoke_mode() -> bool:
    """True in CI's notebook runs (``VLMKIT_SMOKE=1``): notebooks shrink their step counts."""
    return os.environ.get(SMOKE_ENV, "").strip() not in ("", "0", "false", "no")


def tiny_tokenizer(num_bins: int):
    """The offline word-level tokenizer: ShapeWorld words, task prompts, every codec token."""
    return build_word_tokenizer([*vocabulary(), *PROMPTS.values()], num_bins)


def new_model(profile: str = "tiny", **config_overrides) -> MiniVLM:
    """A fresh MiniVLM for ``profile`` (config fields can be overridden by keyword)."""
    config = PRESETS[profile](**config_overrides)
    codec = Codec(config.codec_format, config.codec_bins)
    tokenizer = tiny_tokenizer(config.codec_bins) if profile == "tiny" else \
        load_pretrained_tokenizer(config.lm_pretrained, codec)
    return MiniVLM(config, tokenizer)


def checkpoint_root() -> Path:
    """Where notebooks keep checkpoints: ``$VLMKIT_CHECKPOINT_DIR``, else the ``checkpoints/``
    folder of the repository the current directory is in, else ``./checkpoints``."""
    if os.environ.get(CHECKPOINT_ENV):
        return Path(os.environ[CHECKPOINT_ENV]).expanduser().resolve()
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "checkpoints" / "README.md").is_file() and (folder / "vlmkit").is_dir():
            return folder / "checkpoints"
    return Path.cwd() / "checkpoints"
