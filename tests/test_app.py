"""`vlmkit app`: the page's logic on good and bad uploads, then the page itself in a headless
Chromium (the ``chromium`` fixture of conftest.py: skipped, with the reason, where no browser is installed)."""

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlmkit.app import TASKS, answer, examples


@pytest.fixture
def scene(tmp_path) -> Path:
    path = tmp_path / "scene.png"
    Image.fromarray(np.full((48, 64, 3), 200, np.uint8)).save(path)
    return path


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_answers_with_a_drawing_the_text_and_where_the_model_looked(micro_model, scene, task):
    reply = answer(micro_model, str(scene), "the red circle", task)
    assert reply.drawn.mode == "RGB" and reply.looked.mode == "RGB" and reply.drawn.size[0] > 200
    assert isinstance(reply.answer, str)
    # an untrained model's answer may not parse: the page then says why, as a sentence
    assert reply.message == "" or reply.message.startswith("The answer is not ")


def _bad_uploads(folder: Path) -> dict[str, Path]:
    (folder / "notes.png").write_text("these are notes, not pixels")
    Image.fromarray(np.full((8, 8), np.nan, np.float32), "F").save(folder / "nan.tiff")
    return {"notes.png": folder / "notes.png", "nan.tiff": folder / "nan.tiff", "gone.png": folder / "gone.png"}


@pytest.mark.parametrize("name, message", [
    ("notes.png", "**This image cannot be used:** cannot read image"),
    ("nan.tiff", "**This image cannot be used:** "),  # the loader's words follow
    ("gone.png", "**This upload is gone:** image not found"),
])
def test_a_bad_upload_shows_the_loaders_message_and_no_answer(micro_model, tmp_path, name, message):
    reply = answer(micro_model, str(_bad_uploads(tmp_path)[name]), "the red circle", "ground")
    assert reply.message.startswith(message) and (reply.drawn, reply.answer, reply.looked) == (None, "", None)
    if name == "nan.tiff":
        assert "has NaN or infinite values" in reply.message


def test_a_huge_image_is_refused_by_the_loaders_pixel_limit(micro_model, scene, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64x48 is then more than twice the limit
    reply = answer(micro_model, str(scene), "the red circle", "ground")
    assert "refused as a possible decompression bomb" in reply.message and reply.drawn is None


def test_a_16_bit_image_is_scaled_and_answered(micro_model, tmp_path):
    Image.fromarray(np.full((40, 40), 40000, np.uint16)).save(tmp_path / "deep.png")
    reply = answer(micro_model, str(tmp_path / "deep.png"), "the red circle", "ground")
    assert reply.drawn is not None and not reply.message.startswith("**")


def test_words_the_model_does_not_know_are_named(micro_model, scene):
    reply = answer(micro_model, str(scene), "the purple elephant", "ground")
    assert reply.message.startswith("**This expression cannot be read:**") and "['elephant']" in reply.message
    assert answer(micro_model, None, "the circle", "ground").message == "Upload an image or pick an example first."


def test_the_examples_of_a_tiny_model_speak_its_words(micro_model, tmp_path):
    picks = examples(micro_model, tmp_path)
    assert all(Path(image).is_file() and task in TASKS for image, _, task in picks)
    assert [task for _, _, task in picks] == ["ground", "locate and segment", "point", "caption"]
    for image, expression, task in picks[:3]:  # the ShapeWorld scenes: phrases the tiny vocabulary reads
        assert not answer(micro_model, image, expression, task).message.startswith("**")


# ---- the page in a real browser --------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_page_answers_an_upload_and_shows_a_bad_uploads_message_in_a_browser(
        micro_model, scene, tmp_path, chromium, screenshot_tools):
    why = screenshot_tools.missing_browser("gradio")
    if why:
        pytest.skip(f"no headless browser test: {why}")
    from vlmkit.app import launch

    page, url = launch(micro_model.eval(), port=_free_port(), block=False)
    try:
        good = screenshot_tools.ask(chromium, url, scene, "the red circle", "ground")
        assert good["drawn"] and good["answer"].startswith("<loc_") and not good["message"].startswith("This")
        bad = screenshot_tools.ask(chromium, url, _bad_uploads(tmp_path)["notes.png"], "the red circle", "ground")
        assert bad["message"].startswith("This image cannot be used: cannot read image") and not bad["answer"]
    finally:
        page.close()
