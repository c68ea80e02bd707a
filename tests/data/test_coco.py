import json

import numpy as np
import pytest
from PIL import Image

from vlmkit.core.polygons import PolygonError
from vlmkit.data.coco import CocoInstances, load_caption_rows
from vlmkit.data.images import ImageError, load_image
from vlmkit.data.schema import RecordError, check_row
from vlmkit.evaluation.evaluate import evaluate_grounding
from vlmkit.text.tasks import RowStream
from vlmkit.train.trainer import TrainConfig, Trainer


def test_coco_sample_loads_with_category_names(coco_sample_dir):
    coco = CocoInstances.from_folder(coco_sample_dir)
    objects = list(coco.objects())
    assert len(objects) == 77
    names = {o.category for o in objects}
    assert "person" in names and not any(n.isdigit() for n in names)
    rows = coco.referring_rows()
    with_text = [r for r in rows if r["expressions"]]
    assert with_text and all(e.startswith(f"the {r['category']}") or r["category"] in e
                             for r in with_text for e in r["expressions"])
    for row in rows:
        check_row(row)


def test_generated_coco_expressions_are_unique_in_their_image(coco_sample_dir):
    rows = CocoInstances.from_folder(coco_sample_dir).referring_rows()
    by_image = {}
    for row in rows:
        by_image.setdefault(row["image_id"], []).append(row)
    for image_rows in by_image.values():
        said = [e for r in image_rows for e in r["expressions"]]
        assert len(said) == len(set(said))  # no expression names two objects of one image


def test_missing_and_corrupt_images_are_named(coco_sample_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="image not found"):
        load_image(tmp_path / "missing.jpg")
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageError, match="cannot read image .*corrupt.jpg"):
        load_image(bad)
    with pytest.raises(FileNotFoundError, match="annotation file not found"):
        CocoInstances(tmp_path / "none.json", coco_sample_dir / "images")


def test_caption_file_in_coco_format(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.jpg")
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 8}],
            "annotations": [{"id": 5, "image_id": 1, "caption": "A black square. "},
                            {"id": 6, "image_id": 1, "caption": "darkness"}]}
    (tmp_path / "captions_val2014.json").write_text(json.dumps(data))
    (row,) = load_caption_rows(tmp_path / "captions_val2014.json", tmp_path, split="val")
    check_row(row)
    assert row["captions"] == ["A black square.", "darkness"]
    data["annotations"].append({"id": 7, "image_id": 99, "caption": "orphan"})
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="1 image ids have captions"):
        load_caption_rows(tmp_path / "bad.json", tmp_path)
    (tmp_path / "a.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="caption image"):
        load_caption_rows(tmp_path / "captions_val2014.json", tmp_path)


def test_real_image_smoke_run_through_the_coco_path(coco_sample_dir, micro_model):
    """Train a few steps and evaluate on the real photographs, through the real COCO code."""
    rows = [r for r in CocoInstances.from_folder(coco_sample_dir).referring_rows() if r["expressions"]]
    stream = RowStream(lambda i: [rows[i % len(rows)]], "ground", micro_model.codec, len(rows))
    trainer = Trainer(micro_model, stream, TrainConfig(steps=4, batch_size=4, warmup_steps=1, progress=False))
    history = trainer.train()
    assert np.isfinite(history[-1]["loss"])
    result = evaluate_grounding(micro_model, rows, progress=False)
    assert result.metrics["parse_rate"] == 1.0 and result.metrics["n"] == len(rows)
    assert all(0 <= v <= w for p, r in zip(result.parsed, result.examples)
               for v, w in zip(p.value, (r.row["width"], r.row["height"]) * 2))


def test_a_bad_annotation_is_named_with_its_file(coco_sample_dir, tmp_path):
    data = json.loads(next((coco_sample_dir / "annotations").glob("instances_*.json")).read_text())
    first = data["annotations"][0]
    cases = [
        (lambda a: a.update(segmentation=[[1.0, 2.0, float("nan"), 4.0, 5.0, 6.0]]), PolygonError, "non-finite"),
        (lambda a: a.update(segmentation=[[1.0, 2.0, 1e20, 4.0, 5.0, 6.0]]), PolygonError, "beyond the limit"),
        (lambda a: a.update(bbox=[1, 2, 3]), RecordError, "bbox must be 4 finite numbers"),
        (lambda a: a.update(category_id=12345), RecordError, "category 12345 is not among"),
        (lambda a: a.update(segmentation={"size": [10, 10], "counts": [100]}), RecordError, "RLE is of size"),
    ]
    for change, error, message in cases:
        edited = json.loads(json.dumps(data))
        change(edited["annotations"][0])
        path = tmp_path / "instances_bad.json"
        path.write_text(json.dumps(edited))
        coco = CocoInstances(path, coco_sample_dir / "images")
        with pytest.raises(error, match=rf"instances_bad.json, annotation {first['id']}: .*{message}"):
            list(coco.objects(first["image_id"]))
    (tmp_path / "broken.json").write_text("{ not json")
    with pytest.raises(RecordError, match="broken.json is not a COCO instances file"):
        CocoInstances(tmp_path / "broken.json", coco_sample_dir / "images")


def test_category_sentences_name_each_photos_categories_largest_first(coco_sample_dir):
    """The sample ships no captions: one sentence per photo names what its annotations hold."""
    coco = CocoInstances.from_folder(coco_sample_dir)
    sentences = coco.category_sentences()
    assert len(sentences) == len(coco.coco.getImgIds()) == 10
    assert "A photo of an elephant." in sentences and "A photo of a person, an oven and a pizza." in sentences
    for image_id, sentence in zip(sorted(coco.coco.getImgIds()), sentences):
        largest = max(coco.objects(image_id), key=lambda o: (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]))
        assert sentence.startswith(f"A photo of {'an' if largest.category[0] in 'aeiou' else 'a'} {largest.category}")
