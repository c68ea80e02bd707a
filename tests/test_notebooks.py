"""Notebook hygiene (execution itself is nbval's job in `make test`)."""

import json
import re
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


# The prose rule: a notebook's markdown never quotes a measured number (a decimal or a
# percentage) that the learner's run did not print. Numbers of this run are printed by the code
# (vlmkit.evaluation.verdicts words them); numbers of other runs stand only in a reference box, a
# blockquote that opens with REFERENCE and names the page of docs/experiments/ that records the
# run. Thresholds and names (Acc@0.5, IoU >= 0.5) are not measurements.
REFERENCE = "> **Recorded run"
MEASURED = re.compile(r"(?<![\w.@=/-])(?<!= )\d+\.\d+(?![\w.])|(?<![\w.])\d+(?:\.\d+)?\s?%")
EVERY_NOTEBOOK = sorted((Path(__file__).resolve().parents[1] / "notebooks").rglob("[0-9][0-9]_*.ipynb"))


def prose_measurements(markdown: str) -> list[str]:
    """The measured numbers in ``markdown`` outside code and reference boxes."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if not p.lstrip().startswith(REFERENCE)]
    return MEASURED.findall("\n\n".join(paragraphs))


def test_the_prose_rule_finds_quoted_numbers_and_spares_thresholds_code_and_reference_boxes():
    assert prose_measurements("the head won (Acc@0.5 0.78, 92% of them), 0.952 -> 0.954") == [
        "0.78", "92%", "0.952", "0.954"]
    assert prose_measurements("IoU >= 0.5, Acc@0.75 and `lr=5e-4`, `0.3` in code, 1/100 of it") == []
    assert prose_measurements(f"{REFERENCE} (make demo, docs/experiments/make_demo.md):** 0.908") == []


@pytest.mark.parametrize("path", EVERY_NOTEBOOK, ids=lambda p: p.stem)
def test_prose_quotes_no_number_the_learners_run_does_not_print(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        assert prose_measurements(source) == [], f"cell {cell['id']} quotes numbers of another run: {source[:200]}"
        for quote in (p for p in re.split(r"\n\s*\n", source) if p.lstrip().startswith(">")):
            assert quote.lstrip().startswith(REFERENCE) and "docs/experiments/" in quote, \
                f"cell {cell['id']}: a blockquote is a reference box, opening with {REFERENCE!r} and naming its page"
