"""Notebook hygiene (execution itself is nbval's job in `make test`)."""

import json
from pathlib import Path

import pytest

PIN = "# NBVAL_CHECK_OUTPUT"  # expected text stored by scripts/pin_notebook_outputs.py
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_series_is_complete():
    assert [nb.stem[:2] for nb in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_follows_the_conventions(path):
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    for c in code:
        if "".join(c["source"]).startswith(PIN):
            # nbval compares only cells with a count and stored output: a stripped pin checks nothing
            assert c["execution_count"] is not None and c["outputs"], "pinned cell lacks its expected output"
            assert all(o["output_type"] == "stream" for o in c["outputs"]), "pin printed text only"
        else:
            assert not c["outputs"] and c["execution_count"] is None, "strip outputs before committing"
    assert all("id" in c for c in cells), "every cell needs an id (nbformat 4.5; nbval warns, later versions fail)"
    assert cells[0]["cell_type"] == "markdown"  # prose first
    first = "".join(code[0]["source"])
    assert '"google.colab" in sys.modules' in first and "pip install" in first
    assert any("parameters" in c["metadata"].get("tags", []) for c in code)
    params = "".join(next(c for c in code if "parameters" in c["metadata"].get("tags", []))["source"])
    assert 'profile = "tiny"' in params
    assert any("save_stage(" in "".join(c["source"]) for c in code)  # hands over to the next notebook
    assert not any("def " in "".join(c["source"]) or "class " in "".join(c["source"]) for c in code), \
        "library code belongs in vlmkit/, not in notebook cells"
