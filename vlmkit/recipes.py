"""Training data recipes for ShapeWorld, shared by the notebooks and the benchmark.

The grounding curriculum: the prototype in ``../shared/NOTES.md`` put single-object scenes
first (with 2-4 objects from the start its model stayed at the dataset's average box). The
tiny default instead starts with two-object scenes told apart by attribute expressions alone:
with x1 trained alone (``TrainConfig.first_token_steps``) a tiny model learns *where* and
*which* together there, then carries that to 2-4 objects (README, results).
"""

from __future__ import annotations

from dataclasses import replace

from .codecs import Codec
from .shapeworld import SceneConfig, ShapeWorld
from .tasks import CurriculumStream, RowStream, Stream

ENDLESS = 10**12  # generated data: every index is a new scene


def shapeworld_stream(task: str, codec: Codec, world: ShapeWorld | None = None, split: str = "train",
                      seed: int = 0, examples_per_scene: int = 1) -> RowStream:
    """Endless examples of ``task`` from ``world``'s ``split``: scene ``i // examples_per_scene``
    for example ``i``, each example of a scene about a different object while there are enough."""
    world = world or ShapeWorld()
    return RowStream(lambda i: world.rows(split, i), task, codec, ENDLESS, seed=seed, per_rows_at=examples_per_scene)


def curriculum_stream(task: str, codec: Codec, world: ShapeWorld | None = None, single_object_examples: int = 0,
                      seed: int = 0, attribute_pair_examples: int = 0, examples_per_scene: int = 1) -> Stream:
    """``single_object_examples`` examples from one-object scenes, then
    ``attribute_pair_examples`` from two-object scenes told apart by attribute expressions
    alone ("the red shape": the easiest binding, scripts/binding_probe.py), then
    ``world``'s scenes. ``examples_per_scene``: see :func:`shapeworld_stream`."""
    world = world or ShapeWorld()
    stages, counts = [], []
    if single_object_examples > 0:
        stages.append(ShapeWorld(replace(world.config, min_objects=1, max_objects=1), seed=world.seed,
                                 held_out=world.held_out))
        counts.append(single_object_examples)
    if attribute_pair_examples > 0:
        stages.append(ShapeWorld(replace(world.config, min_objects=2, max_objects=2), seed=world.seed,
                                 held_out=world.held_out, kinds=("attribute",)))
        counts.append(attribute_pair_examples)
    streams = [shapeworld_stream(task, codec, w, seed=seed, examples_per_scene=examples_per_scene)
               for w in (*stages, world)]
    return CurriculumStream(streams, counts) if counts else streams[0]


def multi_object_world(seed: int = 0, image_size: int = 64) -> ShapeWorld:
    """Scenes of 2-4 objects: where referring needs more than finding the only shape."""
    return ShapeWorld(SceneConfig(image_size=image_size, min_objects=2, max_objects=4), seed=seed)

