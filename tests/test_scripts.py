"""The diagnostic scripts' own logic (their numbers come from real models; see docs/experiments.md)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from shapely.geometry import box as rectangle

from vlmkit.shapeworld.scenes import Scene, SceneObject

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _square(colour: str, x0: int, y0: int, side: int, size: int = 32) -> SceneObject:
    mask = np.zeros((size, size), np.uint8)
    mask[y0:y0 + side, x0:x0 + side] = 1
    return SceneObject("square", colour, "big", (x0 + side / 2, y0 + side / 2), side / 2,
                       rectangle(x0, y0, x0 + side, y0 + side), mask=mask)


def test_each_cell_is_labelled_by_the_object_covering_most_of_it():
    probe = _script("feature_probe")
    # 32 px in a 2x2 grid of 16 px cells (256 px each). Red fills the top-left cell and spills
    # 64 px into the top-right one, where green covers 96 px and wins. Blue covers 4 px of the
    # bottom-right cell: under 20%, left out. Nothing covers the bottom-left cell.
    red, green, blue = _square("red", 0, 0, 16), _square("green", 24, 0, 8), _square("blue", 30, 30, 2)
    red.mask[0:16, 16:20] = 1
    green.mask[8:12, 24:32] = 1
    scene = Scene(np.zeros((32, 32, 3), np.uint8), [red, green, blue])
    assert probe.cell_labels(scene, 2, "colour", ["red", "green", "blue"]).tolist() == [0, 1, -1, -1]


def test_the_linear_probe_reads_what_is_there_and_not_what_is_not():
    probe = _script("feature_probe")
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (600, 4), generator=generator)
    readable = torch.nn.functional.one_hot(labels, 3).float() + 0.1 * torch.randn(600, 4, 3, generator=generator)
    noise = torch.randn(600, 4, 3, generator=generator)
    assert probe.linear_probe_accuracy(readable, labels, 3) > 0.95
    assert probe.linear_probe_accuracy(noise, labels, 3) < 0.5


def test_colour_fractions_count_the_pixels_of_each_colour_per_patch():
    probe = _script("binding_probe")
    from vlmkit.processor import MEAN, STD
    from vlmkit.shapeworld.scenes import BACKGROUND, COLOURS

    image = np.full((16, 16, 3), BACKGROUND, np.float32)
    image[0:8, 0:8] = COLOURS["red"]  # fills the top-left patch
    image[8:12, 8:16] = COLOURS["blue"]  # half of the bottom-right patch
    pixels = (torch.from_numpy(image).permute(2, 0, 1)[None] / 255 - MEAN) / STD
    fractions = probe.colour_fractions(pixels, patch=8)
    red, blue = 1 + list(COLOURS).index("red"), 1 + list(COLOURS).index("blue")
    assert fractions.shape == (1, 4, 1 + len(COLOURS))
    assert fractions[0, 0, red] == 1 and fractions[0, 1, 0] == 1 and fractions[0, 2, 0] == 1
    assert fractions[0, 3, blue] == 0.5 and fractions[0, 3, 0] == 0.5


def test_x1_binding_is_one_half_when_the_words_are_ignored():
    probe = _script("binding_probe")
    truth = torch.tensor([10, 40, 20, 50, 30, 30])  # three scenes; the last pair has equal x1
    assert probe.x1_binding(truth.clone(), truth) == 1.0
    same_answer_for_both = torch.tensor([12, 12, 48, 48, 0, 0])
    assert probe.x1_binding(same_answer_for_both, truth) == 0.5
    assert probe.x1_binding(truth.view(-1, 2).flip(1).reshape(-1), truth) == 0.0


def test_colour_pairs_ask_for_both_objects_of_a_two_colour_scene():
    probe = _script("binding_probe")
    from vlmkit.codecs import Codec

    pairs = probe.ColourPairs(Codec("loc", 64), "val", paired=True)
    first, second = pairs[0], pairs[1]
    assert first.image is second.image or np.array_equal(np.asarray(first.image), np.asarray(second.image))
    assert first.prompt != second.prompt and first.row["box"] != second.row["box"]
    assert probe.ColourPairs(Codec("loc", 64), "val", paired=True, colour_last=True)[0].prompt.startswith(
        "locate: the shape ")


def test_accuracy_by_named_attributes_scores_attribute_expressions_alone():
    from vlmkit.tasks import Example

    diagnosis = _script("grounding_diagnosis")
    queries = [("the red shape", "attribute", 0.9), ("the green shape", "attribute", 0.2),
               ("the circle", "attribute", 0.5), ("the leftmost circle", "absolute", 0.0)]
    result = {"examples": [Example("ground", None, f"locate: {e}", "", {}, e, kind) for e, kind, _ in queries],
              "ious": np.array([iou for _, _, iou in queries])}
    assert diagnosis.accuracy_by_named_attributes(result) == {"colour": {"queries": 2, "acc@0.5": 0.5},
                                                              "shape": {"queries": 1, "acc@0.5": 1.0}}


def _results(path: Path, steps: list[int], minutes: list[float], colour: bool = False) -> Path:
    curve = [{"step": s, "train_minutes": m, "acc@0.5": s / 20000} for s, m in zip(steps, minutes)]
    if colour:
        curve = [{**point, "colour_only": point["acc@0.5"] / 2} for point in curve]
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"curve": curve, "final": {"acc@0.5": curve[-1]["acc@0.5"]}}))
    return path


@pytest.mark.parametrize("x, expected", [("step", [[2000, 4000], [2000, 4000]]), ("minutes", [[5, 10], [3, 6]])])
def test_learning_curves_are_drawn_against_steps_or_minutes(tmp_path, monkeypatch, x, expected):
    plot = _script("plot_learning_curves")
    slow = _results(tmp_path / "slow" / "results.json", [2000, 4000], [5, 10])
    fast = _results(tmp_path / "fast" / "results.json", [2000, 4000], [3, 6], colour=True)
    out = tmp_path / "curves.png"
    monkeypatch.setattr("sys.argv", ["plot", str(slow), str(fast), "--x", x, "--out", str(out)])
    plot.main()
    lines = plot.plt.gcf().axes[0].lines
    runs = [line for line in lines if "final" in line.get_label()]
    colour = [line for line in lines if "colour-only" in line.get_label()]
    plot.plt.close("all")
    assert [list(line.get_xdata()) for line in runs] == expected
    assert [line.get_label() for line in runs] == ["slow (final 0.200)", "fast (final 0.200)"]
    # only the run that recorded it has a colour-only curve, drawn in its own colour
    assert [line.get_label() for line in colour] == ["fast: colour-only expressions"]
    assert list(colour[0].get_ydata()) == [0.05, 0.1] and colour[0].get_color() == runs[1].get_color()
    assert out.stat().st_size > 0


def test_a_missing_results_file_names_the_path_and_how_to_make_it(tmp_path, monkeypatch):
    plot = _script("plot_learning_curves")
    monkeypatch.setattr("sys.argv", ["plot", str(tmp_path / "nowhere" / "results.json")])
    with pytest.raises(SystemExit, match="no results file at .*nowhere.*learning_benchmark.py --out"):
        plot.main()


def test_speed_variants_are_parsed_into_typed_config_overrides():
    speed = _script("training_speed")
    assert speed.parse_overrides("lm_heads=8,vit_layers=2") == {"lm_heads": 8, "vit_layers": 2}
    assert speed.parse_overrides("codec_label_sigma=1.5,mp_skip=false,attn_implementation=sdpa") == \
        {"codec_label_sigma": 1.5, "mp_skip": False, "attn_implementation": "sdpa"}
    for malformed in ("lm_heads", "=8", "lm_heads=8,vit_layers"):
        with pytest.raises(ValueError, match="an assignment is key=value"):
            speed.parse_overrides(malformed)
