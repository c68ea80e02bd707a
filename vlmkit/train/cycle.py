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

from vlmkit.data.sources import epoch_shuffled
from vlmkit.evaluation.evaluate import (cycle_consistency, evaluate_description, evaluate_grounding,
                                        names_only_its_object)
from vlmkit.model import MiniVLM
from vlmkit.text.tasks import MixtureStream, RowStream
from vlmkit.train.profiles import Profile
from vlmkit.train.recipes import CombinedRecipe
from vlmkit.train.stages import stage_stream
from vlmkit.train.trainer import Trainer


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
    cycle = cycle_consistency(model, rows, progress=progress)
    descriptions = [a.strip() for a in cycle.descriptions]
    grounded = (cycle.ious >= threshold) & np.array([bool(d) for d in descriptions])
    resolved = np.ones(len(descriptions), bool) if world is None else np.array(
        [names_only_its_object(world, ex.row, d) for ex, d in zip(cycle.examples, descriptions)])
    kept_rows = [dict(ex.row, expressions=[d], expression_kinds=["cycle"])
                 for ex, d, k in zip(cycle.examples, descriptions, grounded & resolved) if k]
    return CycleHarvest(kept_rows, descriptions, cycle.ious, grounded, resolved)


def compare_cycle(model: MiniVLM, profile: Profile, recipe: CombinedRecipe, describe_rows: Sequence[dict],
                  ground_rows: Sequence[dict]) -> tuple[dict[str, dict], CycleHarvest]:
    """The cycle against no cycle, from the same start: harvest descriptions of
    ``recipe.cycle_scenes`` training scenes (:func:`harvest_descriptions`), then train two
    copies of ``model`` for ``recipe.cycle_steps`` more steps of ``recipe``'s task mixture, one
    of them with the kept descriptions making up ``recipe.cycle_share`` of its examples (half
    as grounding questions, half as description targets). Each copy is scored on
    ``describe_rows`` (CIDEr with its standard error and, where the profile has a resolver, the
    share of descriptions that name exactly their object) and ``ground_rows`` (Acc@0.5), so
    :func:`vlmkit.evaluation.verdicts.race_verdict` can judge each. Returns the table and the
    harvest. If the harvest kept nothing (a model that cannot yet describe or ground), it says
    so and the table has only the run without the cycle."""
    world = profile.resolver_world()
    harvest = harvest_descriptions(model, profile.evaluation_rows("describe", "train", count=recipe.cycle_scenes),
                                   world)
    short = recipe.with_overrides({"steps": recipe.cycle_steps, "warmup_steps": 0})
    arms = ["without the cycle", "with the cycle"]
    if not harvest.rows:  # the cycle arm would be the same run as the other
        print(f"the cycle kept none of {len(harvest.descriptions)} descriptions (grounding and description must "
              f"work first): only the run without the cycle is trained")
        arms = arms[:1]
    results = {}
    for arm in arms:
        candidate = model.copy()
        stream = stage_stream(profile, recipe, candidate.codec, seed=1)
        if arm == "with the cycle":
            kept = [RowStream(epoch_shuffled(harvest.rows, seed), task, candidate.codec, len(stream), seed=seed)
                    for seed, task in enumerate(("ground", "describe"))]
            share = recipe.cycle_share
            stream = MixtureStream([stream, *kept], [1 - share, share / 2, share / 2], seed=1)
        trainer = Trainer(candidate, stream, short.train_config())
        trainer.train()
        described = evaluate_description(candidate, describe_rows, world=world, progress=False).metrics
        grounded = evaluate_grounding(candidate, ground_rows, progress=False).metrics
        results[arm] = {"kept descriptions": len(harvest.rows) if arm == "with the cycle" else 0,
                        "describe cider": described["cider"], "describe cider_se": described["cider_se"],
                        "resolves uniquely": described.get("resolves_uniquely"),
                        "ground acc@0.5": grounded["acc@0.5"], "minutes": trainer.train_seconds / 60}
    return results, harvest
