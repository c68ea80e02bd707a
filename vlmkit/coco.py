"""COCO instances through the pycocotools API, with category *names*.

The tutorial this project grew from wrote "the 49 on the right" because it read
``category_id`` as if it were a name; here every object carries its category name.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image
from pycocotools.coco import COCO

from .boxes import Box, xywh_to_xyxy
from .polygons import Polygon, flat_to_points, polygons_to_mask, rle_to_mask


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
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress chatter
            self.coco = COCO(str(annotation_file))
        self.category_names = {c["id"]: c["name"] for c in self.coco.loadCats(self.coco.getCatIds())}

    @classmethod
    def from_folder(cls, root: str | Path) -> "CocoInstances":
        """A folder with ``annotations/instances_*.json`` and ``images/`` (the shared sample's layout)."""
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
        path = self.image_path(image_id)
        try:
            with Image.open(path) as img:
                return img.convert("RGB")
        except OSError as err:
            raise OSError(f"cannot read image {path}: {err}") from err

    def objects(self, image_id: int | None = None) -> Iterator[CocoObject]:
        """Every annotation (of one image, if given) as a :class:`CocoObject`."""
        ann_ids = self.coco.getAnnIds(imgIds=[image_id] if image_id is not None else [])
        for ann in self.coco.loadAnns(ann_ids):
            yield self._object(ann)

    def _object(self, ann: dict) -> CocoObject:
        info = self.coco.loadImgs(ann["image_id"])[0]
        seg = ann.get("segmentation")
        polygons, rle = [], None
        if isinstance(seg, list):
            polygons = [flat_to_points(part) for part in seg]
        elif isinstance(seg, dict):
            rle = seg
        return CocoObject(
            ann_id=ann["id"],
            image_id=ann["image_id"],
            file_name=info["file_name"],
            width=info["width"],
            height=info["height"],
            category=self.category_names[ann["category_id"]],
            box=xywh_to_xyxy(ann["bbox"]),
            iscrowd=bool(ann.get("iscrowd", 0)),
            polygons=polygons,
            rle=rle,
        )
