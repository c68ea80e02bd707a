"""ShapeWorld splits in the unified schema (:mod:`vlmkit.data.schema`).

Scene ``i`` of split ``s`` is fixed by ``(seed, s, i)``, so any sample can be made on the
fly in any order (training streams them) or stored once (evaluation sets).

Splits, mirroring RefCOCO's:

* ``train`` / ``val``: every expression kind; never draws the held-out colour-shape pairs.
* ``testA``: appearance expressions only (``attribute``, ``size``).
* ``testB``: spatial expressions only (``absolute``, ``relation``, ``ordinal``).
* ``test_comp``: compositional: every row's object is a held-out pair (e.g. a red
  triangle), which train never contains, though it has red things and triangles.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import datasets
import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from vlmkit.core.polygons import points_to_flat
from vlmkit.data.schema import FEATURES, make_row
from vlmkit.data.shapeworld.language import KINDS, captions, referring_expressions
from vlmkit.data.shapeworld.scenes import Scene, SceneConfig, generate_scene

SPLIT_KINDS: dict[str, tuple[str, ...]] = {
    "train": KINDS,
    "val": KINDS,
    "testA": ("attribute", "size"),
    "testB": ("absolute", "relation", "ordinal"),
    "test_comp": KINDS,
}
SPLITS = tuple(SPLIT_KINDS)
HELD_OUT_PAIRS = (("red", "triangle"), ("blue", "circle"), ("green", "square"))


@dataclass(frozen=True)
class ShapeWorld:
    """A generated world: scene settings, a seed, and the colour-shape pairs held out of train."""

    config: SceneConfig = field(default_factory=SceneConfig)
    seed: int = 0
    held_out: tuple[tuple[str, str], ...] = HELD_OUT_PAIRS
    expressions_per_kind: int = 2
    kinds: tuple[str, ...] = KINDS  # expression kinds this world says (a curriculum may start with fewer)

    def __post_init__(self) -> None:
        self.split_config("test_comp")  # validates held_out against the config
        if unknown := set(self.kinds) - set(KINDS):
            raise ValueError(f"unknown expression kinds {sorted(unknown)}; choose from {KINDS}")

    def split_config(self, split: str) -> SceneConfig:
        if split not in SPLIT_KINDS:
            raise ValueError(f"unknown ShapeWorld split {split!r}; choose one of {SPLITS}")
        if split == "test_comp":
            return replace(self.config, require_one_of=self.held_out)
        return replace(self.config, exclude=tuple(dict.fromkeys(self.config.exclude + self.held_out)))

    def scene(self, split: str, index: int) -> tuple[Scene, np.random.Generator]:
        """Scene ``index`` of ``split``, and the generator positioned after it (for its text)."""
        config = self.split_config(split)  # validates the split name
        rng = np.random.default_rng([self.seed, SPLITS.index(split), index])
        return generate_scene(config, rng), rng

    def rows(self, split: str, index: int) -> list[dict]:
        """Unified-schema rows (one per object) of scene ``index`` of ``split``.

        Test splits keep only the expressions of their kinds and drop objects left with
        none; ``test_comp`` keeps only objects of a held-out colour-shape pair.
        """
        scene, rng = self.scene(split, index)
        kinds, size = [k for k in SPLIT_KINDS[split] if k in self.kinds], scene.size
        image, scene_captions = Image.fromarray(scene.image), captions(scene)
        rows = []
        for k, obj in enumerate(scene.objects):
            pairs = [(kind, text) for kind, text in referring_expressions(scene, k, rng, self.expressions_per_kind)
                     if kind in kinds]
            if split.startswith("test") and not pairs:
                continue
            if split == "test_comp" and (obj.colour, obj.shape) not in self.held_out:
                continue
            rows.append(make_row(
                id=f"shapeworld/{split}/{index}/{k}", image_id=f"shapeworld/{split}/{index}", image=image,
                width=size, height=size, category=obj.shape, box=obj.box,
                polygons=[points_to_flat(p) for p in obj.polygons], expressions=[t for _, t in pairs],
                expression_kinds=[kind for kind, _ in pairs], captions=scene_captions, split=split,
                source="shapeworld"))
        return rows

    def dataset(self, split: str, num_scenes: int, progress: bool = True) -> datasets.Dataset:
        """The rows of scenes ``0 .. num_scenes-1`` of ``split`` as a ``datasets.Dataset``."""
        rows = [row for i in tqdm(range(num_scenes), desc=f"ShapeWorld {split}", disable=not progress)
                for row in self.rows(split, i)]
        return datasets.Dataset.from_list(rows, features=FEATURES)


def statistics(rows: datasets.Dataset | list[dict]) -> dict:
    """Counts a person checks before trusting a dataset: objects, kinds, categories, lengths."""
    per_image = Counter(r["image_id"] for r in rows)
    kinds = Counter(k for r in rows for k in r["expression_kinds"])
    return {
        "rows": len(rows),
        "images": len(per_image),
        "objects_per_image": dict(sorted(Counter(per_image.values()).items())),
        "categories": dict(Counter(r["category"] for r in rows).most_common()),
        "expressions": sum(kinds.values()),
        "expression_kinds": dict(kinds.most_common()),
        "mean_expression_words": float(np.mean([len(e.split()) for r in rows for e in r["expressions"]] or [0])),
    }
