import json

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from vlmkit.series import run_series


def _notebook(path, source):
    nb = new_notebook(cells=[new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_series_runs_notebooks_in_order_and_quotes_only_this_runs_results(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMKIT_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks / "01_captioning.ipynb",
              'from vlmkit.train.stages import record_results\nrecord_results("01_captioning", {"bleu4": 0.5})')
    _notebook(notebooks / "02_grounding.ipynb", "x = 1  # records nothing")
    stale = tmp_path / "checkpoints" / "02_grounding" / "results.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"metrics": {"acc@0.5": 0.99}}))  # from an earlier run

    summary = run_series(notebooks, tmp_path / "out")
    assert [e["notebook"] for e in summary["notebooks"]] == ["01_captioning.ipynb", "02_grounding.ipynb"]
    table = (tmp_path / "out" / "summary.md").read_text()
    assert "bleu4 0.500" in table and "0.99" not in table and "(none recorded)" in table
    assert (tmp_path / "out" / "01_captioning.ipynb").is_file()


def test_an_earlier_runs_summary_is_gone_while_the_series_runs(tmp_path, monkeypatch):
    """A book built during a run shows no summary rather than an earlier run's numbers."""
    monkeypatch.setenv("VLMKIT_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    out, notebooks = tmp_path / "out", tmp_path / "notebooks"
    notebooks.mkdir()
    out.mkdir()
    for name in ("summary.json", "summary.md"):
        (out / name).write_text("from an earlier run")
    _notebook(notebooks / "01_captioning.ipynb",
              f"import pathlib\nassert not any(pathlib.Path({str(out)!r}).glob('summary.*'))")
    run_series(notebooks, out)  # papermill raises if the notebook's assertion fails
    assert json.loads((out / "summary.json").read_text())["notebooks"][0]["notebook"] == "01_captioning.ipynb"
