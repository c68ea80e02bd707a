"""ShapeWorld training streams and curricula, shared by the notebooks and the benchmarks.

The grounding curriculum: the prototype (``docs/experiments/model_design.md#a-curriculum-in-time``) put
single-object scenes first (with 2-4 objects from the start its model stayed at the dataset's average box). The
tiny default instead starts with two-object scenes told apart by attribute expressions that
name a colour: with x1 trained alone (``TrainConfig.first_token_steps``) a tiny model learns
*where* and *which* together there, then carries that to 2-4 objects (``docs/experiments/grounding_recipe.md#x1-first``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace

from vlmkit.data.shapeworld.dataset import ShapeWorld
from vlmkit.data.shapeworld.language import named_attributes
from vlmkit.data.shapeworld.scenes import COLOURS, SceneConfig
from vlmkit.data.sources import epoch_order, epoch_shuffled
from vlmkit.text.codecs import Codec
from vlmkit.text.tasks import MAX_VERTICES, CurriculumStream, RowStream, Stream

ENDLESS = 10**12  # generated data: every index is a new scene
MIXED_PAIRS = 10**9  # first scene index of the pairs mixed in after the pair stage (pair_every)
ALL_ATTRIBUTE_EXPRESSIONS = 8  # an object has at most 8 noun phrases (size? colour? shape or "shape")


def shapeworld_stream(task: str, codec: Codec, world: ShapeWorld | None = None, split: str = "train",
                      seed: int = 0, examples_per_scene: int = 1, scenes: int = 0) -> RowStream:
    """Endless examples of ``task`` from ``world``'s ``split``: scene ``i // examples_per_scene``
    for example ``i``, each example of a scene about a different object while there are enough.
    With ``scenes`` > 0 only that many distinct scenes, reused in turn (:func:`reused_scenes`)."""
    world = world or ShapeWorld()
    rows_at = functools.partial(world.rows, split)
    if scenes > 0:
        rows_at = reused_scenes(rows_at, scenes, seed)
    return RowStream(rows_at, task, codec, ENDLESS, seed=seed, per_rows_at=examples_per_scene)


def curriculum_stream(task: str, codec: Codec, world: ShapeWorld | None = None, single_object_examples: int = 0,
                      seed: int = 0, attribute_pair_examples: int = 0, examples_per_scene: int = 1,
                      colour_pairs: bool = True, pair_every: int = 0, max_vertices: int = MAX_VERTICES,
                      scenes: int = 0) -> Stream:
    """``single_object_examples`` examples from one-object scenes, then
    ``attribute_pair_examples`` from two-object scenes told apart by attribute expressions
    alone (the easiest binding, benchmarks/binding_probe.py), then ``world``'s scenes.
    ``examples_per_scene``: see :func:`shapeworld_stream`.

    With ``colour_pairs`` every pair expression names a colour ("the red shape", "the small
    red circle"), drawn from all of an object's attribute expressions: with the shortest ones
    ("the circle") a model can bind shape words alone and often never binds colour, which
    then fails every "the red shape" in 2-4 object scenes (``docs/experiments/binding.md#colour-binding``). With
    ``pair_every`` = n > 0 every n-th scene after the pair stage is still such a pair, so
    that the pressure to bind colour words stays on (the pair stage must be on). Outlines
    have at most ``max_vertices`` vertices. With ``scenes`` > 0 the last stage reuses that
    many distinct scenes in turn (:func:`reused_scenes`); 0 draws a new scene every time."""
    world = world or ShapeWorld()
    stages, counts = [], []
    if single_object_examples > 0:
        ones = ShapeWorld(replace(world.config, min_objects=1, max_objects=1), seed=world.seed, held_out=world.held_out)
        stages.append(lambda i, w=ones: w.rows("train", i))
        counts.append(single_object_examples)
    if attribute_pair_examples > 0:
        pairs = ShapeWorld(replace(world.config, min_objects=2, max_objects=2), seed=world.seed,
                           held_out=world.held_out, kinds=("attribute",),
                           expressions_per_kind=ALL_ATTRIBUTE_EXPRESSIONS if colour_pairs else 2)
        pair_rows = (lambda i: naming_colour(pairs.rows("train", i))) if colour_pairs else \
            (lambda i: pairs.rows("train", i))
        stages.append(pair_rows)
        counts.append(attribute_pair_examples)
    if pair_every > 0:
        if attribute_pair_examples <= 0:
            raise ValueError("pair_every mixes in the pair stage's scenes: set attribute_pair_examples too")
        # pair scenes far from those of the pair stage, so none is seen twice
        stages.append(lambda i: pair_rows(MIXED_PAIRS + i) if i % pair_every == 0 else world.rows("train", i))
    else:
        stages.append(lambda i: world.rows("train", i))
    if scenes > 0:
        stages[-1] = reused_scenes(stages[-1], scenes, seed)
    streams = [RowStream(rows_at, task, codec, ENDLESS, seed=seed, per_rows_at=examples_per_scene,
                         max_vertices=max_vertices) for rows_at in stages]
    return CurriculumStream(streams, counts) if counts else streams[0]


def stored_stream(rows: Sequence[dict], task: str, codec: Codec, seed: int = 0,
                  max_vertices: int = MAX_VERTICES) -> RowStream:
    """Endless examples of ``task`` from stored rows (the full profile's data, a file of your
    own): every row once per epoch, in an order reshuffled each epoch."""
    return RowStream(epoch_shuffled(rows, seed), task, codec, ENDLESS, seed=seed, max_vertices=max_vertices)


def reused_scenes(rows_at: Callable[[int], list[dict]], scenes: int, seed: int = 0) -> Callable[[int], list[dict]]:
    """``rows_at`` over ``scenes`` distinct scenes, each drawn once and then kept in memory,
    all of them once an epoch in an order reshuffled each epoch
    (:func:`vlmkit.data.sources.epoch_order`).

    Drawing a scene in Python is a large share of a training step
    (docs/experiments/scene_reuse.md); reused, a scene costs that once. A reused
    scene is asked about other objects and expressions (the stream draws those by the
    example's index), so an epoch is not a repeat of the one before. Kept in memory rather
    than in an Arrow table on disk: a 64-pixel scene is cheaper to keep than to encode and
    decode, and there is nothing to render before training starts.
    """
    if scenes < 1:
        raise ValueError(f"scenes must be at least 1, got {scenes}")
    keep, order = functools.cache(rows_at), epoch_order(scenes, seed)
    return lambda index: keep(order(index))


def naming_colour(rows: list[dict]) -> list[dict]:
    """``rows`` with only their expressions that name a colour."""
    return keep_expressions(rows, lambda text, kind: bool(COLOURS.keys() & set(text.split())))


def colour_only(rows: list[dict]) -> list[dict]:
    """``rows`` with only their attribute expressions that name a colour and nothing else
    ("the red shape"): the ones only a model that binds colour words can answer."""
    return keep_expressions(rows, lambda text, kind: kind == "attribute" and named_attributes(text) == "colour")


def keep_expressions(rows: list[dict], keep: Callable[[str, str], bool]) -> list[dict]:
    """``rows`` with only the expressions for which ``keep(text, kind)`` holds, kinds kept
    alongside. A row may be left with none: streams skip it, evaluation asks it nothing."""
    kept = []
    for row in rows:
        pairs = enumerate(zip(row["expressions"], row["expression_kinds"]))
        picks = [k for k, (text, kind) in pairs if keep(text, kind)]
        kept.append({**row, "expressions": [row["expressions"][k] for k in picks],
                     "expression_kinds": [row["expression_kinds"][k] for k in picks]})
    return kept


def multi_object_world(seed: int = 0, image_size: int = 64) -> ShapeWorld:
    """Scenes of 2-4 objects: where referring needs more than finding the only shape."""
    return ShapeWorld(SceneConfig(image_size=image_size, min_objects=2, max_objects=4), seed=seed)

