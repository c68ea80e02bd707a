"""Conversion to JSON Lines: what reads back is what the source gave (boxes exactly, masks at IoU 1.0)."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.data.test_refcoco import hub_parquet, parquet_file, refer_tree  # noqa: F401 (fixtures)
from vlmkit.core.polygons import flat_to_points, mask_iou, polygons_to_mask
from vlmkit.data.coco import CocoInstances
from vlmkit.data.convert import from_coco, from_refcoco, from_refcoco_hub, from_refcoco_parquet, from_shapeworld
from vlmkit.data.jsonl import read_jsonl
from vlmkit.data.refcoco import load_refcoco, load_refcoco_hub, load_refcoco_parquet
from vlmkit.data.schema import RecordError
from vlmkit.data.shapeworld import ShapeWorld


def _mask(row) -> np.ndarray:
    return polygons_to_mask([flat_to_points(p) for p in row["polygons"]], row["height"], row["width"])


def assert_same_objects(direct: list[dict], read_back: list[dict]) -> None:
    """Row by row: the same id, image size, box (exactly), expressions and split, and masks at IoU 1.0."""
    assert [r["id"] for r in read_back] == [r["id"] for r in direct]
    for a, b in zip(direct, read_back):
        assert (b["width"], b["height"], b["box"], b["expressions"], b["split"]) == \
            (a["width"], a["height"], [float(v) for v in a["box"]], list(a["expressions"]), a["split"])
        assert mask_iou(_mask(a), _mask(b)) == 1.0


def test_coco_to_jsonl_to_rows_is_reading_coco_directly(coco_sample_dir, tmp_path):
    coco = CocoInstances.from_folder(coco_sample_dir)
    written = from_coco(coco.annotation_file, coco.image_dir, tmp_path / "coco.jsonl", split="val")
    direct = coco.referring_rows("val")
    named = [r for r in direct if r["expressions"]]
    assert written.lines == len(named) and written.left_out == [r["id"] for r in direct if not r["expressions"]]
    data = read_jsonl(tmp_path / "coco.jsonl", progress=False)
    assert_same_objects(named, data.rows)
    by_id = {o.ann_id: o for o in coco.objects()}  # and the masks are COCO's own
    for row in data.rows:
        assert mask_iou(by_id[int(row["id"].rsplit("/", 1)[1])].mask, _mask(row)) == 1.0


def test_the_packaged_your_data_file_is_the_conversion_of_its_hand_written_sources(coco_sample_dir, tmp_path):
    """The ten photos' file is made by `vlmkit convert coco ... --expressions ... --captions ...`
    (its README says how); it never drifts from those sources."""
    notes = coco_sample_dir / "annotations"
    from_coco(notes / "instances_val2017_subset.json", coco_sample_dir / "images", tmp_path / "your_data.jsonl",
              expressions=notes / "expressions_vlmkit.json", captions=notes / "captions_vlmkit.json", split="val")
    made = [json.loads(line) for line in (tmp_path / "your_data.jsonl").read_text().splitlines()]
    packaged = [json.loads(line) for line in (coco_sample_dir / "your_data.jsonl").read_text().splitlines()]
    assert [{**m, "image": m["image"].rsplit("/", 1)[-1]} for m in made] == \
        [{**p, "image": p["image"].rsplit("/", 1)[-1]} for p in packaged]  # the image paths: relative to each file
    phrases = json.loads((notes / "expressions_vlmkit.json").read_text())
    assert [line["expressions"] for line in packaged if "expressions" in line] == list(phrases.values())


def test_an_expressions_file_is_checked_against_the_annotations(coco_sample_dir, tmp_path):
    coco = CocoInstances.from_folder(coco_sample_dir)
    crowd = next(o for o in coco.objects() if o.iscrowd)  # an RLE mask: traced into polygons
    path = tmp_path / "phrases.json"
    path.write_text(json.dumps({str(crowd.ann_id): ["the crowd on the right"]}))
    written = from_coco(coco.annotation_file, coco.image_dir, tmp_path / "one.jsonl", expressions=path)
    (row,) = read_jsonl(written.path, progress=False).rows
    assert row["expressions"] == ["the crowd on the right"] and row["split"] == "train"
    assert mask_iou(crowd.mask, _mask(row)) > 0.8 and row["box"] == [float(v) for v in crowd.box]
    for phrases, message in (({"12": ["x"]}, "annotation 12: .* has no annotation 12"),
                             ({"dog": ["x"]}, "'dog' is not an annotation id"),
                             ({str(crowd.ann_id): "x"}, "a list of one or more phrases"), ([], "holds")):
        path.write_text(json.dumps(phrases))
        with pytest.raises(RecordError, match=message):
            from_coco(coco.annotation_file, coco.image_dir, tmp_path / "bad.jsonl", expressions=path)


def test_refer_format_converts_and_reads_back(refer_tree, tmp_path):  # noqa: F811
    root, images = refer_tree
    written = from_refcoco(tmp_path / "refcoco.jsonl", root, images, split="testA")
    assert_same_objects(load_refcoco(root, images, split="testA"), read_jsonl(written.path, progress=False).rows)


def test_hub_format_converts_and_reads_back(hub_parquet, tmp_path):  # noqa: F811
    source, images = hub_parquet
    written = from_refcoco_hub(tmp_path / "hub.jsonl", source, images, split="val")
    assert_same_objects(load_refcoco_hub(source, images, split="val"), read_jsonl(written.path, progress=False).rows)


def test_parquet_images_are_saved_beside_the_file(parquet_file, tmp_path):  # noqa: F811
    path, _, _ = parquet_file
    written = from_refcoco_parquet(tmp_path / "val.jsonl", path, split="val")
    direct = load_refcoco_parquet(path, split="val")
    assert written.images_saved == len({r["image_id"] for r in direct})
    assert_same_objects(direct, read_jsonl(written.path, progress=False).rows)


def test_shapeworld_converts_to_a_file_a_person_can_look_at(tmp_path):
    world = ShapeWorld(seed=3)
    written = from_shapeworld(tmp_path / "shapes.jsonl", {"train": 3, "val": 2}, world, progress=False)
    direct = [row for split, n in (("train", 3), ("val", 2)) for i in range(n) for row in world.rows(split, i)]
    data = read_jsonl(written.path, progress=False)
    objects, captions = [r for r in data.rows if r["expressions"]], [r for r in data.rows if r["captions"]]
    assert_same_objects(direct, objects)
    assert written.images_saved == 5 and len(captions) == 5 and data.splits()["val"] > 2
    assert captions[0]["captions"] == direct[0]["captions"]
    assert np.array_equal(np.asarray(Image.open(objects[0]["image"])), np.asarray(direct[0]["image"]))
