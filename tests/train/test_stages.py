"""The stage helpers the notebooks call: which tasks a stage trains, and notebook 03's
side-by-side of the two answer forms of an outline."""

import pytest
import torch

from vlmkit.data.shapeworld import ShapeWorld
from vlmkit.train.profiles import load_profile
from vlmkit.train.recipes import Recipe, recipe_for
from vlmkit.train.stages import compare_outline_answers, stage_stream


def test_each_stages_recipe_names_its_tasks():
    assert recipe_for("01_captioning", "tiny").tasks() == ["caption"]
    assert recipe_for("02_grounding", "tiny").tasks() == ["ground"]
    assert recipe_for("03_segmentation", "tiny").tasks() == ["locate_segment"]
    assert recipe_for("03_segmentation", "tiny", task="segment").tasks() == ["segment"]
    assert recipe_for("04_combined", "tiny").tasks() == ["caption", "ground", "locate_segment", "point", "describe"]
    with pytest.raises(NotImplementedError, match="names no tasks"):
        Recipe().tasks()


def test_stage_stream_is_one_task_or_the_recipes_mixture_with_its_scenes(micro_model):
    tiny, codec = load_profile("tiny"), micro_model.codec
    grounding = stage_stream(tiny, recipe_for("02_grounding", "tiny"), codec)
    assert {grounding[i].task for i in range(10)} == {"ground"}
    mixture = stage_stream(tiny, recipe_for("04_combined", "tiny", scenes=2), codec)
    examples = [mixture[i] for i in range(200)]
    assert {e.task for e in examples} == set(recipe_for("04_combined", "tiny").task_weights)
    for task in ("caption", "point"):  # two scenes reused in each task's stream
        assert len({e.row["image_id"] for e in examples if e.task == task}) == 2
    # another seed (the benchmarks, the cycle's arms): the profile's mixture of that seed
    recipe = recipe_for("04_combined", "tiny")
    seeded = stage_stream(tiny, recipe, codec, seed=1)
    expected = tiny.mixture_stream(recipe.task_weights, codec, seed=1)
    assert [(seeded[i].prompt, seeded[i].answer) for i in range(20)] == \
        [(expected[i].prompt, expected[i].answer) for i in range(20)]
    assert [seeded[i].prompt for i in range(20)] != [stage_stream(tiny, recipe, codec)[i].prompt
                                                     for i in range(20)]


def test_a_segment_recipe_refuses_a_task_without_an_outline():
    with pytest.raises(ValueError, match="SegmentRecipe.task='ground': choose one of"):
        recipe_for("03_segmentation", "tiny", task="ground")


def test_compare_outline_answers_trains_two_copies_and_scores_each_form(micro_model):
    before = {k: v.clone() for k, v in micro_model.state_dict().items()}
    rows = list(ShapeWorld().dataset("val", 2, progress=False))
    recipe = recipe_for("03_segmentation", "tiny", smoke=True, compare_steps=2, batch_size=4)
    table = compare_outline_answers(micro_model, rows, load_profile("tiny", announce=False), recipe)

    alone, located = table["outline alone"], table["box, then outline"]
    assert list(table) == ["outline alone", "box, then outline"]
    assert "box_acc@0.5" not in alone and 0.0 <= located["box_acc@0.5"] <= 1.0
    # both are asked locate: afterwards, on the same questions
    assert all(0.0 <= arm["locate acc@0.5"] <= 1.0 for arm in (alone, located))
    assert alone["n"] == located["n"] == sum(1 for r in rows if r["expressions"])
    # the box (4 location tokens) comes before the outline
    assert located["answer_tokens"] > alone["answer_tokens"]
    assert all(torch.equal(before[k], v) for k, v in micro_model.state_dict().items())


@pytest.fixture
def your_rows(tmp_path):
    """A file of your own, made from ShapeWorld: objects with boxes and outlines, and captions."""
    from vlmkit.data.convert import from_shapeworld
    from vlmkit.data.jsonl import read_jsonl

    written = from_shapeworld(tmp_path / "mine.jsonl", {"train": 3, "val": 2}, progress=False)
    return read_jsonl(written.path, progress=False)


def test_your_data_stream_draws_each_task_from_the_rows_that_can_serve_it(micro_model, your_rows):
    from vlmkit.train.stages import your_data_stream

    recipe = recipe_for("05_your_data", "tiny", task_weights={"ground": 1.0, "locate_segment": 1.0, "caption": 1.0})
    stream = your_data_stream(micro_model, recipe, your_rows.split("train"))
    examples = [stream[i] for i in range(60)]
    assert {e.task for e in examples} == {"ground", "locate_segment", "caption"}
    assert all(e.row["split"] == "train" and (e.task == "caption") == (not e.row["expressions"]) for e in examples)
    boxes_only = [{**r, "polygons": []} for r in your_rows.split("train")]
    with pytest.raises(ValueError, match="no row can train 'locate_segment': it needs expressions and an outline"):
        your_data_stream(micro_model, recipe, boxes_only)
    unknown = [{**your_rows.rows[0], "expressions": ["the purple elephant"]}]
    with pytest.raises(ValueError, match=r"row shapeworld/train/0/0: the model's vocabulary has no \['elephant'\]"):
        your_data_stream(micro_model, recipe_for("05_your_data", "tiny", task_weights={"ground": 1.0}), unknown)


def test_training_on_your_data_scores_its_held_out_rows_and_resumes(micro_model, your_rows, tmp_path, monkeypatch,
                                                                   capsys):
    from vlmkit.train.stages import stage_trainer, train_stage, your_data_stream

    monkeypatch.setenv("VLMKIT_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    profile = load_profile("tiny", announce=False)
    recipe = recipe_for("05_your_data", "tiny", smoke=True, steps=6, batch_size=4, eval_size=3)
    with pytest.raises(ValueError, match="05_your_data fine-tunes on data of your own"):
        train_stage("05_your_data", profile, recipe, start=micro_model)
    # a run interrupted after its save at step 3 ...
    stream = your_data_stream(micro_model, recipe, your_rows.split("train"))
    trainer = stage_trainer("05_your_data", micro_model, stream, recipe)
    trainer.train(until_step=3)
    trainer.save()
    # ... continues where it stopped when the same stage is trained again on the same file
    results = train_stage("05_your_data", profile, recipe, start=micro_model, data=your_rows.split("train"),
                          held_out=your_rows.split("val"))
    assert "at step 3 of 6" in capsys.readouterr().out and results["train_steps"] == 6
    assert {"ground/acc@0.5", "locate_segment/miou", "locate_segment/p@0.5"} <= set(results["metrics"])
    assert results["metrics"]["ground/n"] == 3  # the recipe's eval_size of the held-out rows
    grounding = recipe_for("02_grounding", "tiny", smoke=True, steps=2, batch_size=4)
    results = train_stage("02_grounding", profile, grounding, start=micro_model, data=your_rows.split("train"))
    assert results["metrics"] == {} and results["train_steps"] == 2  # no held-out rows: trained, not scored


def test_an_exercise_run_trains_into_scratch_and_leaves_the_series_checkpoint_alone(micro_model, tmp_path,
                                                                                     monkeypatch, capsys):
    from vlmkit.train.stages import (previous_stage, record_results, recorded_results, save_stage, stage_dir,
                                     stage_trainer)

    monkeypatch.setenv("VLMKIT_CHECKPOINT_DIR", str(tmp_path))
    tiny = load_profile("tiny")
    series = recipe_for("01_captioning", "tiny", smoke=True, batch_size=4, steps=2)
    assert stage_dir("01_captioning", series) == tmp_path / "scratch" / "01_captioning-batch_size=4,steps=2"
    series_model = tmp_path / "01_captioning" / "model.safetensors"
    save_stage(micro_model, "01_captioning")  # the series' checkpoint, as notebook 01 leaves it
    before = series_model.read_bytes()

    trainer = stage_trainer("01_captioning", micro_model, tiny.training_stream("caption", micro_model.codec, series),
                            series)
    assert "trains into" in capsys.readouterr().out
    trainer.train()
    folder = save_stage(micro_model, "01_captioning", trainer)
    record = record_results("01_captioning", {"bleu4": 0.1}, trainer)
    assert folder == stage_dir("01_captioning", series) and (folder / "results.json").is_file()
    assert record["train_steps"] == 2 and "train_minutes" in record
    assert series_model.read_bytes() == before and not (tmp_path / "01_captioning" / "results.json").exists()
    # the next notebook resumes the series' checkpoint; the quick series keeps its own
    assert stage_dir("01_captioning", quick=True) == tmp_path / "quick" / "01_captioning"
    assert stage_dir("02_grounding", recipe_for("02_grounding", "tiny", quick=True)) == tmp_path / "quick" / "02_grounding"
    previous_stage("01_captioning", stand_in=lambda: pytest.fail("the series' checkpoint is there"))
    # what a stage recorded is read back from the series' folder only (the exercise wrote to scratch/)
    assert recorded_results("01_captioning") is None
    record_results("01_captioning", {"cider": 3.4, "n": 100})
    assert recorded_results("01_captioning")["metrics"] == {"cider": 3.4, "n": 100}
    assert recorded_results("01_captioning", quick=True) is None
    stand_in = previous_stage("01_captioning", stand_in=lambda: "stand-in", quick=True)
    assert stand_in == "stand-in" and "quick/01_captioning" in capsys.readouterr().out


def test_scratch_folder_names_stay_short_and_distinct():
    from vlmkit.train.stages import stage_dir

    weights = [recipe_for("04_combined", "tiny", task_weights={"ground": float(w), "caption": 1.0, "point": 2.0,
                                                                 "describe": 3.0, "locate_segment": 4.0})
               for w in (1, 2)]
    names = [stage_dir("04_combined", r).name for r in weights]
    assert names[0] != names[1] and all(len(n) <= len("04_combined-") + 60 for n in names)


def test_the_run_without_the_curriculum_trains_a_copy_on_the_whole_task_from_the_first_step(micro_model, monkeypatch):
    from vlmkit.train import stages

    seen = {}

    class Recording(stages.Trainer):
        def __init__(self, model, stream, config, **kwargs):
            seen.update(config=config, stream=stream)
            super().__init__(model, stream, config, **kwargs)

    monkeypatch.setattr(stages, "Trainer", Recording)
    recipe = recipe_for("02_grounding", "tiny", smoke=True, batch_size=4, plain_steps=2, plain_scenes=1000)
    before = {k: v.clone() for k, v in micro_model.state_dict().items()}
    plain = stages.train_without_curriculum(micro_model, load_profile("tiny"), recipe)
    config, stream = seen["config"], seen["stream"]
    assert (config.steps, config.first_token_steps) == (2, 0)
    first = [stream[i] for i in range(8)]
    assert len({ex.row["image_id"] for ex in first}) == 8  # one question a scene, no pairs first
    assert all(torch.equal(before[k], v) for k, v in micro_model.state_dict().items())  # the start is untouched
    assert any(not torch.equal(before[k], v) for k, v in plain.state_dict().items())
