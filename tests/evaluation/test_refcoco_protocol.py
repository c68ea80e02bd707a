import pytest

from vlmkit.evaluation import evaluate as evaluate_module
from vlmkit.evaluation.refcoco_protocol import format_protocol, refcoco_protocol

from tests.data.test_sources import FORMATS, write_protocol_data

QUERIES = {("refcoco", "val"): 2, ("refcoco", "testA"): 1, ("refcoco", "testB"): 1, ("refcoco+", "val"): 1,
           ("refcoco+", "testA"): 1, ("refcoco+", "testB"): 1, ("refcocog", "val"): 1, ("refcocog", "test"): 2}


def _oracle_but_refcoco_testB(model, examples, *args, **kwargs):
    """The true answer to every query, except nothing on RefCOCO testB."""
    return ["" if (ex.row["source"], ex.row["split"]) == ("refcoco", "testB") else ex.answer for ex in examples]


@pytest.mark.parametrize("formats", [FORMATS["refer"], FORMATS["hub"]], ids=["refer", "hub"])
def test_every_split_of_the_protocol_is_scored_on_every_expression_in_the_papers_order(micro_model, tmp_path,
                                                                                      monkeypatch, formats):
    write_protocol_data(tmp_path, formats)
    monkeypatch.setattr(evaluate_module, "predict", _oracle_but_refcoco_testB)
    table = refcoco_protocol(micro_model, tmp_path, outline_task="locate_segment", progress=False)
    assert [(e["dataset"], e["split"]) for e in table] == list(QUERIES)
    assert {(e["dataset"], e["split"]): e["queries"] for e in table} == QUERIES
    for entry in table:
        right = (entry["dataset"], entry["split"]) != ("refcoco", "testB")
        assert entry["acc@0.5"] == entry["box_parse_rate"] == float(right)
        assert entry["oiou"] == pytest.approx(float(right), abs=0.1) and entry["miou"] == pytest.approx(entry["oiou"])


def test_a_split_whose_files_are_missing_is_named_not_skipped(micro_model, tmp_path, monkeypatch):
    write_protocol_data(tmp_path, {"refcoco": "hub", "refcoco+": "refer"})  # no RefCOCOg at all
    (tmp_path / "refcoco_hub" / "data" / "testB-00000-of-00001.parquet").unlink()  # a split file not downloaded
    (tmp_path / "coco" / "train2014" / "COCO_train2014_000000000005.jpg").unlink()  # RefCOCO+ testB's image
    monkeypatch.setattr(evaluate_module, "predict", _oracle_but_refcoco_testB)
    table = {(e["dataset"], e["split"]): e for e in refcoco_protocol(micro_model, tmp_path, progress=False)}
    assert len(table) == 8
    assert "holds no rows of split 'testB'" in table["refcoco", "testB"]["missing"]
    assert "1 image(s) missing, e.g. " in table["refcoco+", "testB"]["missing"]
    assert "refcocog: neither" in table["refcocog", "val"]["missing"]
    assert "refs(umd).p" in table["refcocog", "test"]["missing"]
    assert [key for key, e in table.items() if "missing" not in e] == [
        ("refcoco", "val"), ("refcoco", "testA"), ("refcoco+", "val"), ("refcoco+", "testA")]
    text = format_protocol(list(table.values()))
    lines = text.splitlines()
    assert lines[0].split() == ["|", "objects", "|", "queries", "|", "acc@0.5"]
    assert lines[1].split("|")[0].strip() == "RefCOCO val" and lines[1].split()[-1] == "1.000"
    assert lines[3].startswith("RefCOCO testB") and lines[3].split()[-1] == "-"
    assert sum(line.startswith(("RefCOCO testB: missing", "RefCOCO+ testB: missing", "RefCOCOg val: missing",
                                "RefCOCOg test: missing")) for line in lines) == 4


def test_the_outline_task_must_be_one_the_model_answers_outlines_with(micro_model, tmp_path):
    with pytest.raises(ValueError, match=r"outline_task='point': choose one of \('segment', 'locate_segment'\)"):
        refcoco_protocol(micro_model, tmp_path, outline_task="point")
