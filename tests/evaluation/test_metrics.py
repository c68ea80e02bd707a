import numpy as np
import pytest

from vlmkit.evaluation.metrics import SegmentationScores, caption_metrics, grounding_metrics
from vlmkit.text.codecs import Codec, Parsed


def test_grounding_metrics_count_unparsed_output_as_a_miss():
    codec = Codec("loc", 64)
    preds = [
        codec.parse_box("<loc_0> <loc_0> <loc_9> <loc_9>", 64, 64),  # IoU 1 with (0, 0, 10, 10)? decodes to .5 .. 9.5
        Parsed(value=(0.0, 0.0, 10.0, 10.0)),
        Parsed(value=(5.0, 0.0, 15.0, 10.0)),  # IoU 1/3
        codec.parse_box("no box here", 64, 64),
    ]
    targets = [(0.5, 0.5, 9.5, 9.5), (0, 0, 10, 10), (0, 0, 10, 10), (0, 0, 10, 10)]
    m = grounding_metrics(preds, targets)
    assert m["parse_rate"] == 0.75
    assert m["acc@0.5"] == 0.5
    assert m["acc@0.75"] == 0.5
    assert m["mean_iou"] == pytest.approx((1 + 1 + 1 / 3 + 0) / 4)
    with pytest.raises(ValueError, match="predictions for"):
        grounding_metrics(preds, targets[:2])


def test_segmentation_scores_hand_computed():
    scores = SegmentationScores()
    a = np.zeros((10, 10), bool)
    big = a.copy(); big[:, :5] = True  # noqa: E702  50 px
    half = a.copy(); half[:, :2] = True  # noqa: E702  20 px, inside big
    scores.add(big, big)  # IoU 1
    scores.add(half, big)  # IoU 0.4
    scores.add(a, big)  # empty prediction: IoU 0
    s = scores.summary()
    assert s["miou"] == pytest.approx((1 + 0.4 + 0) / 3)
    assert s["oiou"] == pytest.approx((50 + 20 + 0) / (50 + 50 + 50))
    assert s["dice"] == pytest.approx((1 + 40 / 70 + 0) / 3)
    assert s["p@0.5"] == pytest.approx(1 / 3)
    assert s["p@0.9"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="no samples"):
        SegmentationScores().summary()


def test_caption_metrics_perfect_and_disjoint():
    refs = {1: ["a red circle above a blue square"], 2: ["two green triangles on the left"]}
    perfect = caption_metrics({1: "A red circle above a blue square.", 2: "two green triangles on the left"}, refs)
    assert perfect["bleu4"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["cider"] > 1.0
    wrong = caption_metrics({1: "xyz", 2: "qqq"}, refs)
    assert wrong["bleu4"] < 1e-6 and wrong["cider"] == 0.0 and wrong["cider_se"] == 0.0
    # CIDEr-D is the mean of the captions' own scores: one right, one wrong -> the spread of two
    half = caption_metrics({1: "A red circle above a blue square.", 2: "qqq"}, refs)
    assert half["cider"] > 0 and half["cider_se"] == pytest.approx(half["cider"])  # std of (2c, 0) / sqrt(2) == c
    with pytest.raises(ValueError, match="same ids"):
        caption_metrics({1: "a"}, refs)


def test_pointing_metrics_hand_computed():
    """A 10x10 mask covering columns 2..4 of rows 2..4: (3.5, 3.5) is inside, 3 px from (3.5, 6.5);
    (5.0, 3.0) lies in pixel column 5, outside; an unparsed answer is outside with no distance."""
    import numpy as np
    import pytest

    from vlmkit.evaluation.metrics import pointing_metrics
    from vlmkit.text.codecs import Parsed, ParseFailure

    mask = np.zeros((10, 10), bool)
    mask[2:5, 2:5] = True
    predictions = [Parsed(value=(3.5, 3.5)), Parsed(value=(5.0, 3.0)), Parsed(failure=ParseFailure.TRUNCATED)]
    targets = [(3.5, 6.5), (5.0, 7.0), (3.0, 3.0)]
    scores = pointing_metrics(predictions, [mask] * 3, targets)
    assert scores["inside"] == pytest.approx(1 / 3) and scores["parse_rate"] == pytest.approx(2 / 3)
    assert scores["mean_distance"] == pytest.approx((3.0 + 4.0) / 2)
    assert scores["mean_distance_se"] == pytest.approx(0.5)  # std of (3, 4) / sqrt(2)
    assert scores["mean_distance_diag"] == pytest.approx(3.5 / np.hypot(10, 10))
    with pytest.raises(ValueError, match="as many predictions"):
        pointing_metrics(predictions, [mask], targets)


def _objects(*specs):
    from vlmkit.data.shapeworld.language import NamedObject

    return [NamedObject(*spec.split()) for spec in specs]


def test_caption_object_metrics_hand_computed():
    from vlmkit.evaluation.metrics import caption_object_metrics

    scene = _objects("big red circle", "small blue square", "small blue square")
    exact = _objects("small blue square", "big red circle", "small blue square")  # order is free
    wrong_colour = _objects("big green circle", "small blue square", "small blue square")  # P 2/3, R 2/3
    one_missing = _objects("small blue square", "big red circle")  # P 1, R 2/3, F1 4/5
    one_twice = _objects("big red circle", "big red circle", "small blue square")  # P 2/3, R 2/3: matched once
    scores = caption_object_metrics([exact, wrong_colour, one_missing, one_twice, None], [scene] * 5)
    assert scores["object_precision"] == pytest.approx((1 + 2 / 3 + 1 + 2 / 3 + 0) / 5)
    assert scores["object_recall"] == pytest.approx((1 + 2 / 3 + 2 / 3 + 2 / 3 + 0) / 5)
    assert scores["object_f1"] == pytest.approx((1 + 2 / 3 + 4 / 5 + 2 / 3 + 0) / 5)
    assert scores["exact"] == pytest.approx(1 / 5) and scores["parse_rate"] == pytest.approx(4 / 5)
    with pytest.raises(ValueError, match="2 captions for 1 scenes"):
        caption_object_metrics([exact, exact], [scene])


def test_captioning_scores_content_on_shapeworld_and_not_on_real_captions(micro_model, monkeypatch):
    import vlmkit.evaluation.evaluate as evaluate
    from vlmkit.data.shapeworld import ShapeWorld

    rows = list(ShapeWorld().dataset("val", 3, progress=False))
    perfect = {row["image_id"]: row["captions"][0] for row in rows}
    monkeypatch.setattr(evaluate, "predict", lambda model, examples, *a, **k: [perfect[ex.row["image_id"]] for ex in examples])
    metrics = evaluate.evaluate_captioning(micro_model, rows, progress=False).metrics
    assert metrics["object_f1"] == metrics["exact"] == metrics["parse_rate"] == 1.0
    real = [{**row, "captions": ["A man rides a horse on the beach."]} for row in rows]
    assert "object_f1" not in evaluate.evaluate_captioning(micro_model, real, progress=False).metrics


def test_exact_captions_are_marked_and_the_other_scenes_baseline_scores_them_against_the_wrong_scene(
        micro_model, monkeypatch):
    import vlmkit.evaluation.evaluate as evaluate
    from vlmkit.data.shapeworld import ShapeWorld

    rows = list(ShapeWorld().dataset("val", 4, progress=False))
    perfect = {row["image_id"]: row["captions"][0] for row in rows}
    perfect[rows[0]["image_id"]] = "a big mauve blob"  # outside the grammar: wrong, never a crash
    monkeypatch.setattr(evaluate, "predict", lambda model, examples, *a, **k: [perfect[ex.row["image_id"]] for ex in examples])
    result = evaluate.evaluate_captioning(micro_model, rows, progress=False)
    assert evaluate.captions_exact(result) == [False, True, True, True]
    baseline = evaluate.captions_of_other_scenes(result)
    assert baseline["object_f1"] < result.metrics["object_f1"] and baseline["cider"] < result.metrics["cider"]
    assert baseline["exact"] < 0.5
    with pytest.raises(ValueError, match="at least two scenes"):
        evaluate.captions_of_other_scenes(evaluate.Scored({}, result.examples[:1], result.answers[:1]))


def test_one_per_scene_keeps_the_first_query_of_each_image_in_order():
    from vlmkit.evaluation.evaluate import Scored, one_per_scene
    from vlmkit.text.tasks import Example

    images = ["a", "b", "a", "c", "b"]
    examples = [Example(task="ground", image=None, prompt="", answer="", row={"image_id": i}) for i in images]
    result = Scored({}, examples, [""] * 5)
    assert one_per_scene(result, [2, 0, 1, 4, 3]) == [2, 1, 3]
    assert one_per_scene(result, []) == []


def test_standard_error_of_a_mean_says_when_there_is_none():
    from vlmkit.evaluation.metrics import standard_error

    assert standard_error([1.0, 2.0, 3.0]) == pytest.approx(1.0 / 3 ** 0.5)
    assert standard_error([0.0]) == float("inf")  # one value: no estimate of its noise
    assert np.isnan(standard_error([]))  # nothing to average
