import json
import subprocess
import sys
from importlib.metadata import entry_points

import numpy as np
import pytest
from PIL import Image

from vlmkit.cli import main
from vlmkit.storage.checkpoint import load_model, save_checkpoint

from tests.data.test_sources import write_protocol_data

COMMANDS = ("demo", "train", "ground", "segment", "eval")


def test_help_of_the_command_and_every_subcommand_exits_zero():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "vlmkit"]
    assert script.value == "vlmkit.cli:main"
    for args in ([], *([c] for c in COMMANDS)):
        done = subprocess.run([sys.executable, "-m", "vlmkit", *args, "--help"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "usage: vlmkit" in done.stdout


def _run(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    return done.value.code, out, err


@pytest.fixture
def checkpoint_and_image(micro_model, tmp_path):
    path = save_checkpoint(micro_model, tmp_path / "ckpt")
    image = tmp_path / "scene.png"
    Image.fromarray(np.full((48, 64, 3), 200, np.uint8)).save(image)
    return path, image


def test_ground_prints_a_box_and_writes_the_overlay(checkpoint_and_image, tmp_path, capsys):
    path, image = checkpoint_and_image
    code, out, _ = _run(["ground", str(path), str(image), "The red circle.", "--out", str(tmp_path / "o.png")], capsys)
    assert code == 0
    assert "answer: <loc_" in out and "box (x1, y1, x2, y2 pixels): [" in out
    assert Image.open(tmp_path / "o.png").size[0] > 100


def test_segment_prints_an_outline_or_says_why_not(checkpoint_and_image, tmp_path, capsys):
    path, image = checkpoint_and_image
    code, out, _ = _run(["segment", str(path), str(image), "the square", "--out", str(tmp_path / "s.png")], capsys)
    assert (code, "outline part 0" in out) == (0, True) or (code, "no outline:" in out) == (1, True)


@pytest.mark.parametrize("argv, message", [
    (["ground", "{ckpt}", "{image}", "the purple elephant"], "vocabulary has no ['elephant']"),
    (["ground", "{tmp}/nowhere", "{image}", "the circle"], "no checkpoint at"),
    (["ground", "{ckpt}", "{tmp}/missing.png", "the circle"], "image not found"),
    (["train", "02_grounding", "--set", "stpes=3"], "GroundRecipe has no field ['stpes']"),
])
def test_bad_input_ends_with_one_line_and_status_two(checkpoint_and_image, tmp_path, capsys, argv, message):
    path, image = checkpoint_and_image
    argv = [a.format(ckpt=path, image=image, tmp=tmp_path) for a in argv]
    code, _, err = _run(argv, capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_train_runs_a_stage_with_its_recipe_and_saves_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VLMKIT_SMOKE", "1")
    code, out, _ = _run(["train", "01_captioning", "--set", "steps=3", "eval_size=2",
                         "--checkpoint-dir", str(tmp_path)], capsys)
    assert code == 0 and "CaptionRecipe(steps=3," in out and '"cider"' in out
    # not the series' recipe: a scratch folder, said where, and the series' folder untouched
    folder = tmp_path / "scratch" / "01_captioning-eval_size=2,steps=3"
    assert f"saved to {folder}" in out and not (tmp_path / "01_captioning").exists()
    assert load_model(folder).config.codec_bins == 64
    assert (folder / "results.json").is_file()


def test_eval_refcoco_prints_the_papers_table_names_what_is_missing_and_saves_it(checkpoint_and_image, tmp_path,
                                                                                 capsys, monkeypatch):
    path, _ = checkpoint_and_image
    write_protocol_data(tmp_path / "data", {"refcoco": "refer", "refcoco+": "hub"})  # no RefCOCOg
    monkeypatch.setenv("VLMKIT_DATA", str(tmp_path / "data"))
    out_file = tmp_path / "tables" / "refcoco.json"
    code, out, _ = _run(["eval", str(path), "--refcoco", "--tasks", "ground", "locate_segment", "--out",
                         str(out_file)], capsys)
    assert code == 0
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if "acc@0.5" in line)
    assert lines[header].split() == ["|", "objects", "|", "queries", "|", "acc@0.5", "|", "miou", "|", "oiou"]
    names = [line.split("|")[0].strip() for line in lines[header + 1:header + 9]]
    assert names == ["RefCOCO val", "RefCOCO testA", "RefCOCO testB", "RefCOCO+ val", "RefCOCO+ testA",
                     "RefCOCO+ testB", "RefCOCOg val", "RefCOCOg test"]
    assert lines[header + 7].split()[-1] == "-" and "RefCOCOg test: missing: refcocog: neither" in out
    saved = json.loads(out_file.read_text())
    assert saved["data_root"] == str(tmp_path / "data") and len(saved["splits"]) == 8
    assert saved["splits"][0]["queries"] == 2 and 0.0 <= saved["splits"][0]["miou"] <= 1.0
    assert "refs(umd).p" in saved["splits"][7]["missing"] and f"saved to {out_file}" in out


def test_eval_refcoco_without_any_split_or_with_other_tasks_ends_with_status_two(checkpoint_and_image, tmp_path,
                                                                               capsys, monkeypatch):
    path, _ = checkpoint_and_image
    monkeypatch.setenv("VLMKIT_DATA", str(tmp_path / "nothing"))
    code, out, err = _run(["eval", str(path), "--refcoco", "--out", str(tmp_path / "t.json")], capsys)
    assert code == 2 and "no split of the protocol found under" in err and out.count(": missing: ") == 8
    code, _, err = _run(["eval", str(path), "--refcoco", "--tasks", "ground", "caption"], capsys)
    assert code == 2 and "--refcoco scores boxes (ground) and at most one outline task" in err


# ---- data of your own ----------------------------------------------------------------------
@pytest.mark.parametrize("command", ["export", "convert", "check", "app", "convert coco", "convert refcoco",
                                     "convert refcoco-hub", "convert refcoco-parquet", "convert shapeworld"])
def test_help_of_the_data_commands_exits_zero(command, capsys):
    code, out, _ = _run([*command.split(), "--help"], capsys)
    assert code == 0 and out.startswith(f"usage: vlmkit {command}")


def test_check_summarises_a_file_and_names_a_bad_line(coco_sample_dir, tmp_path, capsys):
    code, out, _ = _run(["check", str(coco_sample_dir / "your_data.jsonl")], capsys)
    assert code == 0 and "your_data.jsonl: 42 records -> 42 rows on 10 images" in out
    text = (coco_sample_dir / "your_data.jsonl").read_text().replace('"image": "', f'"image": "{coco_sample_dir}/')
    bad = tmp_path / "bad.jsonl"  # elsewhere, so with absolute image paths, and a first line with 5 box numbers
    bad.write_text(text.splitlines()[0].replace('"box": [', '"box": [900, ') + "\n" + text)
    code, _, err = _run(["check", str(bad)], capsys)
    assert code == 2 and err.count("\n") == 1 and f"{bad}, line 1, field 'box': a box is four numbers" in err
    code, out, _ = _run(["check", str(bad), "--skip-bad"], capsys)
    assert code == 0 and "skipped 1 bad line(s): 1" in out and "42 rows" in out


def test_convert_train_and_eval_on_a_file_of_your_own(micro_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VLMKIT_SMOKE", "1")
    mine = tmp_path / "mine.jsonl"
    code, out, _ = _run(["convert", "shapeworld", str(mine), "--scenes", "train=3", "val=2", "--world",
                         'shapes=["circle", "diamond", "hexagon"]', "--seed", "1"], capsys)
    assert code == 0 and f"to {mine}, 5 images saved beside it" in out
    assert any("diamond" in line or "hexagon" in line for line in mine.read_text().splitlines())
    start = save_checkpoint(micro_model, tmp_path / "start")
    code, out, _ = _run(["train", "05_your_data", "--data", str(mine), "--from", str(start), "--set", "steps=2",
                         "batch_size=4", "eval_size=2", "--checkpoint-dir", str(tmp_path / "ck")], capsys)
    assert code == 0 and "mine.jsonl: " in out and '"ground/acc@0.5"' in out and '"locate_segment/miou"' in out
    saved = tmp_path / "ck" / "scratch" / "05_your_data-batch_size=4,eval_size=2,steps=2"  # not the series' recipe
    assert f"saved to {saved}" in out
    code, out, _ = _run(["eval", str(saved), "--data", str(mine), "--tasks", "ground",
                         "locate_segment", "caption", "--json"], capsys)
    scores = json.loads(out)
    assert code == 0 and scores["ground"]["n"] == sum(1 for line in mine.read_text().splitlines()
                                                      if '"val"' in line and '"expressions"' in line)
    assert {"acc@0.5", "acc@0.75", "mean_iou"} <= set(scores["ground"]) and "cider" in scores["caption"]
    code, _, err = _run(["eval", str(start), "--data", str(mine), "--split", "test"], capsys)
    assert code == 2 and "has no rows of split 'test' (splits: {'train'" in err


@pytest.mark.parametrize("argv, message", [
    (["train", "05_your_data", "--set", "steps=1"], "05_your_data fine-tunes on data of your own"),
    (["convert", "shapeworld", "{tmp}/x.jsonl", "--scenes", "train=0"], "--scenes takes SPLIT=COUNT"),
    (["convert", "shapeworld", "{tmp}/x.jsonl", "--world", "colour=red"], "SceneConfig has no field ['colour']"),
    (["convert", "coco", "{tmp}/none.json", "{tmp}", "{tmp}/x.jsonl"], "COCO annotation file not found"),
])
def test_your_data_commands_end_bad_input_with_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("VLMKIT_CHECKPOINT_DIR", str(tmp_path / "ck"))
    code, _, err = _run([a.format(tmp=tmp_path) for a in argv], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_app_without_its_extra_says_how_to_install_it(checkpoint_and_image, capsys, monkeypatch):
    import vlmkit.app

    def no_gradio():
        raise ImportError("vlmkit app needs gradio: pip install 'vlmkit[app]' (No module named 'gradio')")

    monkeypatch.setattr(vlmkit.app, "_gradio", no_gradio)
    code, _, err = _run(["app", str(checkpoint_and_image[0])], capsys)
    assert code == 2 and "pip install 'vlmkit[app]'" in err
