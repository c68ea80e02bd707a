"""``segment`` asks the question its model was trained on and returns the outline either way."""

import numpy as np

import vlmkit.inference.answers as inference

BOX = (8.0, 8.0, 40.0, 40.0)
OUTLINE = [[(8.0, 8.0), (40.0, 8.0), (40.0, 40.0), (8.0, 40.0)]]


def _scripted(monkeypatch, micro_model):
    asked = []

    def predict(model, examples, *args, **kwargs):
        asked.extend(ex.prompt for ex in examples)
        codec = model.codec
        if examples[0].task == "locate_segment":
            return [codec.encode_located_outline(BOX, OUTLINE, 64, 64)]
        return [codec.encode_polygons(OUTLINE, 64, 64)]

    monkeypatch.setattr(inference, "predict", predict)
    return asked


def test_segment_asks_box_first_by_default_and_returns_the_outline(micro_model, monkeypatch):
    asked = _scripted(monkeypatch, micro_model)
    image = np.zeros((64, 64, 3), np.uint8)
    answer, outline = inference.segment(micro_model, image, "the red circle")
    alone_answer, alone = inference.segment(micro_model, image, "the red circle", box_first=False)
    assert asked == ["locate and segment: the red circle", "segment: the red circle"]
    assert answer != alone_answer and outline.ok and alone.ok
    assert np.allclose(outline.value[0], alone.value[0], atol=64 / micro_model.codec.num_bins)
    assert len(outline.value[0]) == 4


def test_segment_box_first_reports_why_an_answer_does_not_parse(micro_model, monkeypatch):
    monkeypatch.setattr(inference, "predict", lambda *a, **k: ["<loc_1> <loc_2>"])
    _, outline = inference.segment(micro_model, np.zeros((64, 64, 3), np.uint8), "the red circle")
    assert not outline.ok and outline.failure is not None


def test_point_and_caption_ask_their_prompts_and_parse_in_pixels_of_the_image(micro_model, monkeypatch):
    asked = []

    def predict(model, examples, *args, **kwargs):
        asked.extend(ex.prompt for ex in examples)
        return [model.codec.encode_point((30.0, 10.0), 120, 60) if examples[0].task == "point" else "a red circle"]

    monkeypatch.setattr(inference, "predict", predict)
    image = np.zeros((60, 120, 3), np.uint8)
    answer, parsed = inference.point(micro_model, image, "The red circle.")
    assert parsed.ok and np.allclose(parsed.value, (30.0, 10.0), atol=120 / micro_model.codec.num_bins)
    assert inference.caption(micro_model, image) == "a red circle"
    assert asked == ["locate the middle of: the red circle", "caption:"]
