"""Your own data as JSON Lines, read into the unified rows (``docs/data.md`` documents the format).

One JSON object a line; ``image`` is a path relative to the file (or absolute); the target is
in pixels of that image, as a person sees it (upright, :func:`vlmkit.data.images.load_image`)::

    {"image": "photos/park.jpg", "expressions": ["the brown dog"], "box": [48, 30, 200, 180]}
    {"image": "photos/park.jpg", "expressions": ["the red ball"], "polygon": [[310, 200, 340, 205, 325, 230]]}
    {"image": "photos/park.jpg", "caption": "a dog chasing a ball in a park", "split": "val"}

A line with ``expressions`` names one object, by its ``box`` ``[x1, y1, x2, y2]`` and/or its
``polygon`` (parts, each ``[x, y, x, y, ...]``; the box is the parts' bounds when only they are
given). A line with a ``caption`` (one string or several) and no expressions describes the
whole image. ``split`` (default ``"train"``) and ``id`` (default ``"<file name>:<line>"``) are
optional. Every bad line raises :class:`LineError`, which names the file, the line and the
field; with ``skip_bad`` the bad lines are skipped instead, and counted, listed and printed.
Blank lines are no records and are passed over.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from vlmkit.core.polygons import PolygonError, flat_to_points
from vlmkit.data.images import ImageError, load_image
from vlmkit.data.schema import RecordError, make_row

KEYS = ("image", "expressions", "caption", "box", "polygon", "split", "id")
DEFAULT_SPLIT = "train"
SOURCE = "jsonl"
# how far (pixels) a box corner or a vertex may lie past the image's edge: exported annotations
# round (a COCO box of x 0.5, width 639.7 ends at 640.2); anything further is a wrong target
EDGE_SLACK = 1.0


class LineError(RecordError):
    """One bad line of a JSON Lines file: ``path``, ``line`` (1-based), ``field`` (the key, or
    ``None`` when the line as a whole is wrong) and ``problem``, all in the message."""

    def __init__(self, path: Path, line: int, field: str | None, problem: str):
        self.path, self.line, self.field, self.problem = path, line, field, problem
        where = f"{path}, line {line}" + (f", field '{field}'" if field else "")
        super().__init__(f"{where}: {problem}")


class _Bad(ValueError):
    """A field's problem, before the reader adds the file and the line."""

    def __init__(self, field: str | None, problem: str):
        super().__init__(problem)
        self.field, self.problem = field, problem


@dataclass
class JsonlRows:
    """What :func:`read_jsonl` read: the ``rows`` (unified schema), how many records the file
    held, and the bad lines ``skipped`` (only with ``skip_bad``)."""

    path: Path
    rows: list[dict]
    records: int
    skipped: list[LineError] = field(default_factory=list)

    def split(self, name: str) -> list[dict]:
        """The rows of split ``name``; none raises ``ValueError`` naming the splits there are."""
        rows = [r for r in self.rows if r["split"] == name]
        if not rows:
            raise ValueError(f"{self.path} has no rows of split {name!r} (splits: {self.splits() or 'none'})")
        return rows

    def splits(self) -> dict[str, int]:
        return dict(Counter(r["split"] for r in self.rows))

    def summary(self) -> str:
        """A few lines a person checks before training on the file."""
        with_box = sum(bool(r["expressions"]) for r in self.rows)
        with_outline = sum(bool(r["polygons"]) for r in self.rows)
        captions = sum(bool(r["captions"]) for r in self.rows)
        images = len({r["image"] for r in self.rows})
        lines = [f"{self.path.name}: {self.records} records -> {len(self.rows)} rows on {images} images",
                 f"  splits: {', '.join(f'{k} {v}' for k, v in self.splits().items())}",
                 f"  objects named by expressions: {with_box} ({with_outline} with an outline, "
                 f"{sum(len(r['expressions']) for r in self.rows)} expressions); lines with captions: {captions}"]
        return "\n".join(lines + ([self.skipped_report()] if self.skipped else []))

    def skipped_report(self) -> str:
        head = f"  skipped {len(self.skipped)} bad line(s): {', '.join(str(e.line) for e in self.skipped)}"
        return "\n".join([head, *(f"    {e}" for e in self.skipped)])


def read_jsonl(path: str | Path, skip_bad: bool = False, progress: bool = True) -> JsonlRows:
    """The rows of a JSON Lines file in vlmkit's format (the module doc, ``docs/data.md``).

    A bad line raises :class:`LineError`; with ``skip_bad`` it is skipped, and the skipped
    lines are returned and printed (never dropped silently). Each image is read once, through
    :func:`vlmkit.data.images.load_image`, so an unreadable image is a bad line too."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"JSON Lines file not found: {path}")
    reader = _Reader(path)
    rows, skipped, records = [], [], 0
    with open(path, "rb") as lines:
        # the bar shows only when reading takes a while (a big file; each image is decoded once)
        for number, raw in enumerate(tqdm(lines, desc=f"reading {path.name}", unit=" lines", disable=not progress,
                                          delay=2), start=1):
            if not raw.strip():
                continue
            records += 1
            try:
                rows.append(reader.row(number, raw))
            except _Bad as bad:
                error = LineError(path, number, bad.field, bad.problem)
                if not skip_bad:
                    raise error from None
                skipped.append(error)
    data = JsonlRows(path, rows, records, skipped)
    if not records:
        raise RecordError(f"{path} holds no records (one JSON object a line; docs/data.md)")
    if skipped:
        print(f"{path}: {data.skipped_report().strip()}")
    if not rows:
        raise RecordError(f"every one of the {records} records of {path} is bad (the first: {skipped[0]})")
    return data


class _Reader:
    """Checks one line at a time against the format; remembers image sizes and ids seen."""

    def __init__(self, path: Path):
        self.path, self.sizes, self.ids = path, {}, {}

    def row(self, number: int, raw: bytes) -> dict:
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise _Bad(None, f"not UTF-8 text (byte {err.start + 1}: {raw[err.start:err.start + 1]!r})") from None
        except json.JSONDecodeError as err:
            raise _Bad(None, f"not JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(record, dict):
            raise _Bad(None, f"a line is one JSON object {{...}}, not a {type(record).__name__}")
        unknown = [k for k in record if k not in KEYS]
        if unknown:
            raise _Bad(unknown[0], f"unknown key (a line has the keys {', '.join(KEYS)})")
        image, width, height = self._image(record)
        expressions, captions = _texts(record)
        box, polygons = _target(record, expressions, width, height)
        split = record.get("split", DEFAULT_SPLIT)
        if not isinstance(split, str) or not split.strip():
            raise _Bad("split", f"a split is a name such as \"train\" or \"val\", not {split!r}")
        row_id = self._id(record, number)
        return make_row(id=row_id, image_id=record["image"], image=str(image), width=width, height=height,
                        box=box, polygons=polygons, expressions=expressions, captions=captions, split=split,
                        source=SOURCE)

    def _image(self, record: dict) -> tuple[Path, int, int]:
        name = record.get("image")
        if name is None:
            raise _Bad("image", "missing: every line names its image (a path relative to this file, or absolute)")
        if not isinstance(name, str) or not name.strip():
            raise _Bad("image", f"an image is a path (a string), not {name!r}")
        image = Path(name) if Path(name).is_absolute() else self.path.parent / name
        if image not in self.sizes:
            try:
                self.sizes[image] = load_image(image).size
            except FileNotFoundError:
                self.sizes[image] = f"no such file: {image}"
            except ImageError as err:
                self.sizes[image] = str(err)
        size = self.sizes[image]
        if isinstance(size, str):
            raise _Bad("image", size)
        return image, size[0], size[1]

    def _id(self, record: dict, number: int) -> str:
        given = record.get("id", f"{self.path.name}:{number}")
        if isinstance(given, bool) or not isinstance(given, (str, int)) or not str(given).strip():
            raise _Bad("id", f"an id is a string or an integer, not {given!r}")
        if str(given) in self.ids:
            raise _Bad("id", f"id {given!r} is already the id of line {self.ids[str(given)]}")
        self.ids[str(given)] = number
        return str(given)


def _strings(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)


def _texts(record: dict) -> tuple[list[str], list[str]]:
    expressions, caption = record.get("expressions"), record.get("caption")
    if expressions is not None and not _strings(expressions):
        raise _Bad("expressions", f"a list of one or more phrases, e.g. [\"the red mug\"], not {expressions!r}")
    if caption is not None and not (isinstance(caption, str) and caption.strip()) and not _strings(caption):
        raise _Bad("caption", f"a caption is a sentence, or a list of sentences, not {caption!r}")
    if expressions is None and caption is None:
        raise _Bad("expressions", "missing: a line has 'expressions' (naming an object) or a 'caption' (of the image)")
    captions = [caption] if isinstance(caption, str) else list(caption or [])
    return list(expressions or []), captions


def _target(record: dict, expressions: list[str], width: int, height: int) -> tuple[list[float], list[list[float]]]:
    """The object's box and polygon parts, checked against the image; the whole image for a
    caption line."""
    box, polygon = record.get("box"), record.get("polygon")
    if not expressions:
        if box is not None or polygon is not None:
            raise _Bad("expressions", "missing: a box or polygon marks an object, and 'expressions' say which")
        return [0.0, 0.0, float(width), float(height)], []
    if box is None and polygon is None:
        raise _Bad("box", "missing: expressions name an object, marked by its 'box' [x1, y1, x2, y2] or 'polygon'")
    parts = _polygon(polygon, width, height) if polygon is not None else []
    if box is None:
        xs, ys = [v for p in parts for v in p[0::2]], [v for p in parts for v in p[1::2]]
        return [min(xs), min(ys), max(xs), max(ys)], parts
    return _box(box, width, height), parts


def _numbers(values: object) -> bool:
    return isinstance(values, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _inside(xs: Sequence[float], ys: Sequence[float], width: int, height: int) -> bool:
    return all(-EDGE_SLACK <= x <= width + EDGE_SLACK for x in xs) and \
        all(-EDGE_SLACK <= y <= height + EDGE_SLACK for y in ys)


def _box(box: object, width: int, height: int) -> list[float]:
    if not (_numbers(box) and len(box) == 4):
        raise _Bad("box", f"a box is four numbers [x1, y1, x2, y2] in pixels, not {box!r}")
    if not all(math.isfinite(v) for v in box):
        raise _Bad("box", f"{box} has a NaN or infinite value")
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        raise _Bad("box", f"{box} is inverted or empty: a box is [x1, y1, x2, y2] with x2 > x1 and y2 > y1 "
                          f"(a COCO [x, y, width, height] box needs converting)")
    if not _inside((x1, x2), (y1, y2), width, height):
        raise _Bad("box", f"{box} lies outside the {width}x{height} image")
    return [float(v) for v in box]


def _polygon(polygon: object, width: int, height: int) -> list[list[float]]:
    if _numbers(polygon) and polygon:
        raise _Bad("polygon", "a polygon is a list of parts: write one part as [[x, y, x, y, ...]]")
    if not (isinstance(polygon, list) and polygon and all(_numbers(part) for part in polygon)):
        raise _Bad("polygon", f"a polygon is a list of parts, each [x, y, x, y, ...] in pixels, not {polygon!r}")
    for k, part in enumerate(polygon):
        try:
            flat_to_points(part)
        except PolygonError as err:
            raise _Bad("polygon", f"part {k}: {err}") from None
        if not _inside(part[0::2], part[1::2], width, height):
            raise _Bad("polygon", f"part {k} has a vertex outside the {width}x{height} image")
    return [[float(v) for v in part] for part in polygon]


@dataclass
class Written:
    """What :func:`write_jsonl` wrote: the file, its line count, the images it had to save
    (generated or embedded ones) and the ids of the rows it ``left_out`` (no expression and no
    caption: nothing to learn from; a converter says how many)."""

    path: Path
    lines: int
    images_saved: int
    left_out: list[str]

    def report(self) -> str:
        saved = f", {self.images_saved} images saved beside it" if self.images_saved else ""
        left = f"; left out {len(self.left_out)} rows with no expression or caption" if self.left_out else ""
        return f"wrote {self.lines} lines to {self.path}{saved}{left}"


def write_jsonl(rows: Sequence[dict], path: str | Path) -> Written:
    """Unified ``rows`` as lines of the format: one line per object named by expressions, and
    one caption line per image with captions. Image paths are written relative to the file;
    images held in memory (ShapeWorld's, the parquet releases') are saved as PNG in the folder
    ``<file stem>_images/`` beside it. The lines read back (:func:`read_jsonl`) into the same
    boxes and polygons."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images, left_out, captioned, lines = {}, [], set(), []
    for row in rows:
        if not row["expressions"] and not row["captions"]:
            left_out.append(row["id"])
            continue
        if row["image_id"] not in images:
            images[row["image_id"]] = _image_name(row, path)
        image = images[row["image_id"]]
        if row["expressions"]:
            record = {"id": row["id"], "image": image, "expressions": list(row["expressions"]),
                      "box": [float(v) for v in row["box"]]}
            if row["polygons"]:
                record["polygon"] = [[float(v) for v in part] for part in row["polygons"]]
            lines.append(record | {"split": row["split"]})
        if row["captions"] and row["image_id"] not in captioned:
            captioned.add(row["image_id"])
            lines.append({"id": f"{row['image_id']}/caption", "image": image, "caption": list(row["captions"]),
                          "split": row["split"]})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    saved = sum(1 for name in images.values() if name.startswith(f"{path.stem}_images/"))
    return Written(path, len(lines), saved, left_out)


def _image_name(row: dict, path: Path) -> str:
    """The row's image as the file names it: a path relative to the file, or (an image in
    memory) a PNG saved beside it, named by the image id."""
    image = row["image"]
    if isinstance(image, (str, Path)):
        return Path(os.path.relpath(Path(image).resolve(), path.parent.resolve())).as_posix()
    name = f"{path.stem}_images/{re.sub(r'[^A-Za-z0-9._-]+', '_', str(row['image_id']))}.png"
    (path.parent / name).parent.mkdir(parents=True, exist_ok=True)
    load_image(image).save(path.parent / name)
    return name
