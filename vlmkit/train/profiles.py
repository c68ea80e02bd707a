"""Profiles: the one switch between the embedded default and the full world, as an object.

* ``tiny`` (default): CPU, offline. ShapeWorld data, a MiniVLM built from a config, a
  word-level tokenizer built on the spot. Runs anywhere in minutes.
* ``full``: GPU and internet. A pretrained SigLIP ViT-B/16 and SmolLM2-135M from the
  Hugging Face Hub, RefCOCO/COCO data you downloaded (``docs/gpu.md``). ``random_init=True``
  builds the same architectures offline with random weights (for cost and code checks);
  ``lm_gguf=path`` reads the language model and its tokenizer from a local GGUF file.

A :class:`Profile` holds everything that differs between the two: the model config and
tokenizer, the training streams and evaluation rows, the codec, the recipes. Code that
uses it never asks which profile it has; everything else (classes, training loop, metrics)
is shared. Choose with :func:`load_profile` (``$VLMKIT_PROFILE`` or a notebook's
``profile`` parameter). The environment switches (``VLMKIT_PROFILE``, ``VLMKIT_SMOKE``,
``VLMKIT_CHECKPOINT_DIR``, ``VLMKIT_DATA``) are all read in this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from vlmkit.data.shapeworld import ShapeWorld
from vlmkit.data.shapeworld.language import vocabulary
from vlmkit.data.sources import full_rows
from vlmkit.model import MiniVLM, VLMConfig
from vlmkit.model.config import full_config, tiny_config
from vlmkit.text.codecs import Codec
from vlmkit.text.tasks import OBJECT_TASKS, PROMPTS, MixtureStream, Stream
from vlmkit.text.tokenizer import (build_word_tokenizer, load_gguf_tokenizer, load_pretrained_tokenizer,
                                   standin_tokenizer)
from vlmkit.train.recipes import Recipe, recipe_for
from vlmkit.train.streams import curriculum_stream, multi_object_world, shapeworld_stream, stored_stream

# words the stand-in tokenizer's merges are learned from, besides ShapeWorld's and the prompts
COCO_CATEGORY_WORDS = ("person", "bicycle", "car", "dog", "cat", "horse", "bus", "train", "table", "chair", "man",
                       "woman", "left", "right", "front", "back", "white", "black", "red", "blue", "green")

PROFILE_ENV, SMOKE_ENV, CHECKPOINT_ENV, DATA_ENV = "VLMKIT_PROFILE", "VLMKIT_SMOKE", "VLMKIT_CHECKPOINT_DIR", "VLMKIT_DATA"


def smoke_mode() -> bool:
    """True in CI's notebook runs (``VLMKIT_SMOKE=1``): recipes shrink to CI sizes."""
    return os.environ.get(SMOKE_ENV, "").strip() not in ("", "0", "false", "no")


def data_root() -> Path:
    """Where the full profile's data lives: ``$VLMKIT_DATA``, else ``data/``."""
    return Path(os.environ.get(DATA_ENV, "data")).expanduser()


def checkpoint_root() -> Path:
    """Where notebooks keep checkpoints: ``$VLMKIT_CHECKPOINT_DIR``, else the ``checkpoints/``
    folder of the repository the current directory is in, else ``./checkpoints``."""
    if os.environ.get(CHECKPOINT_ENV):
        return Path(os.environ[CHECKPOINT_ENV]).expanduser().resolve()
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "checkpoints" / "README.md").is_file() and (folder / "vlmkit").is_dir():
            return folder / "checkpoints"
    return Path.cwd() / "checkpoints"


def tiny_tokenizer(num_bins: int):
    """The offline word-level tokenizer: ShapeWorld words, task prompts, every codec token."""
    return build_word_tokenizer([*vocabulary(), *PROMPTS.values()], num_bins)


@dataclass(frozen=True)
class Profile:
    """What differs between the tiny and the full world; see the module doc."""

    name: str
    description: str
    eval_splits: tuple[str, ...]

    def config(self, **overrides) -> VLMConfig:
        raise NotImplementedError

    def tokenizer(self, config: VLMConfig):
        raise NotImplementedError

    def new_model(self, **config_overrides) -> MiniVLM:
        """A fresh MiniVLM (config fields can be overridden by keyword)."""
        config = self.config(**config_overrides)
        return MiniVLM(config, self.tokenizer(config))

    def codec(self, fmt: str | None = None) -> Codec:
        """The codec of this profile's model config, in ``fmt`` (default: the config's)."""
        config = self.config()
        return Codec(fmt or config.codec_format, config.codec_bins)

    def recipe(self, stage: str, quick: bool = False, **overrides) -> Recipe:
        """The training recipe of ``stage`` (the quick one with ``quick``), at CI sizes in smoke
        mode (:mod:`vlmkit.train.recipes`)."""
        return recipe_for(stage, self.name, smoke=smoke_mode(), quick=quick, **overrides)

    def training_stream(self, task: str, codec: Codec, recipe: Recipe | None = None, seed: int = 0,
                        single_object_examples: int | None = None, scenes: int | None = None) -> Stream:
        """Training examples of ``task`` shaped by ``recipe`` (curricula where the data has them).
        ``scenes``: distinct generated scenes reused in turn (default: the recipe's, else none)."""
        raise NotImplementedError

    def evaluation_rows(self, task: str, split: str = "val", count: int = 300,
                        max_objects: int | None = None) -> list[dict]:
        """The first ``count`` held-out rows of ``split``."""
        raise NotImplementedError

    def mixture_stream(self, weights: dict[str, float], codec: Codec, seed: int = 0, scenes: int = 0) -> Stream:
        """Examples of several tasks, task ``t`` drawn with probability proportional to ``weights[t]``.
        With ``scenes`` > 0 each task's stream reuses that many distinct generated scenes."""
        streams = [self.training_stream(task, codec, seed=seed + k, scenes=scenes) for k, task in enumerate(weights)]
        return MixtureStream(streams, list(weights.values()), seed=seed)

    def resolver_world(self) -> ShapeWorld | None:
        """A world whose resolver can check generated descriptions, where there is one."""
        return None


class TinyProfile(Profile):
    """Generated ShapeWorld data and a model built from a config: offline, on a CPU."""

    def config(self, **overrides) -> VLMConfig:
        return tiny_config(**overrides)

    def tokenizer(self, config: VLMConfig):
        return tiny_tokenizer(config.codec_bins)

    def training_stream(self, task: str, codec: Codec, recipe: Recipe | None = None, seed: int = 0,
                        single_object_examples: int | None = None, scenes: int | None = None) -> Stream:
        """ShapeWorld, shaped by the recipe's :meth:`~vlmkit.train.recipes.Recipe.stream_arguments`:
        grounding and segmentation follow its curriculum (:func:`vlmkit.train.streams.curriculum_stream`),
        the other tasks draw scenes as they come. The two keywords, when given, win over the recipe."""
        shape = (recipe or Recipe()).stream_arguments()
        shape.update({name: value for name, value in (("single_object_examples", single_object_examples),
                                                      ("scenes", scenes)) if value is not None})
        if task not in OBJECT_TASKS:
            return shapeworld_stream(task, codec, ShapeWorld(seed=seed), seed=seed, scenes=shape["scenes"])
        return curriculum_stream(task, codec, multi_object_world(seed), seed=seed, **shape)

    def evaluation_rows(self, task: str, split: str = "val", count: int = 300,
                        max_objects: int | None = None) -> list[dict]:
        """ShapeWorld scenes ``0..count-1`` of ``split`` (2-4 objects for ``val`` grounding and
        segmentation; at most ``max_objects`` if given)."""
        world = multi_object_world() if (task in OBJECT_TASKS and split == "val") else ShapeWorld()
        if max_objects is not None:
            world = ShapeWorld(replace(world.config, min_objects=1, max_objects=max_objects))
        return list(world.dataset(split, count, progress=False))

    def resolver_world(self) -> ShapeWorld:
        return ShapeWorld()


class FullProfile(Profile):
    """Pretrained parts from the Hub; COCO captions, and RefCOCO, RefCOCO+ and RefCOCOg to train
    on (RefCOCO's UNC splits to evaluate on), under :func:`data_root`
    (:func:`vlmkit.data.sources.full_rows`)."""

    def config(self, **overrides) -> VLMConfig:
        return full_config(**overrides)

    def tokenizer(self, config: VLMConfig):
        codec = Codec(config.codec_format, config.codec_bins)
        if config.lm_gguf:
            vision = f"; {config.vit_pretrained} built with RANDOM weights" if config.random_init else ""
            print(f"lm_gguf: the language model ({config.lm_pretrained or 'unnamed'}) and its tokenizer from "
                  f"{config.lm_gguf}, dequantised to fp32{vision}")
            return load_gguf_tokenizer(config.lm_gguf, codec)
        if config.random_init:
            print(f"random_init: {config.vit_pretrained} and {config.lm_pretrained} built offline with RANDOM weights "
                  f"and a stand-in tokenizer (cost and code-path checks only; nothing pretrained)")
            return standin_tokenizer(codec, [*vocabulary(), *PROMPTS.values(), *COCO_CATEGORY_WORDS])
        return load_pretrained_tokenizer(config.lm_pretrained, codec)

    def training_stream(self, task: str, codec: Codec, recipe: Recipe | None = None, seed: int = 0,
                        single_object_examples: int | None = None, scenes: int | None = None) -> Stream:
        """The real train splits, every row once per epoch in a reshuffled order. Real data has
        no ShapeWorld curriculum and is finite already: the recipe's curriculum fields and
        ``scenes`` do not apply."""
        return stored_stream(full_rows(data_root(), task, "train"), task, codec, seed=seed)

    def evaluation_rows(self, task: str, split: str = "val", count: int = 300,
                        max_objects: int | None = None) -> list[dict]:
        """The first ``count`` rows of the real split (``max_objects`` does not apply)."""
        return full_rows(data_root(), task, split)[:count]


PROFILES: dict[str, Profile] = {
    "tiny": TinyProfile("tiny", "tiny: CPU, offline, ShapeWorld, a MiniVLM built from a config",
                        ("val", "testA", "testB", "test_comp")),
    "full": FullProfile("full", "full: GPU + internet, google/siglip-base-patch16-224 + HuggingFaceTB/SmolLM2-135M, "
                                "RefCOCO/COCO", ("val", "testA", "testB")),
}


def load_profile(name: str | Profile | None = None, announce: bool = True) -> Profile:
    """The profile to use: ``name``, else ``$VLMKIT_PROFILE``, else ``tiny``; the choice is printed."""
    if isinstance(name, Profile):
        return name
    chosen = (name or os.environ.get(PROFILE_ENV) or "tiny").strip().lower()
    if chosen not in PROFILES:
        raise ValueError(f"unknown profile {chosen!r}; choose one of {sorted(PROFILES)} "
                         f"(set {PROFILE_ENV} or the notebook's 'profile' parameter)")
    if announce:
        smoke = " [CI smoke sizes]" if smoke_mode() else ""
        print(f"vlmkit profile -> {PROFILES[chosen].description}{smoke}  (switch: {PROFILE_ENV}=tiny|full)")
    return PROFILES[chosen]


def new_model(profile: str = "tiny", **config_overrides) -> MiniVLM:
    """A fresh MiniVLM of ``profile`` (shorthand for ``load_profile(profile).new_model(...)``)."""
    return load_profile(profile, announce=False).new_model(**config_overrides)
