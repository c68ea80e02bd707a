"""The probes' logic (their numbers come from real models; see docs/experiments/README.md)."""

import numpy as np
import pytest
import torch
from shapely.geometry import box as rectangle

from vlmkit.data.shapeworld.scenes import Scene, SceneObject
from vlmkit.evaluation import probes
from vlmkit.evaluation.evaluate import Scored


def _square(colour: str, x0: int, y0: int, side: int, size: int = 32) -> SceneObject:
    mask = np.zeros((size, size), np.uint8)
    mask[y0:y0 + side, x0:x0 + side] = 1
    return SceneObject("square", colour, "big", (x0 + side / 2, y0 + side / 2), side / 2,
                       rectangle(x0, y0, x0 + side, y0 + side), mask=mask)


def test_each_cell_is_labelled_by_the_object_covering_most_of_it():
    # 32 px in a 2x2 grid of 16 px cells (256 px each). Red fills the top-left cell and spills
    # 64 px into the top-right one, where green covers 96 px and wins. Blue covers 4 px of the
    # bottom-right cell: under 20%, left out. Nothing covers the bottom-left cell.
    red, green, blue = _square("red", 0, 0, 16), _square("green", 24, 0, 8), _square("blue", 30, 30, 2)
    red.mask[0:16, 16:20] = 1
    green.mask[8:12, 24:32] = 1
    scene = Scene(np.zeros((32, 32, 3), np.uint8), [red, green, blue])
    assert probes.cell_labels(scene, 2, "colour", ["red", "green", "blue"]).tolist() == [0, 1, -1, -1]


def test_the_linear_probe_reads_what_is_there_and_not_what_is_not():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (600, 4), generator=generator)
    readable = torch.nn.functional.one_hot(labels, 3).float() + 0.1 * torch.randn(600, 4, 3, generator=generator)
    noise = torch.randn(600, 4, 3, generator=generator)
    assert probes.linear_probe_accuracy(readable, labels, 3) > 0.95
    assert probes.linear_probe_accuracy(noise, labels, 3) < 0.5


def test_colour_fractions_count_the_pixels_of_each_colour_per_patch():
    from vlmkit.data.shapeworld.scenes import BACKGROUND, COLOURS
    from vlmkit.text.processor import MEAN, STD

    image = np.full((16, 16, 3), BACKGROUND, np.float32)
    image[0:8, 0:8] = COLOURS["red"]  # fills the top-left patch
    image[8:12, 8:16] = COLOURS["blue"]  # half of the bottom-right patch
    pixels = (torch.from_numpy(image).permute(2, 0, 1)[None] / 255 - MEAN) / STD
    fractions = probes.colour_fractions(pixels, patch=8)
    red, blue = 1 + list(COLOURS).index("red"), 1 + list(COLOURS).index("blue")
    assert fractions.shape == (1, 4, 1 + len(COLOURS))
    assert fractions[0, 0, red] == 1 and fractions[0, 1, 0] == 1 and fractions[0, 2, 0] == 1
    assert fractions[0, 3, blue] == 0.5 and fractions[0, 3, 0] == 0.5


def test_x1_binding_is_one_half_when_the_words_are_ignored():
    truth = torch.tensor([10, 40, 20, 50, 30, 30])  # three scenes; the last pair has equal x1
    assert probes.x1_binding(truth.clone(), truth) == 1.0
    same_answer_for_both = torch.tensor([12, 12, 48, 48, 0, 0])
    assert probes.x1_binding(same_answer_for_both, truth) == 0.5
    assert probes.x1_binding(truth.view(-1, 2).flip(1).reshape(-1), truth) == 0.0


def test_colour_pairs_ask_for_both_objects_of_a_two_colour_scene():
    from vlmkit.text.codecs import Codec

    pairs = probes.ColourPairs(Codec("loc", 64), "val", paired=True)
    first, second = pairs[0], pairs[1]
    assert first.image is second.image or np.array_equal(np.asarray(first.image), np.asarray(second.image))
    assert first.prompt != second.prompt and first.row["box"] != second.row["box"]
    assert probes.ColourPairs(Codec("loc", 64), "val", paired=True, colour_last=True)[0].prompt.startswith(
        "locate: the shape ")


def test_accuracy_by_named_attributes_scores_attribute_expressions_alone():
    from vlmkit.text.tasks import Example

    queries = [("the red shape", "attribute", 0.9), ("the green shape", "attribute", 0.2),
               ("the circle", "attribute", 0.5), ("the leftmost circle", "absolute", 0.0)]
    examples = [Example("ground", None, f"locate: {e}", "", {}, e, kind) for e, kind, _ in queries]
    result = Scored({}, examples, [""] * len(examples), ious=np.array([iou for _, _, iou in queries]))
    assert probes.accuracy_by_named_attributes(result) == {"colour": {"queries": 2, "acc@0.5": 0.5},
                                                              "shape": {"queries": 1, "acc@0.5": 1.0}}


def test_the_language_probe_is_the_token_weighted_next_token_loss(micro_model):
    """Each text after bos, scored on every token after it; texts weigh by their token count."""
    lm, tok = micro_model.lm.eval(), micro_model.tokenizer
    texts = ["the red circle", "the blue square on the left"]
    by_hand = []
    for text in texts:
        ids = torch.tensor([tok.bos_token_id, *tok(text, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            logits = lm(input_ids=ids[None]).logits[0, :-1]
        by_hand.append(torch.nn.functional.cross_entropy(logits, ids[1:], reduction="none"))
    expected = torch.cat(by_hand).mean().item()
    assert probes.language_model_loss(lm, tok, texts) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="at least one text"):
        probes.language_model_loss(lm, tok, [])
