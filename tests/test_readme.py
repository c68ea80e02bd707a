"""The README's code example runs as written (against a temporary checkpoint and image)."""

import re
from pathlib import Path

import numpy as np
from PIL import Image

from vlmkit.storage.checkpoint import save_checkpoint

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_example_runs(micro_model, tmp_path, capsys):
    (block,) = _python_blocks()
    checkpoint = save_checkpoint(micro_model, tmp_path / "02_grounding")
    Image.fromarray(np.full((48, 80, 3), 200, np.uint8)).save(tmp_path / "my_scene.png")
    code = block.replace('"checkpoints/02_grounding"', repr(str(checkpoint))).replace(
        '"my_scene.png"', repr(str(tmp_path / "my_scene.png")))
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "False ParseFailure.WRONG_COUNT" in printed
    assert "<loc_75> <loc_62> <loc_312> <loc_375>" in block
    from vlmkit import Codec

    assert Codec("loc", 1000).encode_box([48, 30, 200, 180], width=640, height=480) == \
        "<loc_75> <loc_62> <loc_312> <loc_375>"


def test_the_results_table_counts_the_examples_the_recipes_train_on():
    """One source for the numbers: each row's training examples and the series' total are the
    tiny recipes' (a recipe change without a new make demo and table fails here)."""
    from vlmkit.train.recipes import STAGES, recipe_for, series_examples

    text = README.read_text()
    rows = dict(re.findall(r"^\| (0\d_\w+) \| [\d.]+ \| ([\d,]+) \|", text, flags=re.M))
    stages = {name.replace("_polygon_segmentation", "_segmentation"): count for name, count in rows.items()}
    assert sorted(stages) == list(STAGES)
    for stage, count in stages.items():
        assert int(count.replace(",", "")) == recipe_for(stage, "tiny").examples(), stage
    assert f"{series_examples():,} for notebooks 01-04" in text
