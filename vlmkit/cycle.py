"""Cycle training of comprehension and generation (ViLaM): the two directions teach each other.

The model describes an object (``describe:`` its box); the description is kept as a new
training expression for that object only if grounding it lands back on the object (IoU >=
``threshold`` with its box) and, where a resolver exists (ShapeWorld), the resolver agrees
that it names exactly that object. Kept rows then train grounding (and description) on text
the model itself wrote, with the cycle as the filter against its own mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .evaluate import evaluate_description, evaluate_grounding
from .model import MiniVLM


@dataclass
class CycleHarvest:
    """What one pass of the cycle kept: rows whose expressions are the kept descriptions, and
    per object the description, its grounding IoU and whether each check passed."""

    rows: list[dict]
    descriptions: list[str]
    ious: np.ndarray
    grounded: np.ndarray
    resolved: np.ndarray

    @property
    def kept(self) -> np.ndarray:
        return self.grounded & self.resolved


def harvest_descriptions(model: MiniVLM, rows: Sequence[dict], world=None, threshold: float = 0.5,
                         progress: bool = False) -> CycleHarvest:
    """Describe every row's object, ground each description, and keep those that come back
    (see the module doc). ``world``: the ShapeWorld that generated ``rows``, whose resolver
    must also agree; ``None`` skips that check (real data has no resolver)."""
    described = evaluate_description(model, rows, progress=progress)
    descriptions = [a.strip() for a in described.answers]
    asked = [dict(ex.row, expressions=[d or "?"], expression_kinds=["cycle"])
             for ex, d in zip(described.examples, descriptions)]
    grounding = evaluate_grounding(model, asked, progress=progress)
    grounded = (grounding.ious >= threshold) & np.array([bool(d) for d in descriptions])
    resolved = np.ones(len(rows), bool) if world is None else np.array(
        [_names_only(world, ex.row, d) for ex, d in zip(described.examples, descriptions)])
    keep = grounded & resolved
    kept_rows = [dict(ex.row, expressions=[d], expression_kinds=["cycle"])
                 for ex, d, k in zip(described.examples, descriptions, keep) if k]
    return CycleHarvest(kept_rows, descriptions, grounding.ious, grounded, resolved)


def _names_only(world, row: dict, description: str) -> bool:
    """True if ShapeWorld's resolver reads ``description`` as naming exactly ``row``'s object."""
    from .shapeworld.language import UnresolvableExpression, resolve

    _, split, index, obj = row["id"].split("/")
    scene, _ = world.scene(split, int(index))
    try:
        resolution = resolve(description, scene)
    except UnresolvableExpression:
        return False
    return resolution.unique and resolution.referents == (int(obj),)
