"""The unified row schema every data source produces (ShapeWorld, RefCOCO, COCO).

One row is one object in one image, with every expression that refers to it, so the
trainer and the notebooks never care where data came from:

=====================  =========================================================
``id``                 unique row id (``"<source>/<split>/<image>/<object>"``)
``image_id``           id of the image (several rows can share one)
``image``              the image (PIL, RGB)
``width``, ``height``  image size in pixels
``category``           object category name ("circle", "person", ...)
``box``                ``[x1, y1, x2, y2]`` pixels
``polygons``           parts, each a flat ``[x, y, x, y, ...]`` list in pixels (COCO style)
``expressions``        referring expressions for this object (may be empty)
``expression_kinds``   one kind per expression ("attribute", "relation", "refcoco", ...)
``captions``           captions of the whole image (may be empty)
``split``              the split the row belongs to
``source``             "shapeworld", "refcoco", "coco", ...
=====================  =========================================================
"""

from __future__ import annotations

from datasets import Features, Image, List, Value

FEATURES = Features(
    {
        "id": Value("string"),
        "image_id": Value("string"),
        "image": Image(),
        "width": Value("int32"),
        "height": Value("int32"),
        "category": Value("string"),
        "box": List(Value("float32"), length=4),
        "polygons": List(List(Value("float32"))),
        "expressions": List(Value("string")),
        "expression_kinds": List(Value("string")),
        "captions": List(Value("string")),
        "split": Value("string"),
        "source": Value("string"),
    }
)


def make_row(*, id: str, image_id: str, image, width: int, height: int, box, split: str, source: str,
             category: str = "", polygons=(), expressions=(), expression_kinds=None, captions=()) -> dict:
    """One unified row, checked (:func:`check_row`). ``expression_kinds`` defaults to
    ``source`` for every expression, as the RefCOCO papers report by dataset."""
    expressions = list(expressions)
    kinds = [source] * len(expressions) if expression_kinds is None else list(expression_kinds)
    return check_row({"id": id, "image_id": image_id, "image": image, "width": width, "height": height,
                      "category": category, "box": [float(v) for v in box], "polygons": [list(p) for p in polygons],
                      "expressions": expressions, "expression_kinds": kinds, "captions": list(captions),
                      "split": split, "source": source})


class RecordError(ValueError):
    """A record of a data file that breaks its format. The message names the file and the
    record (a ref id, an annotation id), so a user can find and fix or drop it."""


def check_row(row: dict) -> dict:
    """Raise ``ValueError`` naming the first field that breaks the schema; return the row."""
    missing = [k for k in FEATURES if k not in row]
    if missing:
        raise ValueError(f"row {row.get('id', '?')} lacks fields {missing}")
    if len(row["box"]) != 4:
        raise ValueError(f"row {row['id']}: box needs 4 numbers, got {len(row['box'])}")
    if len(row["expressions"]) != len(row["expression_kinds"]):
        raise ValueError(f"row {row['id']}: {len(row['expressions'])} expressions but "
                         f"{len(row['expression_kinds'])} kinds")
    for part in row["polygons"]:
        if len(part) % 2 or len(part) < 6:
            raise ValueError(f"row {row['id']}: a polygon part has {len(part)} values (needs an even count >= 6)")
    return row
