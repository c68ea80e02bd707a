import json
import pickle

import datasets
import numpy as np
import pytest
from PIL import Image

from vlmkit.core.polygons import PolygonError
from vlmkit.data.refcoco import (UnsafePickleError, load_refcoco, load_refcoco_hub, load_refcoco_parquet,
                                 safe_load_pickle)
from vlmkit.data.schema import RecordError, check_row


def _image(path, w=40, h=30):
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(path)


def _ref(ref_id, ann_id, image_id, split, sents):
    return {"ref_id": ref_id, "ann_id": ann_id, "image_id": image_id, "split": split, "category_id": 1,
            "file_name": f"COCO_train2014_{image_id:012d}_{ann_id}.jpg", "sent_ids": list(range(len(sents))),
            "sentences": [{"sent": s, "raw": s.capitalize(), "tokens": s.split(), "sent_id": i}
                          for i, s in enumerate(sents)]}


@pytest.fixture
def refer_tree(tmp_path):
    """refer/refcoco/{refs(unc).p, instances.json} and train2014/ as the refer repo lays them out."""
    folder, images = tmp_path / "refer" / "refcoco", tmp_path / "train2014"
    folder.mkdir(parents=True)
    images.mkdir()
    for image_id in (1, 2):
        _image(images / f"COCO_train2014_{image_id:012d}.jpg")
    instances = {
        "images": [{"id": i, "file_name": f"COCO_train2014_{i:012d}.jpg", "width": 40, "height": 30} for i in (1, 2)],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 8], "iscrowd": 0,
             "segmentation": [[2, 3, 12, 3, 12, 11, 2, 11]], "area": 80},
            {"id": 11, "image_id": 2, "category_id": 2, "bbox": [5, 5, 10, 10], "iscrowd": 0,
             "segmentation": [[5, 5, 15, 5, 15, 15], [20, 20, 25, 20, 25, 25]], "area": 60},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}],
    }
    (folder / "instances.json").write_text(json.dumps(instances))
    refs = [_ref(100, 10, 1, "train", ["man in red", "left guy"]), _ref(101, 11, 2, "testA", ["brown dog"])]
    (folder / "refs(unc).p").write_bytes(pickle.dumps(refs, protocol=2))
    return tmp_path / "refer", images


def test_refer_format_loads_into_the_unified_schema(refer_tree):
    root, images = refer_tree
    (row,) = load_refcoco(root, images, split="train")
    check_row(row)
    assert row["expressions"] == ["man in red", "left guy"] and row["expression_kinds"] == ["refcoco"] * 2
    assert row["box"] == [2.0, 3.0, 12.0, 11.0]  # COCO xywh -> xyxy
    assert row["category"] == "person" and row["image"].endswith("COCO_train2014_000000000001.jpg")
    (multi,) = load_refcoco(root, images, split="testA")
    assert len(multi["polygons"]) == 2


def test_refer_format_bad_input_names_the_problem(refer_tree):
    root, images = refer_tree
    with pytest.raises(ValueError, match="not 'testC'"):
        load_refcoco(root, images, split="testC")
    with pytest.raises(ValueError, match="'val' .* is empty"):
        load_refcoco(root, images, split="val")
    with pytest.raises(FileNotFoundError, match="refs file not found"):
        load_refcoco(root, images, dataset="refcocog", split_by="umd", split="val")
    (images / "COCO_train2014_000000000002.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="1 image\\(s\\) missing"):
        load_refcoco(root, images, split="testA")
    refs = safe_load_pickle(root / "refcoco" / "refs(unc).p")
    refs[0]["ann_id"] = 999
    (root / "refcoco" / "refs(unc).p").write_bytes(pickle.dumps(refs))
    with pytest.raises(RecordError, match=r"refs\(unc\).p, ref_id 100 points at ann_id 999, which .*instances.json lacks"):
        load_refcoco(root, images, split="train")


def test_odd_polygon_is_rejected_with_the_annotation_named(refer_tree):
    root, images = refer_tree
    inst = json.loads((root / "refcoco" / "instances.json").read_text())
    inst["annotations"][0]["segmentation"] = [[2, 3, 12, 3, 12]]
    (root / "refcoco" / "instances.json").write_text(json.dumps(inst))
    with pytest.raises(PolygonError, match="annotation 10: .*even number"):
        load_refcoco(root, images, split="train")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # would create the marker file if run


def test_malicious_pickle_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "refs(unc).p"
    evil.write_bytes(pickle.dumps([{"ref_id": 1, "payload": _Exploit(marker)}]))
    with pytest.raises(UnsafePickleError, match=r"refusing to load (builtins|io|_io)\.open"):
        safe_load_pickle(evil)
    assert not marker.exists()


@pytest.fixture
def parquet_file(tmp_path):
    """A parquet file in the lmms-lab/RefCOCO schema, image column included."""
    image = Image.fromarray(np.full((30, 40, 3), 200, np.uint8))
    rows = [{"question_id": "q1", "image": image, "question": "Provide the bounding box of the region.",
             "answer": ["red shirt man", "man on left"], "segmentation": [2.0, 3.0, 12.0, 3.0, 12.0, 11.0],
             "bbox": [2.0, 3.0, 10.0, 8.0], "iscrowd": 0, "file_name": "COCO_train2014_000000000001.jpg"}]
    features = datasets.Features({
        "question_id": datasets.Value("string"), "image": datasets.Image(), "question": datasets.Value("string"),
        "answer": datasets.List(datasets.Value("string")), "segmentation": datasets.List(datasets.Value("float32")),
        "bbox": datasets.List(datasets.Value("float32")), "iscrowd": datasets.Value("int8"),
        "file_name": datasets.Value("string")})
    path = tmp_path / "val-00000-of-00001.parquet"
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(path))
    return path, rows, features


def test_parquet_schema_loads(parquet_file):
    path, _, _ = parquet_file
    (row,) = load_refcoco_parquet(path, "val")
    check_row(row)
    assert row["expressions"] == ["red shirt man", "man on left"]
    assert row["box"] == [2.0, 3.0, 12.0, 11.0] and (row["width"], row["height"]) == (40, 30)


def test_parquet_bad_input(parquet_file, tmp_path):
    path, rows, features = parquet_file
    with pytest.raises(ValueError, match="no train split"):
        load_refcoco_parquet(path, "train")
    with pytest.raises(FileNotFoundError, match="parquet file not found"):
        load_refcoco_parquet(tmp_path / "nope.parquet", "val")
    odd = tmp_path / "odd.parquet"
    datasets.Dataset.from_list([dict(rows[0], segmentation=[1.0, 2.0, 3.0, 4.0, 5.0])],
                               features=features).to_parquet(str(odd))
    with pytest.raises(PolygonError, match="q1"):
        load_refcoco_parquet(odd, "val")
    no_image = tmp_path / "noimg.parquet"
    datasets.Dataset.from_list([dict(rows[0], image=None)], features=features).to_parquet(str(no_image))
    with pytest.raises(FileNotFoundError, match="has no image"):
        load_refcoco_parquet(no_image, "val")
    empty = tmp_path / "empty.parquet"
    datasets.Dataset.from_dict({k: [] for k in features}, features=features).to_parquet(str(empty))
    with pytest.raises(ValueError, match="hold no rows"):
        load_refcoco_parquet(empty, "val")


def test_full_profile_data_entry_points_read_the_documented_layout(refer_tree, tmp_path, monkeypatch):
    """VLMKIT_DATA/refcoco/refcoco/{refs(unc).p, instances.json} + VLMKIT_DATA/coco/train2014/ and
    VLMKIT_DATA/coco/annotations/captions_*.json, exactly as docs/gpu.md lays them out."""
    import shutil

    from vlmkit.text.codecs import Codec
    from vlmkit.train.profiles import load_profile

    root, images = refer_tree
    data = tmp_path / "data"
    shutil.copytree(root, data / "refcoco")
    shutil.copytree(images, data / "coco" / "train2014")
    (data / "coco" / "annotations").mkdir(parents=True)
    captions = {"images": [{"id": 1, "file_name": "COCO_train2014_000000000001.jpg", "width": 40, "height": 30}],
                "annotations": [{"id": 1, "image_id": 1, "caption": "a grey picture"}]}
    (data / "coco" / "annotations" / "captions_train2014.json").write_text(json.dumps(captions))
    monkeypatch.setenv("VLMKIT_DATA", str(data))
    codec, full = Codec("loc", 1000), load_profile("full")
    example = full.training_stream("ground", codec)[0]
    assert example.prompt == "locate: man in red" or example.prompt == "locate: left guy"
    assert full.training_stream("caption", codec)[3].answer == "a grey picture"
    mixed = full.mixture_stream({"caption": 1.0, "ground": 1.0}, codec, scenes=2)  # stored data: no scenes to reuse
    assert {mixed[i].task for i in range(20)} == {"caption", "ground"}
    (row,) = full.evaluation_rows("ground", "testA")
    assert row["expressions"] == ["brown dog"]


def _edit(root, instances=None, refs=None):
    folder = root / "refcoco"
    if instances is not None:
        inst = json.loads((folder / "instances.json").read_text())
        instances(inst)
        (folder / "instances.json").write_text(json.dumps(inst))
    if refs is not None:
        (folder / "refs(unc).p").write_bytes(pickle.dumps(refs(safe_load_pickle(folder / "refs(unc).p"))))


def _first_ref(change):
    def edit(refs):
        change(refs[0])
        return refs
    return edit


@pytest.mark.parametrize("instances, refs, error, message", [
    (None, lambda refs: {"refs": refs}, RecordError, r"refs\(unc\).p holds a dict, not the list of refs"),
    (None, _first_ref(lambda r: r.pop("split")), RecordError, r"refs\(unc\).p, ref_id 100: .*lacks \['split'\]"),
    (None, _first_ref(lambda r: r.update(sentences=["man in red"])), RecordError, r"ref_id 100: .*sentences"),
    (None, _first_ref(lambda r: r.update(image_id=7)), RecordError, r"ref_id 100 points at image_id 7, which .*lacks"),
    (None, _first_ref(lambda r: r.update(category_id=99)), RecordError, r"ref_id 100 has category_id 99"),
    (None, _first_ref(lambda r: r.update(image_id=2)), RecordError,
     r"ref_id 100 is about image 2, but its annotation 10 .* belongs to image 1"),
    (lambda i: i["annotations"][0].update(bbox=[2, 3, 10]), None, RecordError,
     r"instances.json, annotation 10: bbox must be 4 finite numbers"),
    (lambda i: i["annotations"][0].update(segmentation={"size": [10, 10], "counts": [100]}), None, RecordError,
     r"annotation 10: the RLE is of size \[10, 10\] \(height, width\) but its image is \[30, 40\]"),
    (lambda i: i["annotations"][0].update(segmentation=[[2, 3, 1e20, 3, 12, 11]]), None, PolygonError,
     r"annotation 10: .*beyond the limit"),
    (lambda i: i.pop("categories"), None, RecordError, r"instances.json is not a COCO instances file: no \['categ"),
])
def test_every_bad_record_is_named_with_its_file(refer_tree, instances, refs, error, message):
    root, images = refer_tree
    _edit(root, instances, refs)
    with pytest.raises(error, match=message):
        load_refcoco(root, images, split="train")


# ---- the jxu124/refcoco Hub schema ---------------------------------------------------------
def _hub_record(ref_id, ann_id, image_id, split, sents, segmentation, bbox, w=40, h=30):
    """One row exactly as jxu124/refcoco stores it (the JSON columns as strings)."""
    file = f"COCO_train2014_{image_id:012d}.jpg"
    sentences = [{"raw": s.capitalize(), "sent": s, "sent_id": 100 * ref_id + i, "tokens": s.split()}
                 for i, s in enumerate(sents)]
    return {"sent_ids": [s["sent_id"] for s in sentences], "file_name": f"COCO_train2014_{image_id:012d}_{ann_id}.jpg",
            "ann_id": ann_id, "ref_id": ref_id, "image_id": image_id, "split": split, "sentences": sentences,
            "category_id": 1,
            "raw_anns": json.dumps({"segmentation": segmentation, "area": 80.0, "iscrowd": 0, "image_id": image_id,
                                    "bbox": bbox, "category_id": 1, "id": ann_id}),
            "raw_image_info": json.dumps({"license": 1, "file_name": file, "coco_url": "", "height": h, "width": w,
                                          "date_captured": "", "flickr_url": "", "id": image_id}),
            "raw_sentences": json.dumps(sentences), "image_path": f"coco/train2014/{file}", "bbox": bbox,
            "captions": sents, "global_image_id": f"coco.{image_id}"}


@pytest.fixture
def hub_parquet(tmp_path):
    """A train and a validation parquet file in the jxu124/refcoco schema, and train2014/ images."""
    images = tmp_path / "train2014"
    images.mkdir()
    for image_id in (1, 2, 3):
        _image(images / f"COCO_train2014_{image_id:012d}.jpg")
    train = [_hub_record(1, 10, 1, "train", ["left dog", "dog on the left"], [[2, 3, 12, 3, 12, 11, 2, 11]],
                         [2.0, 3.0, 10.0, 8.0]),
             _hub_record(2, 11, 2, "train", ["two parts"], [[5, 5, 15, 5, 15, 15], [20, 20, 25, 20, 25, 25]],
                         [5.0, 5.0, 20.0, 20.0])]
    val = [_hub_record(3, 12, 3, "val", ["the cat"], [[1, 1, 9, 1, 9, 9, 1, 9]], [1.0, 1.0, 8.0, 8.0])]
    folder = tmp_path / "refcoco_hub" / "data"
    folder.mkdir(parents=True)
    datasets.Dataset.from_list(train).to_parquet(folder / "train-00000-of-00001.parquet")
    datasets.Dataset.from_list(val).to_parquet(folder / "validation-00000-of-00001.parquet")
    return tmp_path / "refcoco_hub", images


def test_hub_schema_loads_boxes_polygons_sentences_and_splits(hub_parquet):
    folder, images = hub_parquet
    train = load_refcoco_hub(folder, images, "train")
    assert [r["id"] for r in train] == ["refcoco/train/1", "refcoco/train/2"]
    first, second = train
    assert first["box"] == [2.0, 3.0, 12.0, 11.0]  # [x, y, w, h] -> corners
    assert first["polygons"] == [[2, 3, 12, 3, 12, 11, 2, 11]]
    assert len(second["polygons"]) == 2  # both parts of a two-part object
    assert first["expressions"] == ["left dog", "dog on the left"] and first["expression_kinds"] == ["refcoco"] * 2
    assert first["image"] == str(images / "COCO_train2014_000000000001.jpg") and (first["width"], first["height"]) == (40, 30)
    for row in train:
        check_row(row)
    val = load_refcoco_hub(folder, images, "val")  # the Hub calls it "validation"
    assert [r["id"] for r in val] == ["refcoco/val/3"] and val[0]["split"] == "val"
    with pytest.raises(ValueError, match="no rows of split 'testB'"):
        load_refcoco_hub(folder, images, "testB")


def test_hub_schema_names_a_missing_image_and_bad_records(hub_parquet, tmp_path):
    folder, images = hub_parquet
    (images / "COCO_train2014_000000000002.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 image\(s\) missing, e\.g\. .*COCO_train2014_000000000002\.jpg"):
        load_refcoco_hub(folder, images, "train")
    assert len(load_refcoco_hub(folder, images, "train", check_images=False)) == 2
    with pytest.raises(FileNotFoundError, match="no parquet file or folder"):
        load_refcoco_hub(tmp_path / "nowhere", images)
    bad = _hub_record(5, 15, 1, "train", ["x"], [[2, 3, 12, 3, 12, 11, 2, 11]], [2.0, 3.0, 10.0, 8.0])
    bad["raw_anns"] = json.dumps({**json.loads(bad["raw_anns"]), "id": 99})
    datasets.Dataset.from_list([bad]).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(RecordError, match=r"bad\.parquet, ref_id 5: raw_anns is annotation 99"):
        load_refcoco_hub(tmp_path / "bad.parquet", images)
    odd = _hub_record(6, 16, 1, "train", ["x"], [[2, 3, 12, 3, 12]], [2.0, 3.0, 10.0, 8.0])
    datasets.Dataset.from_list([odd]).to_parquet(tmp_path / "odd.parquet")
    with pytest.raises(PolygonError, match=r"odd\.parquet, ref_id 6"):
        load_refcoco_hub(tmp_path / "odd.parquet", images)
    lacking = {k: v for k, v in bad.items() if k != "raw_image_info"}
    datasets.Dataset.from_list([lacking]).to_parquet(tmp_path / "lacking.parquet")
    with pytest.raises(ValueError, match=r"lacks columns \['raw_image_info'\]"):
        load_refcoco_hub(tmp_path / "lacking.parquet", images)


def test_the_full_profile_reads_the_hub_parquet_folder_when_there_is_one(hub_parquet, tmp_path, monkeypatch):
    """VLMKIT_DATA/refcoco_hub/ (jxu124/refcoco's files) takes the place of the refer format."""
    import shutil

    from vlmkit.text.codecs import Codec
    from vlmkit.train.profiles import load_profile

    folder, images = hub_parquet
    data = tmp_path / "data"
    shutil.copytree(folder, data / "refcoco_hub")
    shutil.copytree(images, data / "coco" / "train2014")
    monkeypatch.setenv("VLMKIT_DATA", str(data))
    full = load_profile("full")
    prompts = {full.training_stream("ground", Codec("loc", 1000))[i].prompt for i in range(6)}
    assert prompts <= {"locate: left dog", "locate: dog on the left", "locate: two parts"} and len(prompts) > 1
    assert [r["expressions"] for r in full.evaluation_rows("ground", "val")] == [["the cat"]]
