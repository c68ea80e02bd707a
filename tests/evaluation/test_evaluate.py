"""object_hits: the breakdown that tells "found an object" from "found the named one"."""

import pytest

from vlmkit.evaluation.evaluate import Scored, object_hits
from vlmkit.text.codecs import Parsed, ParseFailure
from vlmkit.text.tasks import Example

LEFT, RIGHT = [0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0]
A, B, C = LEFT, [20.0, 20.0, 30.0, 30.0], [40.0, 40.0, 50.0, 50.0]


def _result(queries):
    examples = [Example("ground", None, "locate: x", "", row={"image_id": image, "box": box}) for image, box, _ in queries]
    return Scored({}, examples, [""] * len(examples), [p for _, _, p in queries])


def test_an_answer_that_ignores_the_expression_lands_on_one_object():
    both_on_left = [("two", LEFT, Parsed((0.0, 0.0, 10.0, 10.0))), ("two", RIGHT, Parsed((1.0, 0.0, 11.0, 10.0)))]
    hits = object_hits(_result(both_on_left))
    assert list(hits) == [2]
    assert hits[2] == pytest.approx({"queries": 2, "on_some": 1.0, "on_named": 0.5, "chance": 0.5, "distinct": 1.0})


def test_misses_and_unparsed_answers_count_as_queries_but_land_nowhere():
    queries = [("three", A, Parsed((0.0, 0.0, 10.0, 10.0))),         # right object
               ("three", B, Parsed(failure=ParseFailure.TRUNCATED)),  # no box
               ("three", C, Parsed((60.0, 60.0, 64.0, 64.0))),        # on no object
               ("two", LEFT, Parsed((20.0, 0.0, 30.0, 10.0))),        # on the other object
               ("two", RIGHT, Parsed((0.0, 0.0, 10.0, 10.0)))]        # on the other object
    hits = object_hits(_result(queries))
    assert hits[3] == pytest.approx({"queries": 3, "on_some": 1 / 3, "on_named": 1 / 3, "chance": 1 / 9, "distinct": 1.0})
    assert hits[2] == pytest.approx({"queries": 2, "on_some": 1.0, "on_named": 0.0, "chance": 0.5, "distinct": 2.0})


def test_the_threshold_decides_what_counts_as_on_an_object():
    half_overlap = [("one", A, Parsed((5.0, 0.0, 15.0, 10.0)))]  # IoU 1/3 with A
    assert object_hits(_result(half_overlap))[1]["on_named"] == 0.0
    assert object_hits(_result(half_overlap), threshold=0.3)[1]["on_named"] == 1.0


def test_locate_segment_scores_the_outline_and_the_box(monkeypatch):
    """Answers are scored as parsed: the true located outline scores its outline's IoU and a
    box hit; a box cut short parses to nothing and counts as a miss on both."""
    import vlmkit.evaluation.evaluate as evaluate
    from vlmkit.data.shapeworld import ShapeWorld
    from vlmkit.train.profiles import new_model

    model = new_model("tiny", vit_hidden=32, vit_layers=1, vit_heads=2, lm_hidden=32, lm_layers=1, lm_heads=2)
    rows = [r for r in ShapeWorld().dataset("val", 4, progress=False)]
    truth = lambda m, examples, *a, **k: [ex.answer for ex in examples]  # noqa: E731
    monkeypatch.setattr(evaluate, "predict", truth)
    right = evaluate.evaluate_segmentation(model, rows, task="locate_segment", progress=False)
    outline_alone = evaluate.evaluate_segmentation(model, rows, task="segment", progress=False)
    assert right.metrics["box_acc@0.5"] == 1.0 and right.metrics["parse_rate"] == 1.0
    assert right.metrics["miou"] == outline_alone.metrics["miou"] > 0.8  # the same outline, scored the same
    cut = lambda m, examples, *a, **k: [" ".join(ex.answer.split()[:3]) for ex in examples]  # noqa: E731
    monkeypatch.setattr(evaluate, "predict", cut)
    truncated = evaluate.evaluate_segmentation(model, rows, task="locate_segment", progress=False)
    assert truncated.metrics["parse_rate"] == 0.0 and truncated.metrics["box_acc@0.5"] == 0.0
    assert truncated.metrics["miou"] == 0.0 and truncated.parsed[0].detail.startswith("the box needs 4")
    with pytest.raises(ValueError, match="scores 'segment' or 'locate_segment', not 'ground'"):
        evaluate.evaluate_segmentation(model, rows, task="ground")


def test_pointing_scores_what_the_model_answered(monkeypatch):
    """The taught point is inside its object at distance ~0; the point of another object is
    outside; a cut answer does not parse."""
    import numpy as np

    import vlmkit.evaluation.evaluate as evaluate
    from vlmkit.train.profiles import new_model
    from vlmkit.train.streams import multi_object_world

    model = new_model("tiny", vit_hidden=32, vit_layers=1, vit_heads=2, lm_hidden=32, lm_layers=1, lm_heads=2)
    rows = [r for r in multi_object_world().dataset("val", 3, progress=False)]
    monkeypatch.setattr(evaluate, "predict", lambda m, examples, *a, **k: [ex.answer for ex in examples])
    right = evaluate.evaluate_pointing(model, rows, progress=False).metrics
    assert right["inside"] == 1.0 and right["mean_distance"] < 1.0 and right["parse_rate"] == 1.0

    def elsewhere(m, examples, *a, **k):  # the answer for the next row of the same scene
        out = []
        for ex in examples:
            scene = [r for r in rows if r["image_id"] == ex.row["image_id"] and r["id"] != ex.row["id"]]
            out.append(evaluate.make_example(scene[0], "point", model.codec, np.random.default_rng(0)).answer)
        return out

    monkeypatch.setattr(evaluate, "predict", elsewhere)
    wrong = evaluate.evaluate_pointing(model, rows, progress=False).metrics
    assert wrong["inside"] < 0.5 and wrong["mean_distance"] > 5
    monkeypatch.setattr(evaluate, "predict", lambda m, examples, *a, **k: ["<loc_3>" for _ in examples])
    assert evaluate.evaluate_pointing(model, rows, progress=False).metrics["parse_rate"] == 0.0


def test_evaluate_tasks_scores_each_task_on_the_rows_that_can_serve_it(micro_model):
    from vlmkit.data.shapeworld import ShapeWorld
    from vlmkit.evaluation.evaluate import evaluate_tasks

    objects = ShapeWorld().rows("val", 0)
    scene = {**objects[0], "id": "scene", "expressions": [], "expression_kinds": [], "captions": ["a red circle"]}
    boxes = [{**r, "polygons": [], "captions": []} for r in objects[1:]]
    scores = evaluate_tasks(micro_model, [objects[0], scene, *boxes], ["ground", "locate_segment", "caption"],
                            progress=False)
    assert scores["ground"]["n"] == len(objects) and scores["locate_segment"]["n"] == 1
    assert {"acc@0.5", "acc@0.75", "mean_iou"} <= set(scores["ground"])
    assert {"miou", "oiou", "p@0.5"} <= set(scores["locate_segment"]) and {"bleu4", "cider"} <= set(scores["caption"])
    with pytest.raises(ValueError, match="no row can score 'point': it needs expressions and an outline"):
        evaluate_tasks(micro_model, boxes, ["point"], progress=False)
