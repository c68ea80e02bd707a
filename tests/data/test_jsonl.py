"""The JSON Lines format: good lines become rows, every bad line is named by file, line and field."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlmkit.data.coco import sample_folder
from vlmkit.data.jsonl import KEYS, LineError, read_jsonl, write_jsonl
from vlmkit.data.schema import RecordError, check_row


@pytest.fixture
def folder(tmp_path):
    """A 40x30 photo and a file beside it."""
    (tmp_path / "photos").mkdir()
    Image.fromarray(np.full((30, 40, 3), 90, np.uint8)).save(tmp_path / "photos" / "a.png")
    return tmp_path


def _write(folder, *lines) -> str:
    path = folder / "data.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


GOOD = {"image": "photos/a.png", "expressions": ["the grey square"], "box": [2, 3, 20, 25]}


def test_good_lines_become_unified_rows(folder):
    path = _write(folder, GOOD,
                  "",  # a blank line is no record
                  {"image": "photos/a.png", "expressions": ["the dot"],
                   "polygon": [[5, 5, 9, 5, 9, 8], [20, 20, 24, 20, 24, 22]], "split": "val", "id": 7},
                  {"image": str(folder / "photos" / "a.png"), "caption": ["a grey picture", "nothing much"]})
    data = read_jsonl(path, progress=False)
    assert data.records == 3 and not data.skipped and data.splits() == {"train": 2, "val": 1}
    box, outline, caption = data.rows
    for row in data.rows:
        check_row(row)
        assert (row["width"], row["height"], row["source"]) == (40, 30, "jsonl")
    assert box["box"] == [2.0, 3.0, 20.0, 25.0] and box["polygons"] == [] and box["id"] == "data.jsonl:1"
    assert box["expression_kinds"] == ["jsonl"] and box["split"] == "train"
    assert box["image"] == str(folder / "photos/a.png")
    assert outline["box"] == [5.0, 5.0, 24.0, 22.0] and len(outline["polygons"]) == 2 and outline["id"] == "7"
    assert caption["captions"] == ["a grey picture", "nothing much"] and caption["box"] == [0.0, 0.0, 40.0, 30.0]
    assert caption["expressions"] == [] and data.split("val") == [outline]
    with pytest.raises(ValueError, match="no rows of split 'test' \\(splits: {'train': 2, 'val': 1}\\)"):
        data.split("test")
    assert "3 records -> 3 rows on 1 images" in data.summary()


DOCS = Path(__file__).resolve().parents[2] / "docs" / "data.md"
PARK = {"image": "photos/park.jpg", "expressions": ["the brown dog"], "box": [48, 30, 200, 180]}
# one line for each kind of bad line in docs/data.md's table (its first column), after a good line with id dog-1
DOCUMENTED = {
    "not JSON": '{"image": "photos/park.jpg", "expressions": ["the brown dog"]',
    "not an object": '["photos/park.jpg", "the brown dog"]',
    "an unknown key": {**PARK, "bbox": [48, 30, 152, 150]},
    "no image": {"expressions": ["the brown dog"], "box": [48, 30, 200, 180]},
    "a missing image": {**PARK, "image": "photos/nowhere.jpg"},
    "a file that is not an image (or one the loader refuses: NaN values, too many pixels)":
        {**PARK, "image": "notes.jpg"},
    "expressions that are not a list of phrases": {**PARK, "expressions": "the brown dog"},
    "neither expressions nor a caption": {"image": "photos/park.jpg", "box": [48, 30, 200, 180]},
    "a box or polygon without expressions": {"image": "photos/park.jpg", "caption": "a park", "box": [48, 30, 20, 18]},
    "expressions without a box or polygon": {"image": "photos/park.jpg", "expressions": ["the brown dog"]},
    "a box that is not four numbers": {**PARK, "box": [48, 30, 152]},
    "a box with NaN or infinity": '{"image": "photos/park.jpg", "expressions": ["x"], "box": [48, NaN, 200, 180]}',
    "an inverted box (or COCO's order)": {**PARK, "box": [200, 30, 48, 180]},
    "a box outside the image": {**PARK, "box": [48, 30, 700, 180]},
    "a polygon that is one flat list": {**PARK, "polygon": [60, 40, 190, 40, 120, 170]},
    "a polygon part with fewer than 3 points": {**PARK, "polygon": [[60, 40, 190, 40]]},
    "a polygon part with an odd count": {**PARK, "polygon": [[60, 40, 190, 40, 120]]},
    "a polygon with NaN or infinity":
        '{"image": "photos/park.jpg", "expressions": ["x"], "polygon": [[60, 40, NaN, 40, 120, 170]]}',
    "a polygon vertex outside the image": {**PARK, "polygon": [[60, 40, 990, 40, 120, 170]]},
    "a caption that is not text": {"image": "photos/park.jpg", "caption": 42},
    "an empty split": {**PARK, "split": ""},
    "a repeated id": {**PARK, "id": "dog-1"},
}


def _documented() -> dict[str, str]:
    """docs/data.md's table of bad lines: kind -> the message it shows."""
    section = DOCS.read_text().split("### The messages, one per kind of bad line", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| `(.+)` \|$", section, flags=re.M)
    return {kind: message for kind, message in rows if kind != "bad line"}


@pytest.mark.parametrize("kind", list(_documented()))
def test_every_kind_of_bad_line_gives_the_message_the_docs_show(tmp_path, kind):
    folder = tmp_path / "mine"  # the docs say /data/mine
    (folder / "photos").mkdir(parents=True)
    Image.fromarray(np.full((408, 640, 3), 90, np.uint8)).save(folder / "photos" / "park.jpg")
    (folder / "notes.jpg").write_text("these are notes, not pixels")
    line = DOCUMENTED[kind]
    path = folder / "mine.jsonl"
    path.write_text(json.dumps({**PARK, "id": "dog-1"}) + "\n" + (line if isinstance(line, str) else json.dumps(line))
                    + "\n")
    with pytest.raises(LineError) as caught:
        read_jsonl(path, progress=False)
    error, shown = caught.value, _documented()[kind]
    assert str(error).replace(str(path), "mine.jsonl").replace(f"{folder}/", "/data/mine/") == shown
    assert (error.path, error.line) == (path, 2) and isinstance(error, RecordError)  # the CLI's one-line errors
    assert error.field == (re.search(r"field '(\w+)'", shown).group(1) if "field '" in shown else None)


def test_the_docs_table_shows_every_kind_the_test_checks():
    assert set(_documented()) == set(DOCUMENTED)


def test_a_line_that_is_not_utf8_is_named_too(folder):
    path = folder / "data.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + json.dumps({**GOOD, "expressions": ["caf\xe9"]}).encode("latin-1")
                     .replace(b"\\u00e9", b"\xe9") + b"\n")
    with pytest.raises(LineError, match=r"data.jsonl, line 2: not UTF-8 text \(byte \d+: b'\\xe9'\)"):
        read_jsonl(path, progress=False)


def test_a_repeated_id_names_the_line_that_had_it(folder):
    path = _write(folder, {**GOOD, "id": "a"}, GOOD, {**GOOD, "id": "a"})
    with pytest.raises(LineError, match=r"line 3, field 'id': id 'a' is already the id of line 1"):
        read_jsonl(path, progress=False)


def test_skip_bad_keeps_the_good_lines_and_reports_every_skipped_one(folder, capsys):
    path = _write(folder, GOOD, "{oops", {**GOOD, "box": [9, 9, 1, 1]}, GOOD)
    data = read_jsonl(path, skip_bad=True, progress=False)
    assert len(data.rows) == 2 and data.records == 4
    assert [(e.line, e.field) for e in data.skipped] == [(2, None), (3, "box")]
    printed = capsys.readouterr().out
    assert "skipped 2 bad line(s): 2, 3" in printed and "line 3, field 'box'" in printed
    assert "skipped 2 bad line(s): 2, 3" in data.summary()


def test_a_file_with_nothing_good_in_it_is_an_error(folder):
    with pytest.raises(RecordError, match="holds no records"):
        read_jsonl(_write(folder, "", "  "), progress=False)
    with pytest.raises(RecordError, match="every one of the 1 records .* is bad"):
        read_jsonl(_write(folder, "{oops"), skip_bad=True, progress=False)
    with pytest.raises(FileNotFoundError, match="JSON Lines file not found"):
        read_jsonl(folder / "missing.jsonl")


def test_boxes_are_in_pixels_of_the_upright_image(folder):
    """A phone photo stored sideways (EXIF orientation 6) is 30 wide as a person sees it, not 40."""
    image = Image.fromarray(np.zeros((30, 40, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(folder / "photos" / "sideways.jpg", exif=exif)
    line = {"image": "photos/sideways.jpg", "expressions": ["x"], "box": [1, 1, 25, 38]}
    (row,) = read_jsonl(_write(folder, line), progress=False).rows
    assert (row["width"], row["height"]) == (30, 40)
    with pytest.raises(LineError, match="lies outside the 30x40 image"):
        read_jsonl(_write(folder, {**line, "box": [1, 1, 38, 25]}), progress=False)


def test_written_rows_read_back_the_same_and_images_in_memory_are_saved(folder):
    rows = read_jsonl(_write(folder, GOOD, {**GOOD, "polygon": [[5, 5, 9, 5, 9, 8]], "split": "val"}),
                      progress=False).rows
    in_memory = {**rows[1], "id": "mem", "image_id": "scene/1", "image": Image.new("RGB", (40, 30), (1, 2, 3)),
                 "captions": ["a scene"]}
    nothing = {**rows[0], "id": "nothing", "expressions": [], "expression_kinds": []}
    written = write_jsonl([*rows, in_memory, nothing], folder / "out" / "copy.jsonl")
    assert (written.lines, written.images_saved, written.left_out) == (4, 1, ["nothing"])
    lines = [json.loads(t) for t in (folder / "out" / "copy.jsonl").read_text().splitlines()]
    assert lines[0]["image"] == "../photos/a.png" and set(lines[0]) <= set(KEYS)
    assert lines[2]["image"] == lines[3]["image"] == "copy_images/scene_1.png" and lines[3]["caption"] == ["a scene"]
    back = read_jsonl(folder / "out" / "copy.jsonl", progress=False).rows
    for before, after in zip(rows, back):
        assert (after["box"], after["polygons"], after["expressions"], after["split"]) == \
            (before["box"], before["polygons"], before["expressions"], before["split"])
    assert back[2]["box"] == rows[1]["box"] and back[3]["captions"] == ["a scene"]
    assert Image.open(folder / "out" / "copy_images" / "scene_1.png").getpixel((0, 0)) == (1, 2, 3)


def test_the_packaged_example_file_reads_cleanly():
    data = read_jsonl(sample_folder() / "your_data.jsonl", progress=False)
    assert not data.skipped and len({r["image"] for r in data.rows}) == 10
    named = [r for r in data.rows if r["expressions"]]
    assert len(named) == len(json.loads((sample_folder() / "annotations" / "expressions_vlmkit.json").read_text()))
    assert all(r["polygons"] for r in named) and sum(bool(r["captions"]) for r in data.rows) == 10


def test_the_docs_example_file_holds_every_kind_of_line_and_reads_cleanly():
    data = read_jsonl(DOCS.parent / "data_example.jsonl", progress=False)
    kinds = {(bool(r["expressions"]), bool(r["polygons"]), bool(r["captions"])) for r in data.rows}
    assert {(True, False, False), (True, True, False), (False, False, True)} <= kinds and not data.skipped
    lines = [json.loads(line) for line in (DOCS.parent / "data_example.jsonl").read_text().splitlines()]
    assert any("box" not in line and "polygon" in line for line in lines) and data.splits() == {"train": 4, "val": 2}
    assert {key for line in lines for key in line} == set(KEYS)
