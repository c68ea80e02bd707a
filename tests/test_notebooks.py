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


# The prose rule: a notebook's markdown never quotes a measured number (a decimal or a
# percentage) that the learner's run did not print. Numbers of this run are printed by the code
# (vlmkit.evaluation.verdicts words them); numbers of other runs stand only in reference text that
# names the page of docs/ recording the run: a blockquote opening with REFERENCE, an exercise's
# "*Expect:*" or a solution's "**How to read it.**". Thresholds and names (Acc@0.5, IoU >= 0.5)
# are not measurements.
REFERENCE = "> **Recorded run"
REFERENCE_MARKS = (REFERENCE, "*Expect:*", "**How to read it.**")
MEASURED = re.compile(r"(?<![\w.@=/-])(?<!= )\d+\.\d+(?![\w.])|(?<![\w.])\d+(?:\.\d+)?\s?%")
EVERY_NOTEBOOK = NOTEBOOKS + SOLUTIONS


def prose_measurements(markdown: str) -> list[str]:
    """The measured numbers in ``markdown`` outside code and outside reference text, in blocks
    (paragraphs, list items) that do not both carry a reference mark and name a docs/ page."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    blocks = re.split(r"\n\s*\n|\n(?=\s*(?:\d+\.|-) )", text)
    cited = [b for b in blocks if not (any(mark in b for mark in REFERENCE_MARKS) and "docs/" in b)]
    return MEASURED.findall(re.sub(r"`[^`]*`", "", "\n\n".join(cited)))


def test_the_prose_rule_finds_quoted_numbers_and_spares_thresholds_code_and_reference_text():
    assert prose_measurements("the head won (Acc@0.5 0.78, 92% of them), 0.952 -> 0.954") == [
        "0.78", "92%", "0.952", "0.954"]
    assert prose_measurements("IoU >= 0.5, Acc@0.75 and `lr=5e-4`, `0.3` in code, 1/100 of it") == []
    assert prose_measurements(f"{REFERENCE} (make demo, `docs/experiments/make_demo.md`):** 0.908") == []
    exercises = "1. Run it.\n   *Expect:* 0.887-0.919 (`docs/experiments/grounding_recipe.md`).\n2. And this: 0.5"
    assert prose_measurements(exercises) == ["0.5"]  # the second exercise cites no run
    assert prose_measurements("**How to read it.** 0.94, as measured") == ["0.94"]  # a mark without its page


@pytest.mark.parametrize("path", EVERY_NOTEBOOK, ids=lambda p: p.stem)
def test_prose_quotes_no_number_the_learners_run_does_not_print(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        assert prose_measurements(source) == [], f"cell {cell['id']} quotes numbers of another run: {source[:200]}"
        for quote in (p for p in re.split(r"\n\s*\n", source) if p.lstrip().startswith(">")):
            assert quote.lstrip().startswith(REFERENCE) and "docs/" in quote, \
                f"cell {cell['id']}: a blockquote is a reference box, opening with {REFERENCE!r} and naming its page"
