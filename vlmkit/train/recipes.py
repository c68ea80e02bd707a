"""Training recipes: every number a stage trains with, one dataclass per stage, one source.

The notebooks, ``make demo``, the command line (``vlmkit train STAGE --set key=value``), the
benchmarks and the stand-ins all read a stage's recipe from here, for the profile in use:

==============  ==========================================================================
stage           recipe
==============  ==========================================================================
01_captioning   :class:`CaptionRecipe`
02_grounding    :class:`GroundRecipe`: the curriculum (attribute pairs, x1 alone) and the
                codec experiment's steps
03_segmentation :class:`SegmentRecipe`: the answer form (box then outline, or the outline
                alone), the share of one-object scenes first, the comparison's steps
04_combined     :class:`CombinedRecipe`: the task mixture, the cycle experiment
05_your_data    :class:`DataRecipe`: fine-tuning on a file of your own (``--data``), its tasks
                and, for notebook 05, the size of the ShapeWorld file it makes
==============  ==========================================================================

Grounding and segmentation share :class:`ObjectRecipe`'s ``scenes``: how many distinct
ShapeWorld scenes they draw and reuse; :class:`CombinedRecipe`'s ``scenes`` is the same for
each task of its mixture.

The tiny recipes are the ones measured on 2 CPU cores (``docs/experiments/README.md``). The full
recipes are starting points for a GPU, not yet measured by a training run (their cost is:
``scripts/full_profile_cost.py``, ``docs/gpu.md``). They follow nanoVLM: the new projector at
a high learning rate, the pretrained parts at 1/100 of it (nanoVLM: 5e-3 and 5e-5), the
vision encoder frozen while the projector first learns to speak to the LM (captioning);
micro-batches of 16 accumulated to 64, built ahead by 4 worker processes (the tiny recipes build
them in the training process: on 2 cores a worker competes with the step for a core); mixed
precision chosen by the GPU; no ShapeWorld curriculum (real data has none). LoRA is one field
away (``lora_rank=16``).
In CI's smoke mode (``VLMKIT_SMOKE=1``) each recipe shrinks to :attr:`Recipe.smoke_sizes`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import ClassVar

from vlmkit.core.fields import type_problems
from vlmkit.text.tasks import MAX_VERTICES, OUTLINE_TASKS
from vlmkit.train.trainer import TrainConfig

# the quick recipes train this share of every step count (Recipe.quick)
QUICK_FRACTION = 0.25


@dataclass(frozen=True)
class Recipe(TrainConfig):
    """A stage's Trainer config (every TrainConfig field, one source for its defaults) plus what
    the stage adds: how often and on how much it is evaluated, and its training stream."""

    evaluations: int = 0  # held-out evaluations during training, the last at the end (0: eval_every decides)
    eval_size: int = 100  # held-out images (captioning) or scenes/rows scored at the end

    smoke_sizes: ClassVar[dict] = {"steps": 20, "eval_size": 12}

    def train_config(self, **overrides) -> TrainConfig:
        """The Trainer's config for this recipe; ``overrides`` (TrainConfig fields) win over it.
        Warm-up takes at most a fifth of the steps, so a short run still trains at full rate, and
        the decay at most the rest (a smoke run's 20 steps)."""
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainConfig)}
        warmup = min(self.warmup_steps, self.steps // 5)
        return TrainConfig(**{**own, "warmup_steps": warmup, "decay_steps": min(self.decay_steps, self.steps - warmup),
                              "eval_every": self.evaluation_interval(), **overrides})

    def evaluation_interval(self) -> int:
        """Steps between held-out evaluations, rounded up so that there are at most
        ``evaluations``, the last at the end (6000 steps, 7 evaluations: every 858, since 857
        would add an eighth just before the final one). Without ``evaluations``: ``eval_every``."""
        return math.ceil(self.steps / self.evaluations) if self.evaluations else self.eval_every

    def examples(self) -> int:
        """Training examples this recipe's stage draws (``steps x batch x accumulation``), the
        side experiments apart: what a series' length is counted in."""
        return self.steps * self.batch_size * self.grad_accum

    def tasks(self) -> list[str]:
        """The tasks a stage trains with this recipe."""
        raise NotImplementedError(f"{type(self).__name__} names no tasks: use a stage's recipe (recipe_for)")

    def stream_arguments(self) -> dict:
        """How this recipe shapes a ShapeWorld training stream: the keyword arguments of
        :func:`vlmkit.train.streams.curriculum_stream` (no curriculum, a new scene per example)."""
        return {"single_object_examples": 0, "attribute_pair_examples": 0, "examples_per_scene": 1,
                "max_vertices": MAX_VERTICES, "scenes": 0}

    def smoke(self) -> "Recipe":
        """The same recipe at CI sizes: every cell runs in seconds."""
        return dataclasses.replace(self, **self.smoke_sizes)

    def quick(self) -> "Recipe":
        """The quick recipe: every ``*_steps`` count (the side experiments' too, warm-up aside)
        times :data:`QUICK_FRACTION`, for a learner who wants the whole series in a fraction of
        the time and accepts lower scores."""
        scaled = {f.name: max(1, round(getattr(self, f.name) * QUICK_FRACTION)) for f in dataclasses.fields(self)
                  if (f.name == "steps" or f.name.endswith("_steps")) and f.name != "warmup_steps"
                  and getattr(self, f.name) > 0}
        return dataclasses.replace(self, **scaled)

    def with_overrides(self, overrides: dict) -> "Recipe":
        """A copy with ``overrides``; unknown fields and wrong types raise ``ValueError``."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field {unknown}; its fields are {sorted(fields)}")
        problems = type_problems(type(self), overrides)
        if problems:
            raise ValueError(f"{type(self).__name__}: {'; '.join(problems)}")
        return dataclasses.replace(self, **overrides)


@dataclass(frozen=True)
class CaptionRecipe(Recipe):
    def tasks(self) -> list[str]:
        return ["caption"]


@dataclass(frozen=True)
class ObjectRecipe(Recipe):
    """A stage that asks about one object of a scene (grounding, segmentation)."""

    # ShapeWorld: the distinct 2-4 object training scenes, reused in turn with other questions
    # (vlmkit.train.streams.reused_scenes); 0 draws a new scene for every question. Stored
    # datasets (the full profile) are finite already and ignore it.
    scenes: int = 0

    def stream_arguments(self) -> dict:
        return {**super().stream_arguments(), "scenes": self.scenes}


@dataclass(frozen=True)
class GroundRecipe(ObjectRecipe):
    # the curriculum: first two-object scenes told apart by attribute expressions naming a colour,
    # x1 trained alone at first, two questions per scene
    # (docs/experiments/grounding_recipe.md#how-the-curriculum-was-found)
    # (first_token_steps, the Trainer's, holds x1 alone)
    attribute_pair_steps: int = 0
    examples_per_scene: int = 1
    codec_steps: int = 100  # steps per coordinate format in notebook 02's side-by-side experiment
    # notebook 02's run without the curriculum (stages.train_without_curriculum): its steps, and the
    # scenes it draws and reuses (a new scene for each of its questions would cost more than its steps)
    plain_steps: int = 1000
    plain_scenes: int = 2000

    smoke_sizes: ClassVar[dict] = {"steps": 20, "eval_size": 12, "attribute_pair_steps": 5,
                                   "first_token_steps": 10, "codec_steps": 4, "plain_steps": 4,
                                   "plain_scenes": 8}

    def tasks(self) -> list[str]:
        return ["ground"]

    def stream_arguments(self) -> dict:
        return {**super().stream_arguments(), "attribute_pair_examples": self.attribute_pair_steps * self.batch_size,
                "examples_per_scene": self.examples_per_scene}


@dataclass(frozen=True)
class SegmentRecipe(ObjectRecipe):
    # "locate_segment": the box, then the outline, in one answer (the box guides the outline);
    # "segment": the outline alone (docs/experiments/segmentation_recipe.md)
    task: str = "locate_segment"
    single_object_fraction: float = 0.0  # share of the steps on one-object scenes first
    max_vertices: int = MAX_VERTICES  # outline budget of the training answers
    compare_steps: int = 100  # steps per answer form in notebook 03's side-by-side experiment

    smoke_sizes: ClassVar[dict] = {"steps": 20, "eval_size": 12, "compare_steps": 4}

    def __post_init__(self) -> None:
        if self.task not in OUTLINE_TASKS:
            raise ValueError(f"SegmentRecipe.task={self.task!r}: choose one of {OUTLINE_TASKS}")

    def tasks(self) -> list[str]:
        return [self.task]

    def stream_arguments(self) -> dict:
        singles = int(self.single_object_fraction * self.steps * self.batch_size)
        return {**super().stream_arguments(), "single_object_examples": singles, "max_vertices": self.max_vertices}


@dataclass(frozen=True)
class CombinedRecipe(Recipe):
    # locate_segment weighted 4: the outline is what a mixture forgets first
    # (docs/experiments/combined_recipe.md#scenes-reused-in-the-mixture)
    task_weights: dict = field(default_factory=lambda: {"caption": 1.0, "ground": 2.0, "locate_segment": 4.0,
                                                         "point": 1.0, "describe": 1.5})
    # the cycle experiment (vlmkit.train.cycle.compare_cycle): descriptions harvested from this many
    # training scenes, then this many more steps with and without them, the kept descriptions
    # making up cycle_share of the examples (as grounding and as description targets)
    cycle_scenes: int = 300
    cycle_steps: int = 100
    cycle_share: float = 0.25
    # ShapeWorld: the distinct training scenes each task of the mixture draws once and reuses in
    # turn (vlmkit.train.streams.reused_scenes); 0, the tiny recipe's, draws a new scene for every
    # example: reuse was faster but cost outline (docs/experiments/combined_recipe.md)
    scenes: int = 0

    def tasks(self) -> list[str]:
        return list(self.task_weights)

    def stream_arguments(self) -> dict:
        return {**super().stream_arguments(), "scenes": self.scenes}

    smoke_sizes: ClassVar[dict] = {"steps": 20, "eval_size": 10, "cycle_scenes": 4, "cycle_steps": 4}


@dataclass(frozen=True)
class DataRecipe(Recipe):
    """Fine-tuning a trained model on rows of your own (:mod:`vlmkit.data.jsonl`): the tasks
    drawn, by weight, from the rows that can serve each (``vlmkit.text.tasks.usable_rows``)."""

    task_weights: dict = field(default_factory=lambda: {"ground": 1.0, "locate_segment": 2.0})
    max_vertices: int = MAX_VERTICES  # outline budget of the training answers
    # notebook 05 stands in for your data with a ShapeWorld file of this many scenes a split
    example_scenes: int = 200
    held_out_scenes: int = 50

    smoke_sizes: ClassVar[dict] = {"steps": 20, "batch_size": 8, "eval_size": 12, "example_scenes": 6,
                                   "held_out_scenes": 3}

    def tasks(self) -> list[str]:
        return list(self.task_weights)

    def stream_arguments(self) -> dict:
        return {**super().stream_arguments(), "max_vertices": self.max_vertices}


# the full recipes' shared settings (see the module doc)
# (data_workers: processes that build batches ahead of a GPU; how many it needs: docs/gpu.md, data pipeline)
FULL_COMMON = dict(batch_size=16, grad_accum=4, lr=5e-3, lm_lr_scale=0.01, vision_lr_scale=0.01, warmup_steps=500,
                   data_workers=4)

# the tiny recipes' optimizer: Muon on the hidden matrices at twice the rate (docs/experiments/optimizer.md)
TINY_MUON = dict(optimizer="muon", muon_lr_scale=2.0)

STAGES = ("01_captioning", "02_grounding", "03_segmentation", "04_combined", "05_your_data")

RECIPES: dict[str, dict[str, Recipe]] = {
    # 01-04 hold their rate until their last fifth (decay_steps): what let 02-04 be this short
    # (docs/experiments/shorter_series.md); Muon on the hidden matrices (TINY_MUON; in 03 at the rate
    # itself, already 1e-3) learns each stage in a third to half fewer examples than AdamW
    # (docs/experiments/optimizer.md)
    "tiny": {
        "01_captioning": CaptionRecipe(steps=2000, decay_steps=400, lr=5e-4, **TINY_MUON, eval_size=100),
        "02_grounding": GroundRecipe(steps=4000, decay_steps=800, lr=5e-4, **TINY_MUON,
                                     evaluations=4, eval_size=300, attribute_pair_steps=1500, first_token_steps=1000,
                                     examples_per_scene=2, scenes=32000),
        "03_segmentation": SegmentRecipe(steps=1500, decay_steps=300, lr=1e-3, **{**TINY_MUON, "muon_lr_scale": 1.0},
                                         evaluations=4, eval_size=200, scenes=32000),
        "04_combined": CombinedRecipe(steps=850, decay_steps=170, lr=5e-4, **TINY_MUON, warmup_steps=100,
                                      eval_size=150),
        "05_your_data": DataRecipe(steps=300, lr=3e-4, warmup_steps=30, evaluations=3, eval_size=150),
    },
    "full": {
        "01_captioning": CaptionRecipe(steps=3000, **{**FULL_COMMON, "vision_lr_scale": 0.0}, eval_size=500),
        "02_grounding": GroundRecipe(steps=10000, **FULL_COMMON, evaluations=10, eval_size=1000),
        "03_segmentation": SegmentRecipe(steps=10000, **FULL_COMMON, evaluations=10, eval_size=1000),
        "04_combined": CombinedRecipe(steps=10000, **FULL_COMMON, eval_size=1000),
        "05_your_data": DataRecipe(steps=2000, **FULL_COMMON, evaluations=4, eval_size=1000),
    },
}


def recipe_for(stage: str, profile: str, smoke: bool = False, quick: bool = False, **overrides) -> Recipe:
    """The recipe of ``stage`` in ``profile`` (at CI sizes with ``smoke``; the quick recipe with
    ``quick``, :meth:`Recipe.quick`), with ``overrides``."""
    if profile not in RECIPES:
        raise ValueError(f"unknown profile {profile!r}; profiles are {sorted(RECIPES)}")
    if stage not in RECIPES[profile]:
        raise ValueError(f"unknown stage {stage!r}; stages are {STAGES}")
    recipe = RECIPES[profile][stage]
    recipe = recipe.quick() if quick else recipe
    return (recipe.smoke() if smoke else recipe).with_overrides(overrides)


# the stages a series trains before your own data (notebook 05 fine-tunes on it, apart)
SERIES_STAGES = STAGES[:4]


def series_examples(profile: str = "tiny", smoke: bool = False, quick: bool = False) -> int:
    """Training examples of the series' stages 01-04 (:meth:`Recipe.examples` summed)."""
    return sum(recipe_for(stage, profile, smoke=smoke, quick=quick).examples() for stage in SERIES_STAGES)


def recipe_changes(stage: str, recipe: Recipe) -> tuple[bool, dict]:
    """How ``recipe`` differs from the series' recipe of ``stage`` it is closest to (either
    profile, CI sizes or not): ``(quick, changes)``, ``quick`` when that is the quick recipe,
    ``changes`` the fields that differ (none: it is the series' recipe)."""
    best = None
    for profile in RECIPES:
        for smoke in (False, True):
            for quick in (False, True):
                base = recipe_for(stage, profile, smoke=smoke, quick=quick)
                if type(base) is not type(recipe):
                    continue
                changes = {f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe)
                           if getattr(recipe, f.name) != getattr(base, f.name)}
                if best is None or len(changes) < len(best[1]):
                    best = (quick, changes)
    if best is None:
        raise ValueError(f"a {type(recipe).__name__} is not a recipe of stage {stage!r}")
    return best


def parse_assignments(items: list[str] | tuple[str, ...]) -> dict:
    """``["steps=200", "lr=1e-3", "task_weights={\\"ground\\": 1}"]`` -> typed values: each value is
    read as JSON (numbers, true/false, objects), else kept as text. A malformed item raises
    ``ValueError``; the fields themselves are checked by :meth:`Recipe.with_overrides` or the
    dataclass the values go to."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"an assignment is key=value; got {item!r}")
        try:
            out[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[name.strip()] = value
    return out
