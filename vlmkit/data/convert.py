"""Other datasets to vlmkit's JSON Lines format (:mod:`vlmkit.data.jsonl`), so a dataset you
have can be read, checked, trained on and scored the way your own data is (``vlmkit convert``).

* COCO instances (``instances_*.json`` + its image folder): with your expressions for the
  annotations you choose (:func:`from_coco` with ``expressions``), or with expressions made
  from the category names (``"the dog"``, qualified by position or size where the category
  repeats in the image: :func:`vlmkit.data.coco.unique_expressions`); COCO-format captions
  add caption lines.
* RefCOCO, RefCOCO+ and RefCOCOg in the three formats :mod:`vlmkit.data.refcoco` reads.
* ShapeWorld, the generated world of the tiny profile, to look at it (and train on it) as a file.

Each returns what :func:`vlmkit.data.jsonl.write_jsonl` wrote, rows left out included.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm.auto import tqdm

from vlmkit.data.coco import CocoInstances, load_caption_rows
from vlmkit.data.jsonl import Written, write_jsonl
from vlmkit.data.refcoco import load_refcoco, load_refcoco_hub, load_refcoco_parquet
from vlmkit.data.schema import RecordError
from vlmkit.data.shapeworld import ShapeWorld

EXPRESSIONS_KIND = "yours"  # the expression kind of phrases read from an expressions file


def from_coco(annotation_file: str | Path, image_dir: str | Path, out: str | Path,
              expressions: str | Path | None = None, captions: str | Path | None = None,
              split: str = "train") -> Written:
    """COCO instances as JSON Lines in ``out``.

    ``expressions``: a JSON file ``{"<annotation id>": ["phrase", ...], ...}``; only those
    annotations become lines, with those phrases. Without it every annotation that
    :meth:`vlmkit.data.coco.CocoInstances.referring_rows` keeps becomes a line, its expressions
    made from its category name (objects no rule singles out are left out, and counted).
    ``captions``: a COCO captions file (``captions_*.json``) whose captions become caption lines."""
    coco = CocoInstances(annotation_file, image_dir)
    rows = coco.referring_rows(split) if expressions is None else _with_expressions(coco, Path(expressions), split)
    if captions is not None:
        rows += load_caption_rows(captions, image_dir, split)
    return write_jsonl(rows, out)


def _with_expressions(coco: CocoInstances, path: Path, split: str) -> list[dict]:
    """The annotations ``path`` gives phrases for, as rows with those phrases."""
    if not path.is_file():
        raise FileNotFoundError(f"expressions file not found: {path}")
    try:
        phrases = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RecordError(f"{path} is not JSON: {err}") from err
    if not isinstance(phrases, dict) or not phrases:
        raise RecordError(f"{path} holds {{\"<annotation id>\": [\"phrase\", ...], ...}}, not {type(phrases).__name__}")
    rows = []
    for key, texts in phrases.items():
        if not str(key).isdigit():
            raise RecordError(f"{path}: {key!r} is not an annotation id (a whole number)")
        if not (isinstance(texts, list) and texts and all(isinstance(t, str) and t.strip() for t in texts)):
            raise RecordError(f"{path}, annotation {key}: a list of one or more phrases, not {texts!r}")
        try:
            obj = coco.annotation(int(key))
        except RecordError as err:
            raise RecordError(f"{path}, annotation {key}: {err}") from err
        rows.append(coco.object_row(obj, [t.strip() for t in texts], split, kind=EXPRESSIONS_KIND))
    return rows


def from_refcoco(out: str | Path, refer_root: str | Path, image_dir: str | Path, dataset: str = "refcoco",
                 split_by: str = "unc", split: str = "train") -> Written:
    """One split of a refer-format dataset (:func:`vlmkit.data.refcoco.load_refcoco`) as JSON Lines."""
    return write_jsonl(load_refcoco(refer_root, image_dir, dataset, split_by, split), out)


def from_refcoco_hub(out: str | Path, source: str | Path | list, image_dir: str | Path, split: str = "train",
                     dataset: str = "refcoco") -> Written:
    """One split of a ``jxu124/refcoco*`` dataset (:func:`vlmkit.data.refcoco.load_refcoco_hub`) as JSON Lines."""
    return write_jsonl(load_refcoco_hub(source, image_dir, split, dataset), out)


def from_refcoco_parquet(out: str | Path, files: str | Path | list, split: str, dataset: str = "refcoco") -> Written:
    """``lmms-lab/RefCOCO`` parquet files (:func:`vlmkit.data.refcoco.load_refcoco_parquet`) as JSON
    Lines; their embedded images are saved beside the file."""
    return write_jsonl(load_refcoco_parquet(files, split, dataset), out)


def from_shapeworld(out: str | Path, scenes: dict[str, int], world: ShapeWorld | None = None,
                    progress: bool = True) -> Written:
    """Scenes ``0 .. n-1`` of each ShapeWorld split in ``scenes`` (``{"train": 200, "val": 50}``)
    as JSON Lines, the scenes saved as PNG beside the file: a line per object with its
    expressions, box and outline, and a caption line per scene."""
    world = world or ShapeWorld()
    rows = [row for split, count in scenes.items()
            for index in tqdm(range(count), desc=f"ShapeWorld {split}", disable=not progress)
            for row in world.rows(split, index)]
    return write_jsonl(rows, out)
