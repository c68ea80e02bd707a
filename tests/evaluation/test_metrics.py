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
    assert wrong["bleu4"] < 1e-6 and wrong["cider"] == 0.0
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
    assert scores["mean_distance_diag"] == pytest.approx(3.5 / np.hypot(10, 10))
    with pytest.raises(ValueError, match="as many predictions"):
        pointing_metrics(predictions, [mask], targets)
