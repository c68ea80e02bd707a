"""COCO instances through the pycocotools API, with category *names*.

The tutorial this project grew from wrote "the 49 on the right" because it read
``category_id`` as if it were a name; here every object carries its category name.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image
from pycocotools.coco import COCO

from vlmkit.core.boxes import Box, xywh_to_xyxy
from vlmkit.core.polygons import (Polygon, PolygonError, check_rle, flat_to_points, mask_to_polygons, points_to_flat,
                                  polygons_to_mask, rle_to_mask)
from vlmkit.data.images import load_image
from vlmkit.data.schema import RecordError, make_row


def sample_folder() -> Path:
    """The ten real COCO val2017 photographs that ship inside vlmkit (package data), in the
    layout :meth:`CocoInstances.from_folder` reads; licences in the folder's README.md.

    Real data for what generated scenes cannot prove (category names, RLE masks, photos),
    the same from a clone, a ``pip install`` and Colab."""
    folder = Path(str(resources.files("vlmkit.data") / "sample_data" / "coco_val2017"))
    if not (folder / "annotations").is_dir():
        raise FileNotFoundError(f"the packaged COCO sample is missing at {folder}: reinstall vlmkit")
    return folder


def annotation_box(ann: dict, where: str) -> Box:
    """A COCO annotation's ``bbox`` (``[x, y, w, h]``) as ``[x1, y1, x2, y2]``; anything but
    four finite numbers with a non-negative size raises :class:`RecordError` at ``where``."""
    bbox = ann.get("bbox")
    numbers = isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in bbox)
    if not numbers:
        raise RecordError(f"{where}: bbox must be 4 finite numbers [x, y, w, h], got {bbox!r}")
    if bbox[2] < 0 or bbox[3] < 0:
        raise RecordError(f"{where}: bbox {bbox} has a negative width or height")
    return xywh_to_xyxy(bbox)


def annotation_shape(ann: dict, height: int, width: int, where: str) -> tuple[list[Polygon], dict | None]:
    """A COCO annotation's ``segmentation``: ``(polygon parts, None)`` or ``([], rle)``,
    checked against its image's size. A bad polygon raises :class:`PolygonError`, a bad RLE
    :class:`RecordError`, both naming ``where``."""
    seg = ann.get("segmentation")
    if seg is None or seg == []:
        return [], None
    if isinstance(seg, list):
        try:
            return [flat_to_points(part) for part in seg], None
        except (PolygonError, TypeError) as err:
            raise PolygonError(f"{where}: {err}") from err
    if isinstance(seg, dict):
        try:
            check_rle(seg, height, width)
        except ValueError as err:
            raise RecordError(f"{where}: {err}") from err
        return [], seg
    raise RecordError(f"{where}: segmentation is neither a list of polygons nor an RLE dict")


@dataclass
class CocoObject:
    """One annotation: category name, box in ``[x1, y1, x2, y2]`` pixels, polygons or RLE."""

    ann_id: int
    image_id: int
    file_name: str
    width: int
    height: int
    category: str
    box: Box
    iscrowd: bool
    polygons: list[Polygon] = field(default_factory=list)
    rle: dict | None = None

    @cached_property
    def mask(self) -> np.ndarray:
        if self.rle is not None:
            return rle_to_mask(self.rle, self.height, self.width)
        return polygons_to_mask(self.polygons, self.height, self.width)


class CocoInstances:
    """A COCO ``instances_*.json`` plus its image folder."""

    def __init__(self, annotation_file: str | Path, image_dir: str | Path):
        annotation_file, self.image_dir = Path(annotation_file), Path(image_dir)
        if not annotation_file.is_file():
            raise FileNotFoundError(f"COCO annotation file not found: {annotation_file}")
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"COCO image folder not found: {self.image_dir}")
        self.annotation_file = annotation_file
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress chatter
                self.coco = COCO(str(annotation_file))
            self.category_names = {c["id"]: c["name"] for c in self.coco.loadCats(self.coco.getCatIds())}
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AssertionError) as err:
            raise RecordError(f"{annotation_file} is not a COCO instances file (images, annotations, categories): "
                              f"{type(err).__name__}: {err}") from err

    @classmethod
    def from_folder(cls, root: str | Path) -> "CocoInstances":
        """A folder with ``annotations/instances_*.json`` and ``images/`` (the layout of :func:`sample_folder`)."""
        root = Path(root)
        found = sorted((root / "annotations").glob("instances_*.json"))
        if not found:
            raise FileNotFoundError(f"no annotations/instances_*.json under {root}")
        return cls(found[0], root / "images")

    def image_path(self, image_id: int) -> Path:
        info = self.coco.loadImgs(image_id)[0]
        path = self.image_dir / info["file_name"]
        if not path.is_file():
            raise FileNotFoundError(f"image {image_id} ({info['file_name']}) missing from {self.image_dir}")
        return path

    def load_image(self, image_id: int) -> Image.Image:
        return load_image(self.image_path(image_id))

    def objects(self, image_id: int | None = None) -> Iterator[CocoObject]:
        """Every annotation (of one image, if given) as a :class:`CocoObject`."""
        ann_ids = self.coco.getAnnIds(imgIds=[image_id] if image_id is not None else [])
        for ann in self.coco.loadAnns(ann_ids):
            yield self._object(ann)

    def annotation(self, ann_id: int) -> CocoObject:
        """Annotation ``ann_id`` as a :class:`CocoObject`; an id the file lacks raises
        :class:`RecordError`."""
        if ann_id not in self.coco.anns:
            raise RecordError(f"{self.annotation_file} has no annotation {ann_id!r}")
        return self._object(self.coco.anns[ann_id])

    def _object(self, ann: dict) -> CocoObject:
        where = f"{self.annotation_file}, annotation {ann.get('id')}"
        if ann.get("image_id") not in self.coco.imgs:
            raise RecordError(f"{where}: image {ann.get('image_id')!r} is not among the file's images")
        if ann.get("category_id") not in self.category_names:
            raise RecordError(f"{where}: category {ann.get('category_id')!r} is not among the file's categories")
        info = self.coco.imgs[ann["image_id"]]
        polygons, rle = annotation_shape(ann, info["height"], info["width"], where)
        return CocoObject(
            ann_id=ann["id"],
            image_id=ann["image_id"],
            file_name=info["file_name"],
            width=info["width"],
            height=info["height"],
            category=self.category_names[ann["category_id"]],
            box=annotation_box(ann, where),
            iscrowd=bool(ann.get("iscrowd", 0)),
            polygons=polygons,
            rle=rle,
        )

    def category_sentences(self) -> list[str]:
        """One caption-like sentence per image naming the categories annotated in it, that of the
        largest object first ("A photo of a person, a kite and a cup."): text about the photos
        where the data ships no captions (the packaged sample)."""
        sentences = []
        for image_id in sorted(self.coco.getImgIds()):
            objects = sorted(self.objects(image_id), key=lambda o: -_area(o.box))
            categories = dict.fromkeys(o.category for o in objects)  # in order, once each
            names = [f"{'an' if name[0] in 'aeiou' else 'a'} {name}" for name in categories]
            if names:
                listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
                sentences.append(f"A photo of {listed}.")
        return sentences

    def referring_rows(self, split: str = "val", min_area_fraction: float = 0.01) -> list[dict]:
        """Unified rows with expressions generated from the annotations themselves.

        Each expression names the category ("the dog") and, where the category repeats in
        the image, the position or size that singles the object out ("the dog on the
        left", "the bigger dog"), computed on the boxes: unique in the image by
        construction. Crowd regions and objects smaller than ``min_area_fraction`` of the
        image are skipped (the returned rows say how many were kept; see ``len``).
        """
        rows = []
        for image_id in sorted(self.coco.getImgIds()):
            objects = [o for o in self.objects(image_id)
                       if not o.iscrowd and _area(o.box) >= min_area_fraction * o.width * o.height]
            rows += [self.object_row(obj, unique_expressions(obj, objects), split) for obj in objects]
        return rows

    def object_row(self, obj: CocoObject, expressions: list[str], split: str,
                   kind: str = "coco-generated") -> dict:
        """``obj`` as a unified row with ``expressions`` (each of ``kind``); an RLE mask (a
        crowd region) is traced into polygons."""
        return make_row(
            id=f"coco/{split}/{obj.image_id}/{obj.ann_id}", image_id=str(obj.image_id),
            image=str(self.image_path(obj.image_id)), width=obj.width, height=obj.height, category=obj.category,
            box=obj.box, polygons=[points_to_flat(p) for p in (obj.polygons or mask_to_polygons(obj.mask))],
            expressions=expressions, expression_kinds=[kind] * len(expressions), split=split, source="coco")


def _area(box: Box) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def unique_expressions(obj: CocoObject, objects: list[CocoObject], margin: float = 0.1) -> list[str]:
    """Expressions that single ``obj`` out among ``objects`` of one image.

    ``margin`` (a fraction of the image side) is how clearly a position must differ to be
    named; an object no rule singles out gets no expression (and so no grounding row)."""
    same = [o for o in objects if o.category == obj.category]
    name = obj.category
    if len(same) == 1:
        return [f"the {name}"]
    out = []
    centre_x = lambda o: (o.box[0] + o.box[2]) / 2  # noqa: E731
    centre_y = lambda o: (o.box[1] + o.box[3]) / 2  # noqa: E731
    for key, side, low, high in ((centre_x, obj.width, "on the left", "on the right"),
                                 (centre_y, obj.height, "at the top", "at the bottom")):
        ranked = sorted(same, key=key)
        if ranked[0] is obj and key(ranked[1]) - key(obj) > margin * side:
            out.append(f"the {name} {low}")
        if ranked[-1] is obj and key(obj) - key(ranked[-2]) > margin * side:
            out.append(f"the {name} {high}")
    by_area = sorted(same, key=lambda o: _area(o.box))
    big, small = ("bigger", "smaller") if len(same) == 2 else ("biggest", "smallest")
    if by_area[-1] is obj and _area(obj.box) > 1.5 * _area(by_area[-2].box):
        out.append(f"the {big} {name}")
    if by_area[0] is obj and _area(by_area[1].box) > 1.5 * _area(obj.box):
        out.append(f"the {small} {name}")
    return out


def load_caption_rows(captions_file: str | Path, image_dir: str | Path, split: str = "train",
                      check_images: bool = True) -> list[dict]:
    """COCO-format captions (``captions_*.json``: ``images`` + ``annotations`` with ``image_id``
    and ``caption``) as unified rows, one per image (box = the whole image)."""
    captions_file, image_dir = Path(captions_file), Path(image_dir)
    if not captions_file.is_file():
        raise FileNotFoundError(f"captions file not found: {captions_file}")
    data = json.loads(captions_file.read_text())
    if not {"images", "annotations"} <= set(data):
        raise ValueError(f"{captions_file} is not a COCO captions file (needs 'images' and 'annotations')")
    by_image: dict[int, list[str]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann["caption"].strip())
    rows = []
    for info in data["images"]:
        captions = by_image.get(info["id"], [])
        if not captions:
            continue
        rows.append(make_row(
            id=f"coco-captions/{split}/{info['id']}", image_id=str(info["id"]),
            image=str(image_dir / info["file_name"]), width=info["width"], height=info["height"],
            category="image", box=(0.0, 0.0, info["width"], info["height"]), captions=captions, split=split,
            source="coco"))
    if not rows:
        raise ValueError(f"{captions_file} has no captioned images")
    orphans = len(by_image.keys() - {i["id"] for i in data["images"]})
    if orphans:
        raise ValueError(f"{captions_file}: {orphans} image ids have captions but no 'images' entry")
    missing = [r["image"] for r in rows if check_images and not Path(r["image"]).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} caption image(s) missing, e.g. {missing[0]}")
    return rows
