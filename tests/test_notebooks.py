"""Notebook hygiene (execution itself is nbval's job in `make test`)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PIN = "# NBVAL_CHECK_OUTPUT"  # expected text stored by scripts/pin_notebook_outputs.py
FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((FOLDER / "solutions").glob("[0-9][0-9]_*.ipynb"))
EXERCISE = re.compile(r"^(\d+)\. ", re.M)  # a numbered exercise in a chapter's Exercises section
SOLVED = re.compile(r"^## Exercise (\d+):", re.M)  # its heading in the solutions notebook


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _exercises(chapter: Path) -> str:
    """The chapter's Exercises section: the end of the markdown cell that holds it."""
    (text,) = [_source(c).split("## Exercises", 1)[1] for c in _cells(chapter)
               if c["cell_type"] == "markdown" and "## Exercises" in _source(c)]
    return text


def test_the_series_is_complete():
    assert [nb.stem[:2] for nb in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


def test_every_chapter_has_a_solutions_notebook_and_nothing_else_is_there():
    assert [s.name for s in SOLUTIONS] == [f"{nb.stem}_solutions.ipynb" for nb in NOTEBOOKS]
    assert sorted(p.name for p in (FOLDER / "solutions").iterdir() if p.suffix == ".ipynb") == [s.name for s in SOLUTIONS]


@pytest.mark.parametrize("path", NOTEBOOKS + SOLUTIONS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_is_stripped_and_follows_the_conventions(path):
    cells = _cells(path)
    code = [c for c in cells if c["cell_type"] == "code"]
    for c in code:
        if _source(c).startswith(PIN):
            # nbval compares only cells with a count and stored output: a stripped pin checks nothing
            assert c["execution_count"] is not None and c["outputs"], "pinned cell lacks its expected output"
            assert all(o["output_type"] == "stream" for o in c["outputs"]), "pin printed text only"
        else:
            assert not c["outputs"] and c["execution_count"] is None, "strip outputs before committing"
    assert all("id" in c for c in cells), "every cell needs an id (nbformat 4.5; nbval warns, later versions fail)"
    assert cells[0]["cell_type"] == "markdown"  # prose first
    first = _source(code[0])
    assert '"google.colab" in sys.modules' in first and "pip install" in first
    assert any("parameters" in c["metadata"].get("tags", []) for c in code)
    params = _source(next(c for c in code if "parameters" in c["metadata"].get("tags", [])))
    assert 'profile = "tiny"' in params
    assert not any("def " in _source(c) or "class " in _source(c) for c in code), \
        "library code belongs in vlmkit/, not in notebook cells"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_chapter_hands_its_checkpoint_to_the_next(path):
    assert any("save_stage(" in _source(c) for c in _cells(path) if c["cell_type"] == "code")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_a_solutions_notebook_never_replaces_a_series_checkpoint(path):
    """Exercise runs train with overrides, which stage_trainer saves under checkpoints/scratch/;
    saving a stage or recording its results by hand would write over the series' checkpoint."""
    code = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "code")
    assert "save_stage(" not in code and "record_results(" not in code
    for call in re.findall(r"stage_trainer\(\"(\w+)\", [^\n]*", code):
        assert f'profile.recipe("{call}", **overrides)' in code, f"{call}: train with the recipe and its overrides"


@pytest.mark.parametrize("chapter", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_exercise_says_what_to_expect_and_what_it_costs_and_is_solved(chapter):
    section = _exercises(chapter)
    link = f"solutions/{chapter.stem}_solutions.ipynb"
    assert f"({link})" in section and (chapter.parent / link).is_file(), f"the Exercises point at {link}"
    items = re.split(r"^\d+\. ", section, flags=re.M)[1:]
    assert items and all("*Expect:*" in item and "*Run time:*" in item for item in items), \
        "every exercise states its expected answer and its run time"
    numbers = [int(n) for n in EXERCISE.findall(section)]
    solution = "\n".join(_source(c) for c in _cells(chapter.parent / link) if c["cell_type"] == "markdown")
    assert [int(n) for n in SOLVED.findall(solution)] == numbers == list(range(1, len(numbers) + 1))


def test_make_tests_nbval_run_takes_the_solutions_after_the_chapters():
    """The solutions read the checkpoints the chapters save, so `pytest --nbval-lax notebooks`
    (the Makefile's command) must collect every chapter before any solutions notebook."""
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval-lax", "-p",
                             "no:cacheprovider", str(FOLDER)], capture_output=True, text=True, cwd=FOLDER.parent)
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    order = list(dict.fromkeys(Path(line.split("::")[0]).name for line in listed.stdout.splitlines() if "::" in line))
    assert order == [p.name for p in NOTEBOOKS + SOLUTIONS]


def test_the_exercise_parsers_find_what_they_look_for():
    text = "## Exercise 1: a\n\nsome text\n## Exercise 2: b"
    assert SOLVED.findall(text) == ["1", "2"] and EXERCISE.findall("1. one\n   two\n2. three") == ["1", "2"]
    assert not SOLVED.findall("## Exercises\n1. x")
