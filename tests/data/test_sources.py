import json
import pickle
import shutil

import datasets
import pytest

from vlmkit.data.refcoco import image_ids_by_split
from vlmkit.data.sources import full_rows, held_out_image_ids, refcoco_rows, refcoco_source

from tests.data.test_refcoco import _hub_record, _image, _ref

# dataset -> [(split, image id, expressions)], one referred object each. RefCOCO and RefCOCO+
# share the UNC image partition, as the real ones do; RefCOCOg's UMD train split holds image 3,
# which is in RefCOCO's val split: the overlap the training rows must leave out.
PROTOCOL_DATA = {
    "refcoco": [("train", 1, ["the red circle", "red shape"]), ("train", 2, ["the blue square"]),
                ("val", 3, ["the green triangle", "green shape"]), ("testA", 4, ["the small circle"]),
                ("testB", 5, ["the big square"])],
    "refcoco+": [("train", 1, ["the red shape"]), ("val", 3, ["the green shape"]), ("testA", 4, ["small circle"]),
                 ("testB", 5, ["big square"])],
    "refcocog": [("train", 6, ["the yellow circle on the left"]), ("train", 3, ["the green triangle at the top"]),
                 ("val", 7, ["the blue circle"]), ("test", 8, ["the red square", "a red square"])],
}
SPLIT_BY = {"refcoco": "unc", "refcoco+": "unc", "refcocog": "umd"}
HUB_FOLDER = {"refcoco": "refcoco_hub", "refcoco+": "refcocoplus_hub", "refcocog": "refcocog_hub"}
BOX = [4.0, 6.0, 20.0, 12.0]  # x, y, w, h
OUTLINE = [[4, 6, 24, 6, 24, 18, 4, 18]]


def write_protocol_data(root, formats: dict) -> None:
    """PROTOCOL_DATA under ``root`` in docs/gpu.md's layout, each dataset in the format
    ``formats[dataset]`` ("refer": refcoco/<dataset>/refs(...).p + instances.json; "hub":
    <dataset>_hub/data/<split>-*.parquet in the jxu124 schema), with coco/train2014/ images."""
    images = root / "coco" / "train2014"
    images.mkdir(parents=True, exist_ok=True)
    for image_id in range(1, 9):
        _image(images / f"COCO_train2014_{image_id:012d}.jpg")
    for k, dataset in enumerate(formats):
        objects = [(100 * (k + 1) + i, split, image_id, sents)
                   for i, (split, image_id, sents) in enumerate(PROTOCOL_DATA[dataset])]
        (_write_hub if formats[dataset] == "hub" else _write_refer)(root, dataset, objects)


def _write_refer(root, dataset, objects):
    folder = root / "refcoco" / dataset
    folder.mkdir(parents=True)
    image_ids = sorted({image_id for _, _, image_id, _ in objects})
    instances = {
        "images": [{"id": i, "file_name": f"COCO_train2014_{i:012d}.jpg", "width": 40, "height": 30}
                   for i in image_ids],
        "annotations": [{"id": ref_id, "image_id": image_id, "category_id": 1, "bbox": BOX, "iscrowd": 0,
                         "segmentation": OUTLINE, "area": 240} for ref_id, _, image_id, _ in objects],
        "categories": [{"id": 1, "name": "shape"}]}
    (folder / "instances.json").write_text(json.dumps(instances))
    refs = [_ref(ref_id, ref_id, image_id, split, sents) for ref_id, split, image_id, sents in objects]
    (folder / f"refs({SPLIT_BY[dataset]}).p").write_bytes(pickle.dumps(refs, protocol=2))


def _write_hub(root, dataset, objects):
    folder = root / HUB_FOLDER[dataset] / "data"
    folder.mkdir(parents=True)
    for split in sorted({split for _, split, _, _ in objects}):
        records = [_hub_record(ref_id, ref_id, image_id, split, sents, OUTLINE, BOX)
                   for ref_id, s, image_id, sents in objects if s == split]
        name = "validation" if split == "val" else split
        datasets.Dataset.from_list(records).to_parquet(folder / f"{name}-00000-of-00001.parquet")


FORMATS = {"refer": dict.fromkeys(SPLIT_BY, "refer"), "hub": dict.fromkeys(SPLIT_BY, "hub"),
           "mixed": {"refcoco": "hub", "refcoco+": "refer", "refcocog": "refer"}}


@pytest.mark.parametrize("formats", FORMATS.values(), ids=FORMATS.keys())
def test_training_rows_are_the_three_train_splits_less_every_image_of_a_val_or_test_split(tmp_path, capsys, formats):
    write_protocol_data(tmp_path, formats)
    held, absent = held_out_image_ids(tmp_path)
    assert held == {"3", "4", "5", "7", "8"} and absent == []
    rows = full_rows(tmp_path, "ground", "train")
    assert sorted((r["source"], r["image_id"]) for r in rows) == [
        ("refcoco", "1"), ("refcoco", "2"), ("refcoco+", "1"), ("refcocog", "6")]  # refcocog's image 3 left out
    assert "training rows: left out 1 of 5 (on 1 image(s) of a val/test split" in capsys.readouterr().out
    # the evaluation splits are untouched, and the protocol's RefCOCOg splits are UMD's
    assert [r["image_id"] for r in full_rows(tmp_path, "ground", "val")] == ["3"]
    (test,) = refcoco_rows(tmp_path, "refcocog", "test")
    assert test["expressions"] == ["the red square", "a red square"]


def test_caption_training_rows_leave_out_the_held_out_images_too(tmp_path, capsys):
    write_protocol_data(tmp_path, FORMATS["refer"])
    (tmp_path / "coco" / "annotations").mkdir()
    captions = {"images": [{"id": i, "file_name": f"COCO_train2014_{i:012d}.jpg", "width": 40, "height": 30}
                           for i in (1, 4)],
                "annotations": [{"id": i, "image_id": i, "caption": "shapes"} for i in (1, 4)]}
    (tmp_path / "coco" / "annotations" / "captions_train2014.json").write_text(json.dumps(captions))
    assert [r["image_id"] for r in full_rows(tmp_path, "caption", "train")] == ["1"]  # image 4 is RefCOCO testA's
    assert "COCO caption training rows: left out 1 of 2 (on 1 image(s)" in capsys.readouterr().out


def test_a_dataset_that_is_not_there_is_named_and_no_data_at_all_is_an_error(tmp_path, capsys):
    write_protocol_data(tmp_path, {"refcoco": "refer", "refcoco+": "hub"})
    rows = full_rows(tmp_path, "ground", "train")
    assert len(rows) == 3  # RefCOCO's 2 and RefCOCO+'s 1: RefCOCOg, which holds the overlap, is not there
    out = capsys.readouterr().out
    assert "not trained on (not found): refcocog: neither" in out and "refs(umd).p" in out
    assert "not checked against its val/test images (not found): refcocog" in out
    with pytest.raises(FileNotFoundError, match=r"refcoco\+: neither .*refcocoplus_hub/ \(jxu124/refcocoplus's"):
        refcoco_source(tmp_path / "elsewhere", "refcoco+")
    with pytest.raises(FileNotFoundError, match="no RefCOCO data to train on"):
        full_rows(tmp_path / "elsewhere", "ground", "train")


def test_held_out_images_are_read_from_refs_or_parquet_files_alone(tmp_path):
    write_protocol_data(tmp_path, {"refcoco": "refer", "refcocog": "hub"})
    assert image_ids_by_split(tmp_path / "refcoco" / "refcoco" / "refs(unc).p") == {
        "train": {"1", "2"}, "val": {"3"}, "testA": {"4"}, "testB": {"5"}}
    assert image_ids_by_split(tmp_path / "refcocog_hub") == {"train": {"6", "3"}, "val": {"7"}, "test": {"8"}}
    shutil.rmtree(tmp_path / "coco")  # no image needed: ids only
    assert held_out_image_ids(tmp_path)[0] == {"3", "4", "5", "7", "8"}
    datasets.Dataset.from_list([{"ref_id": 1}]).to_parquet(tmp_path / "refcocog_hub" / "odd.parquet")
    with pytest.raises(ValueError, match=r"odd\.parquet lacks the split or image_id column"):
        image_ids_by_split(tmp_path / "refcocog_hub")
