import dataclasses
import json
import re
from pathlib import Path

import pytest

from vlmkit.train.profiles import load_profile
from vlmkit.train.recipes import (QUICK_FRACTION, RECIPES, STAGES, CombinedRecipe, GroundRecipe, SegmentRecipe,
                                  parse_assignments, recipe_changes, recipe_for)

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK_STAGE = {"01_captioning": "01_captioning", "02_grounding": "02_grounding",
                  "03_polygon_segmentation": "03_segmentation", "04_combined": "04_combined",
                  "05_your_data": "05_your_data"}


def _cells(notebook: Path) -> list[dict]:
    return [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("name, stage", NOTEBOOK_STAGE.items())
@pytest.mark.parametrize("profile", ["tiny", "full"])
def test_each_notebook_trains_with_its_stage_recipe_of_the_chosen_profile(name, stage, profile, monkeypatch):
    monkeypatch.delenv("VLMKIT_SMOKE", raising=False)
    cells = _cells(NOTEBOOKS / f"{name}.ipynb")
    (parameters,) = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    source = "".join(parameters["source"])
    assert not re.search(r"^\w+ = [\d.]+", source, re.M), "a number in the parameters cell copies the recipe"
    namespace = {}
    exec(source, namespace)  # as papermill runs it, then with the profile it injects
    namespace["profile"] = profile
    code = "\n".join("".join(c["source"]) for c in cells)
    assert f'profile.recipe("{stage}", quick=quick, **overrides)' in code
    recipe = load_profile(namespace["profile"], announce=False).recipe(stage, quick=namespace["quick"],
                                                                       **namespace["overrides"])
    assert recipe == RECIPES[profile][stage]  # the series' recipe unless the learner asks for another
    quick = load_profile(namespace["profile"], announce=False).recipe(stage, quick=True)
    assert quick == RECIPES[profile][stage].quick() and quick.steps < recipe.steps


def test_the_full_profile_selects_the_full_recipes_not_the_tiny_ones():
    """The full recipes: pretrained parts at 1/100 of the projector's rate (nanoVLM's ratio),
    the encoder frozen for captioning, micro-batches accumulated to 64, and all of it reaches
    the Trainer's config."""
    full, tiny = load_profile("full", announce=False), load_profile("tiny", announce=False)
    for stage in STAGES:
        recipe = full.recipe(stage)
        assert recipe != tiny.recipe(stage)
        assert recipe.lr * recipe.lm_lr_scale <= 1e-4 < tiny.recipe(stage).lr * tiny.recipe(stage).lm_lr_scale
        assert recipe.batch_size * recipe.grad_accum == 64 and recipe.mixed_precision == "auto"
        assert recipe.data_workers == 4 and tiny.recipe(stage).data_workers == 0  # 2 CPU cores: built in-process
    assert full.recipe("01_captioning").vision_lr_scale == 0.0  # the projector learns first, the encoder waits
    assert full.recipe("02_grounding").attribute_pair_steps == 0  # no ShapeWorld curriculum on real data
    config = full.recipe("02_grounding", lora_rank=16, gradient_checkpointing=True).train_config()
    assert (config.vision_lr_scale, config.lm_lr_scale, config.grad_accum) == (0.01, 0.01, 4)
    assert config.lora_rank == 16 and config.gradient_checkpointing and config.lr == 5e-3


def test_smoke_mode_shrinks_every_recipe_and_keeps_the_rest(monkeypatch):
    monkeypatch.setenv("VLMKIT_SMOKE", "1")
    ground = load_profile("tiny", announce=False).recipe("02_grounding")
    assert (ground.steps, ground.first_token_steps, ground.codec_steps) == (20, 10, 4)
    assert ground.lr == RECIPES["tiny"]["02_grounding"].lr and ground.examples_per_scene == 2


def test_train_config_carries_the_recipe():
    config = GroundRecipe(steps=1000, lr=1e-3, evaluations=4, first_token_steps=100, warmup_steps=500).train_config()
    assert (config.steps, config.lr, config.eval_every, config.first_token_steps) == (1000, 1e-3, 250, 100)
    assert GroundRecipe(steps=9500, evaluations=8).train_config().eval_every == 1188  # not 1187: see Recipe.evaluation_interval
    assert GroundRecipe(steps=6000, evaluations=7).train_config().eval_every == 858  # its docstring's example
    assert config.warmup_steps == 200  # at most a fifth of the steps
    assert SegmentRecipe(steps=10).train_config(seed=3).seed == 3
    # a caller's TrainConfig fields win over what the recipe derives (the learning benchmark
    # evaluates on its own schedule, in the precision it is told)
    recipe = GroundRecipe(steps=1000, evaluations=4, first_token_steps=100)
    config = recipe.train_config(eval_every=500, first_token_steps=0, mixed_precision="no")
    assert (config.eval_every, config.first_token_steps, config.mixed_precision) == (500, 0, "no")


def test_overrides_are_checked_against_the_fields():
    recipe = recipe_for("04_combined", "tiny", steps=50, task_weights={"ground": 1.0})
    assert isinstance(recipe, CombinedRecipe) and recipe.steps == 50 and recipe.task_weights == {"ground": 1.0}
    with pytest.raises(ValueError, match=r"CombinedRecipe has no field \['stpes'\]"):
        recipe_for("04_combined", "tiny", stpes=50)
    # scenes are reused from notebook 02 on; notebook 01's short captioning run draws new ones
    with pytest.raises(ValueError, match=r"CaptionRecipe has no field \['scenes'\]"):
        recipe_for("01_captioning", "tiny", scenes=1000)
    assert recipe_for("03_segmentation", "tiny", scenes=1000).scenes == 1000
    assert recipe_for("04_combined", "tiny", scenes=1000).scenes == 1000
    with pytest.raises(ValueError, match="GroundRecipe: steps='many' is not int"):
        recipe_for("02_grounding", "tiny", steps="many")
    with pytest.raises(ValueError, match="steps=True is not int"):
        recipe_for("02_grounding", "tiny", steps=True)
    with pytest.raises(ValueError, match="lr=True is not float"):  # a bool is no learning rate either
        recipe_for("02_grounding", "tiny", lr=True)
    assert recipe_for("03_segmentation", "tiny", lr=1).lr == 1  # an int is a fine float
    with pytest.raises(ValueError, match="unknown stage"):
        recipe_for("05_video", "tiny")
    with pytest.raises(ValueError, match="unknown profile"):
        recipe_for("02_grounding", "huge")
    assert dataclasses.is_dataclass(recipe) and recipe == dataclasses.replace(recipe)


def test_assignments_parse_to_typed_values():
    assert parse_assignments(["steps=200", "lr=1e-3", "task_weights={\"ground\": 1}", "name=abc"]) == \
        {"steps": 200, "lr": 1e-3, "task_weights": {"ground": 1}, "name": "abc"}
    with pytest.raises(ValueError, match="key=value"):
        parse_assignments(["steps"])


def test_the_quick_recipe_scales_every_step_count_and_nothing_else():
    series, quick = recipe_for("02_grounding", "tiny"), recipe_for("02_grounding", "tiny", quick=True)
    assert (quick.steps, quick.first_token_steps, quick.attribute_pair_steps, quick.codec_steps) == (
        round(series.steps * QUICK_FRACTION), round(series.first_token_steps * QUICK_FRACTION),
        round(series.attribute_pair_steps * QUICK_FRACTION), round(series.codec_steps * QUICK_FRACTION))
    assert quick.warmup_steps == series.warmup_steps and quick.lr == series.lr and quick.eval_size == series.eval_size
    assert recipe_for("04_combined", "tiny", quick=True).cycle_steps == round(100 * QUICK_FRACTION)
    # overrides apply to the quick recipe, and CI's smoke sizes win over it
    assert recipe_for("01_captioning", "tiny", quick=True, lr=1e-3).lr == 1e-3
    assert recipe_for("02_grounding", "tiny", smoke=True, quick=True).steps == GroundRecipe.smoke_sizes["steps"]


def test_recipe_changes_name_what_differs_from_the_nearest_series_recipe():
    assert recipe_changes("02_grounding", recipe_for("02_grounding", "tiny")) == (False, {})
    assert recipe_changes("02_grounding", recipe_for("02_grounding", "full")) == (False, {})
    assert recipe_changes("02_grounding", recipe_for("02_grounding", "tiny", smoke=True)) == (False, {})
    assert recipe_changes("02_grounding", recipe_for("02_grounding", "tiny", quick=True)) == (True, {})
    assert recipe_changes("02_grounding", recipe_for("02_grounding", "tiny", first_token_steps=0)) == (
        False, {"first_token_steps": 0})
    assert recipe_changes("01_captioning", recipe_for("01_captioning", "tiny", quick=True, lr=1e-3)) == (
        True, {"lr": 1e-3})
    with pytest.raises(ValueError, match="not a recipe of stage '01_captioning'"):
        recipe_changes("01_captioning", recipe_for("02_grounding", "tiny"))
