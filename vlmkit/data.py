"""Where each profile's data comes from, behind two calls the notebooks use.

* :func:`training_stream` — endless (or cycling) training examples of one task;
* :func:`evaluation_rows` — held-out unified-schema rows of one split.

tiny: ShapeWorld, generated. full: COCO captions and the RefCOCO family from
``$VLMKIT_DATA`` (default ``data/``), laid out as the README's GPU recipe says.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .codecs import Codec
from .recipes import ENDLESS, curriculum_stream, multi_object_world, shapeworld_stream
from .shapeworld import ShapeWorld
from .tasks import MixtureStream, RowStream, Stream

DATA_ENV = "VLMKIT_DATA"
EVAL_SPLITS = {"tiny": ("val", "testA", "testB", "test_comp"), "full": ("val", "testA", "testB")}


def data_root() -> Path:
    return Path(os.environ.get(DATA_ENV, "data")).expanduser()


def training_stream(profile: str, task: str, codec: Codec, single_object_examples: int = 0,
                    seed: int = 0, attribute_pair_examples: int = 0, examples_per_scene: int = 1) -> Stream:
    """Training examples of ``task``. For ShapeWorld grounding/segmentation the first
    ``single_object_examples`` come from one-object scenes, the next
    ``attribute_pair_examples`` from two-object scenes with attribute expressions naming a colour, the
    rest from 2-4 objects and every expression kind (:func:`vlmkit.recipes.curriculum_stream`),
    ``examples_per_scene`` consecutive examples about different objects of one scene. Real
    data has no such curriculum: these three are ShapeWorld's alone."""
    if profile == "tiny":
        if task in ("ground", "segment"):
            return curriculum_stream(task, codec, multi_object_world(seed), single_object_examples, seed,
                                     attribute_pair_examples, examples_per_scene)
        return shapeworld_stream(task, codec, ShapeWorld(seed=seed), seed=seed)
    return RowStream(epoch_shuffled(full_rows(task, "train"), seed), task, codec, ENDLESS, seed=seed)


def epoch_shuffled(rows: Sequence[dict], seed: int = 0) -> Callable[[int], list[dict]]:
    """Index -> [row], visiting every row once per epoch in an order reshuffled each epoch
    (fixed by ``seed`` and the epoch, so resumed runs see the same order)."""
    n = len(rows)
    if n == 0:
        raise ValueError("no rows to train on")
    orders: dict[int, np.ndarray] = {}

    def rows_at(index: int) -> list[dict]:
        epoch = index // n
        if epoch not in orders:
            orders.clear()  # keep one epoch's permutation in memory
            orders[epoch] = np.random.default_rng([seed, epoch]).permutation(n)
        return [rows[orders[epoch][index % n]]]

    return rows_at


def evaluation_rows(profile: str, task: str, split: str = "val", count: int = 300,
                    max_objects: int | None = None) -> list[dict]:
    """Held-out rows: ShapeWorld scenes ``0..count-1`` of ``split`` (2-4 objects for ``val``
    grounding/segmentation; at most ``max_objects`` if given), or the first ``count`` rows
    of the real split (``max_objects`` does not apply)."""
    if profile == "tiny":
        world = multi_object_world() if (task in ("ground", "segment") and split == "val") else ShapeWorld()
        if max_objects is not None:
            world = ShapeWorld(replace(world.config, min_objects=1, max_objects=max_objects))
        return list(world.dataset(split, count, progress=False))
    return full_rows(task, split)[:count]


def mixture_stream(profile: str, weights: dict[str, float], codec: Codec, seed: int = 0) -> Stream:
    """Examples of several tasks, task ``t`` drawn with probability proportional to ``weights[t]``."""
    streams = [training_stream(profile, task, codec, seed=seed + k) for k, task in enumerate(weights)]
    return MixtureStream(streams, list(weights.values()), seed=seed)


def full_rows(task: str, split: str) -> list[dict]:
    """Real data for the full profile: COCO captions for captioning, RefCOCO (unc) otherwise."""
    from .refcoco import load_refcoco

    root = data_root()
    if task == "caption":
        from .coco import load_caption_rows

        year_split = {"train": "train2014", "val": "val2014"}.get(split, split)
        return load_caption_rows(root / "coco" / "annotations" / f"captions_{year_split}.json",
                                 root / "coco" / year_split)
    return load_refcoco(root / "refcoco", root / "coco" / "train2014", dataset="refcoco", split_by="unc",
                        split=split)
