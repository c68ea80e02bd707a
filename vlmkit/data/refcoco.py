"""RefCOCO, RefCOCO+ and RefCOCOg, from the two sources users meet, in the unified schema.

1. The *refer* format (github.com/lichengunc/refer)::

       <refer_root>/refcoco/refs(unc).p       refcoco:  unc (train/val/testA/testB), google
       <refer_root>/refcoco+/refs(unc).p      refcoco+: unc (train/val/testA/testB)
       <refer_root>/refcocog/refs(umd).p      refcocog: umd (train/val/test), google
       <refer_root>/<dataset>/instances.json  COCO-style images/annotations/categories
       <coco train2014 folder>/COCO_train2014_*.jpg

   A ref holds ``ref_id, ann_id, image_id, split, sentences[{sent, raw, tokens, sent_id}],
   category_id``; its box and polygons come from ``instances.json`` by ``ann_id``.
   Pickle runs code when loaded, so :func:`safe_load_pickle` accepts only plain
   containers and scalars.

2. The Hugging Face datasets ``jxu124/refcoco``, ``jxu124/refcocoplus`` and
   ``jxu124/refcocog`` (:func:`load_refcoco_hub`): the refer data as one table **with a
   train split** (RefCOCO: 42,404 train refs). Columns ``sent_ids, file_name, ann_id,
   ref_id, image_id, split, sentences[raw, sent, sent_id, tokens], category_id, raw_anns``
   (the COCO annotation as a JSON string), ``raw_image_info`` (the COCO image entry as a JSON
   string), ``raw_sentences, image_path, bbox, captions, global_image_id``; the images are
   COCO train2014 files named by ``image_path``, read from your local COCO folder.

3. Hugging Face parquet files in the ``lmms-lab/RefCOCO`` schema: ``question_id, image,
   question, answer`` (list of expressions), ``segmentation`` (flat polygon), ``bbox``
   (``[x, y, w, h]``), ``iscrowd, file_name``. Those releases have only evaluation splits
   (val/test/testA/testB): **no train split** — train on the refer format.

All give one row per object with all its expressions (``expression_kinds`` holds the
dataset name). Nothing is dropped silently: bad input raises an error that names it.
"""

from __future__ import annotations

import io
import json
import pickle
from collections import Counter
from pathlib import Path

from vlmkit.core.polygons import PolygonError, flat_to_points, mask_to_polygons, points_to_flat, rle_to_mask
from vlmkit.data.coco import annotation_box, annotation_shape
from vlmkit.data.schema import RecordError, make_row

SPLITS = {("refcoco", "unc"): ("train", "val", "testA", "testB"), ("refcoco", "google"): ("train", "val", "test"),
          ("refcoco+", "unc"): ("train", "val", "testA", "testB"), ("refcocog", "umd"): ("train", "val", "test"),
          ("refcocog", "google"): ("train", "val")}
PARQUET_SPLITS = ("val", "test", "testA", "testB")
HUB_DATASETS = {"refcoco": "jxu124/refcoco", "refcoco+": "jxu124/refcocoplus", "refcocog": "jxu124/refcocog"}
HUB_COLUMNS = ("ann_id", "ref_id", "image_id", "split", "sentences", "category_id", "raw_anns", "raw_image_info",
               "image_path", "bbox")


class MissingSplitError(ValueError):
    """The files hold no rows of the split asked for (a split file not downloaded, or a refs
    file without it)."""


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks to build an object other than plain containers and scalars."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        # Plain dicts/lists/tuples/strings/numbers need no class lookup at all; anything
        # that does is how a malicious pickle runs code (os.system, eval, ...).
        raise UnsafePickleError(f"refusing to load {module}.{name}: a refs file holds only plain containers "
                                f"and scalars")


def safe_load_pickle(path: str | Path):
    """Load a pickle that may contain only dicts, lists, tuples, strings, numbers, None."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"refs file not found: {path}")
    with open(path, "rb") as f:
        try:
            return _PlainUnpickler(io.BytesIO(f.read()), encoding="utf-8").load()
        except UnsafePickleError as err:
            raise UnsafePickleError(f"{path}: {err}") from err


REF_KEYS = ("ref_id", "ann_id", "image_id", "split", "sentences", "category_id")


def _object_polygons(ann: dict, height: int, width: int, where: str) -> list[list[float]]:
    polygons, rle = annotation_shape(ann, height, width, where)
    if rle is not None:  # RLE (crowd) masks are traced into polygons
        polygons = mask_to_polygons(rle_to_mask(rle, height, width))
    return [points_to_flat(p) for p in polygons]


def _check_refs(refs: object, path: Path) -> list[dict]:
    """``refs`` as a list of refs with every field a row needs, or :class:`RecordError` naming
    the first ref that lacks one."""
    if not isinstance(refs, list):
        raise RecordError(f"{path} holds a {type(refs).__name__}, not the list of refs of the refer format")
    for i, ref in enumerate(refs):
        missing = [k for k in REF_KEYS if k not in ref] if isinstance(ref, dict) else list(REF_KEYS)
        sentences = ref.get("sentences") if isinstance(ref, dict) else None
        if not missing and not (isinstance(sentences, list) and all(isinstance(x, dict) and isinstance(x.get("sent"), str)
                                                                    for x in sentences)):
            missing = ["sentences[*].sent"]
        if missing:
            name = f"ref_id {ref.get('ref_id')}" if isinstance(ref, dict) and "ref_id" in ref else f"ref #{i}"
            raise RecordError(f"{path}, {name}: not a refer-format ref (lacks {missing})")
    return refs


def _read_instances(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"instances file not found: {path}")
    try:
        instances = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RecordError(f"{path} is not valid JSON: {err}") from err
    missing = [k for k in ("images", "annotations", "categories") if k not in instances]
    if missing:
        raise RecordError(f"{path} is not a COCO instances file: no {missing}")
    return instances


def load_refcoco(refer_root: str | Path, image_dir: str | Path, dataset: str = "refcoco", split_by: str = "unc",
                 split: str = "train", check_images: bool = True) -> list[dict]:
    """Unified rows of one split of a refer-format dataset (one row per referred object).

    Every record that breaks the format raises an error naming the file and the ref or
    annotation (:class:`vlmkit.data.schema.RecordError`, or :class:`PolygonError` for a polygon)."""
    if (dataset, split_by) not in SPLITS:
        raise ValueError(f"unknown dataset/split_by {dataset}/{split_by}; known: {sorted(SPLITS)}")
    if split not in SPLITS[dataset, split_by]:
        raise ValueError(f"{dataset} ({split_by}) has splits {SPLITS[dataset, split_by]}, not {split!r}")
    folder, image_dir = Path(refer_root) / dataset, Path(image_dir)
    refs_path = folder / f"refs({split_by}).p"
    refs = _check_refs(safe_load_pickle(refs_path), refs_path)
    instances_path = folder / "instances.json"
    instances = _read_instances(instances_path)
    anns = {a.get("id"): a for a in instances["annotations"]}
    images = {i.get("id"): i for i in instances["images"]}
    categories = {c.get("id"): c.get("name") for c in instances["categories"]}
    chosen = [r for r in refs if r["split"] == split]
    if not chosen:
        raise MissingSplitError(f"split {split!r} of {refs_path} is empty "
                                f"(splits present: {dict(Counter(r['split'] for r in refs))})")
    rows = []
    for ref in chosen:
        where = f"{refs_path}, ref_id {ref['ref_id']}"
        if ref["ann_id"] not in anns:
            raise RecordError(f"{where} points at ann_id {ref['ann_id']}, which {instances_path} lacks")
        if ref["image_id"] not in images:
            raise RecordError(f"{where} points at image_id {ref['image_id']}, which {instances_path} lacks")
        if ref["category_id"] not in categories:
            raise RecordError(f"{where} has category_id {ref['category_id']}, which {instances_path} lacks")
        ann, info = anns[ref["ann_id"]], images[ref["image_id"]]
        if ann.get("image_id") != ref["image_id"]:
            raise RecordError(f"{where} is about image {ref['image_id']}, but its annotation {ref['ann_id']} in "
                              f"{instances_path} belongs to image {ann.get('image_id')}")
        ann_where = f"{instances_path}, annotation {ann['id']}"
        sentences = [s["sent"] for s in ref["sentences"]]
        rows.append(make_row(
            id=f"{dataset}/{split}/{ref['ref_id']}", image_id=str(ref["image_id"]),
            image=str(image_dir / info["file_name"]), width=info["width"], height=info["height"],
            category=categories[ref["category_id"]], box=annotation_box(ann, ann_where),
            polygons=_object_polygons(ann, info["height"], info["width"], ann_where),
            expressions=sentences, split=split, source=dataset))
    if check_images:
        _check_images(rows)
    return rows


def _check_images(rows: list[dict]) -> None:
    missing = sorted({r["image"] for r in rows if not Path(r["image"]).is_file()})
    if missing:
        raise FileNotFoundError(f"{len(missing)} image(s) missing, e.g. {missing[0]}; download COCO train2014 "
                                f"into that folder (see docs/gpu.md)")


def load_refcoco_parquet(files: str | Path | list, split: str, dataset: str = "refcoco") -> list[dict]:
    """Unified rows from parquet files in the ``lmms-lab/RefCOCO`` schema (evaluation splits only)."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    if split not in PARQUET_SPLITS:
        raise ValueError(f"the lmms-lab parquet releases have splits {PARQUET_SPLITS} (no train split), "
                         f"not {split!r}; train on the refer format instead")
    paths = [str(p) for p in (files if isinstance(files, list) else [files])]
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"parquet file not found: {p}")
    # Read the files directly: datasets' builders turn an empty file into a cryptic
    # "corresponds to no data" error; the features (Image column included) come from the
    # schema metadata that datasets writes into the parquet files.
    table = datasets.Dataset(pa.concat_tables([pq.read_table(p) for p in paths]))
    if len(table) == 0:
        raise ValueError(f"{paths} hold no rows for split {split!r}")
    needed = {"question_id", "image", "answer", "segmentation", "bbox", "file_name"}
    if not needed <= set(table.column_names):
        raise ValueError(f"{paths} lack columns {sorted(needed - set(table.column_names))} of the lmms-lab schema")
    rows = []
    for record in table:
        where = f"{paths}, row {record['question_id']}"
        image = record["image"]
        if image is None:
            raise FileNotFoundError(f"row {record['question_id']} ({record['file_name']}) has no image")
        seg = record["segmentation"] or []
        try:
            polygons = [points_to_flat(flat_to_points(seg))] if seg else []
        except PolygonError as err:
            raise PolygonError(f"{where}: {err}") from err
        expressions = list(record["answer"])
        rows.append(make_row(
            id=f"{dataset}/{split}/{record['question_id']}", image_id=record["file_name"], image=image,
            width=image.width, height=image.height, box=annotation_box(record, where), polygons=polygons,
            expressions=expressions, split=split, source=dataset))
    return rows


def load_refcoco_hub(source: str | Path | list, image_dir: str | Path, split: str = "train",
                     dataset: str = "refcoco", check_images: bool = True) -> list[dict]:
    """Unified rows of one split of a ``jxu124/refcoco*`` dataset (the schema in the module doc).

    ``source``: a Hub id (``"jxu124/refcoco"``, loaded with ``datasets.load_dataset``), or
    local parquet files in that schema (a file, a list of files, or a folder of them).
    ``split``: ``train``, ``val`` (the Hub's ``validation``), ``test``, ``testA``, ``testB``.
    Images come from ``image_dir`` by the file name in ``image_path``; with ``check_images``
    every one must exist (the error names a missing one and how many are missing)."""
    import datasets

    hub_split = "validation" if split == "val" else split
    local = not (isinstance(source, str) and source in HUB_DATASETS.values())
    if local:
        files = _parquet_files(source)
        table = datasets.load_dataset("parquet", data_files={"rows": files}, split="rows")
        table = table.filter(lambda split_of_row: split_of_row in (split, hub_split), input_columns="split")
        where_file = files[0] if len(files) == 1 else f"{len(files)} parquet files under {Path(files[0]).parent}"
    else:
        table = datasets.load_dataset(source, split=hub_split)
        where_file = f"{source} ({hub_split})"
    missing = [c for c in HUB_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{where_file} lacks columns {missing} of the jxu124/refcoco schema")
    if len(table) == 0:
        raise MissingSplitError(f"{where_file} holds no rows of split {split!r}")
    image_dir, rows = Path(image_dir), []
    for record in table:
        where = f"{where_file}, ref_id {record['ref_id']}"
        try:
            ann, info = json.loads(record["raw_anns"]), json.loads(record["raw_image_info"])
        except (TypeError, json.JSONDecodeError) as err:
            raise RecordError(f"{where}: raw_anns/raw_image_info must be JSON strings: {err}") from err
        if ann.get("id") != record["ann_id"] or ann.get("image_id") != record["image_id"]:
            raise RecordError(f"{where}: raw_anns is annotation {ann.get('id')} of image {ann.get('image_id')}, but "
                              f"the row says annotation {record['ann_id']} of image {record['image_id']}")
        if not isinstance(info.get("width"), int) or not isinstance(info.get("height"), int):
            raise RecordError(f"{where}: raw_image_info has no integer width and height")
        sentences = [s["sent"] for s in record["sentences"] or []]
        if not sentences:
            raise RecordError(f"{where} has no sentences")
        rows.append(make_row(
            id=f"{dataset}/{split}/{record['ref_id']}", image_id=str(record["image_id"]),
            image=str(image_dir / Path(record["image_path"]).name), width=info["width"], height=info["height"],
            category=str(record["category_id"]), box=annotation_box({"bbox": record["bbox"]}, where),
            polygons=_object_polygons(ann, info["height"], info["width"], where),
            expressions=sentences, split=split, source=dataset))
    if check_images:
        _check_images(rows)
    return rows


def _parquet_files(source: str | Path | list) -> list[str]:
    """The parquet files of ``source``: a file, a folder of them (searched recursively) or a list."""
    paths, files = source if isinstance(source, list) else [source], []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(str(f) for f in p.rglob("*.parquet"))
        elif p.is_file():
            files.append(str(p))
        else:
            raise FileNotFoundError(f"no parquet file or folder at {p}")
    if not files:
        raise FileNotFoundError(f"no .parquet files under {paths}")
    return files


def image_ids_by_split(source: str | Path) -> dict[str, set[str]]:
    """``{split: COCO image ids}`` of a refer-format refs file (``refs(unc).p``) or a folder of
    ``jxu124/refcoco*`` parquet files, read without building rows: what a check that no
    training image is in a held-out split needs. Split names as the refer format has them
    (the Hub's ``validation`` is ``val``)."""
    source, by_split = Path(source), {}
    if source.is_file() and source.suffix == ".p":
        pairs = ((ref["split"], ref["image_id"]) for ref in _check_refs(safe_load_pickle(source), source))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = []
        for file in _parquet_files(source):
            try:
                columns.append(pq.read_table(file, columns=["split", "image_id"]).to_pydict())
            except pa.ArrowInvalid as err:
                raise ValueError(f"{file} lacks the split or image_id column of the jxu124/refcoco schema") from err
        pairs = ((split, image_id) for c in columns for split, image_id in zip(c["split"], c["image_id"]))
    for split, image_id in pairs:
        by_split.setdefault("val" if split == "validation" else split, set()).add(str(image_id))
    return by_split
