import json

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from vlmkit.series import DEMO_RUNS, MACHINE_KINDS, NOTEBOOK_STAGE, machine, recorded_minutes, run_series


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
    assert summary["machine"]["kind"] in MACHINE_KINDS and summary["quick"] is False


def test_a_quick_series_passes_quick_to_each_notebook_and_reads_the_quick_results(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMKIT_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = new_notebook(cells=[new_code_cell("quick = False", metadata={"tags": ["parameters"]}), new_code_cell(
        'from vlmkit.train.stages import stage_dir\nimport json\nfolder = stage_dir("01_captioning", quick=quick)\n'
        'folder.mkdir(parents=True)\n(folder / "results.json").write_text(json.dumps({"metrics": {"quick": quick}}))')])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebooks / "01_captioning.ipynb")
    summary = run_series(notebooks, tmp_path / "out", quick=True)
    assert summary["quick"] is True and summary["notebooks"][0]["results"]["metrics"] == {"quick": True}
    assert "with the quick recipes" in (tmp_path / "out" / "summary.md").read_text()


def test_recorded_minutes_list_every_machine_kind_and_mark_this_one(tmp_path):
    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps([{"commit": "abc1234", "machine": {"kind": "CPU with AMX", "name": "Xeon", "threads": 2},
                                 "minutes": {"02_grounding": 13.58},
                                 "quick": {"02_grounding": {"minutes": 3.4, "metrics": {"acc@0.5": 0.61}}}}]))
    lines = recorded_minutes("02_grounding", runs).splitlines()
    assert f"(this machine: {machine()['kind']})" in lines[0] and len(lines) == 1 + len(MACHINE_KINDS)
    assert "13.6 min; quick recipe 3.4 min (acc@0.5 0.610)" in lines[1] and "commit abc1234" in lines[1]
    assert all("not measured yet" in line for line in lines[2:])


def test_recorded_minutes_mark_a_run_of_a_series_of_another_length(tmp_path):
    """Minutes of a longer (or shorter) series than today's recipes are not today's: the line says so."""
    from vlmkit.train.recipes import series_examples

    runs = tmp_path / "runs.json"
    run = {"commit": "abc1234", "machine": {"kind": "CPU with AMX", "name": "Xeon", "threads": 2},
           "minutes": {"02_grounding": 13.58}}
    for examples, marked in ((series_examples() + 32, True), (series_examples(), False), (None, False)):
        runs.write_text(json.dumps([{**run, "examples": examples} if examples else run]))
        line = recorded_minutes("02_grounding", runs).splitlines()[1]
        assert ("a series of" in line) == marked, line
        if marked:
            assert f"a series of {examples:,} examples, today's {series_examples():,}]" in line


def test_the_recorded_demo_runs_are_well_formed():
    runs = json.loads(DEMO_RUNS.read_text())
    assert {run["machine"]["kind"] for run in runs} <= set(MACHINE_KINDS)
    for run in runs:
        assert set(run["minutes"]) <= set(NOTEBOOK_STAGE) and all(m > 0 for m in run["minutes"].values())
        assert set(run.get("quick", {})) <= set(run["minutes"]) and len(run["commit"]) >= 7
        assert isinstance(run["examples"], int) and run["examples"] > 0, run["commit"]


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
