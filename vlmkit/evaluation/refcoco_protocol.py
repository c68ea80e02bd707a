"""The RefCOCO protocol: the table grounding papers publish, for one model, in one call.

The eight splits of :data:`vlmkit.data.sources.PROTOCOL_SPLITS` (RefCOCO val/testA/testB,
RefCOCO+ val/testA/testB, RefCOCOg val/test of the UMD split), every (object, expression)
pair a query. Boxes: Acc@0.5, the share of queries whose box overlaps the true box with IoU at
least 0.5. Outlines (for a model trained on them): mIoU, the mean IoU of the queries' masks,
and oIoU, all intersections over all unions. Scored in batches (:mod:`vlmkit.evaluation.evaluate`).
The splits are read from a data root in ``docs/gpu.md``'s layout, each dataset from its Hub
parquet files or the refer format (:func:`vlmkit.data.sources.refcoco_rows`); a split whose
files are missing gets a row that names them, never a silent gap.
"""

from __future__ import annotations

from pathlib import Path

from vlmkit.data.refcoco import MissingSplitError
from vlmkit.data.sources import PROTOCOL_SPLITS, refcoco_rows
from vlmkit.evaluation.evaluate import evaluate_grounding, evaluate_segmentation
from vlmkit.evaluation.metrics import format_table
from vlmkit.inference.answers import EVAL_BATCH
from vlmkit.model import MiniVLM
from vlmkit.text.tasks import OUTLINE_TASKS

NAMES = {"refcoco": "RefCOCO", "refcoco+": "RefCOCO+", "refcocog": "RefCOCOg"}
COLUMNS = ("objects", "queries", "acc@0.5", "miou", "oiou")


def refcoco_protocol(model: MiniVLM, root: str | Path, outline_task: str | None = None, batch_size: int = EVAL_BATCH,
                     limit: int | None = None, progress: bool = True) -> list[dict]:
    """One entry per protocol split, in the papers' order: ``dataset``, ``split``, and either
    the scores (``objects``; ``queries``, its (object, expression) pairs; ``acc@0.5``,
    ``box_parse_rate``; with ``outline_task``, "segment" or "locate_segment" as the model was
    trained to answer outlines, also ``miou``, ``oiou``, ``outline_parse_rate``) or
    ``missing``: why the split could not be read. ``limit``: score only the first that many objects of each split (a
    quick look; the protocol is every object)."""
    if outline_task is not None and outline_task not in OUTLINE_TASKS:
        raise ValueError(f"outline_task={outline_task!r}: choose one of {OUTLINE_TASKS} (or None: boxes only)")
    table = []
    for dataset, split in PROTOCOL_SPLITS:
        entry = {"dataset": dataset, "split": split}
        try:
            rows = refcoco_rows(Path(root), dataset, split)
        except (FileNotFoundError, MissingSplitError) as err:
            table.append({**entry, "missing": str(err)})
            continue
        rows = rows[:limit] if limit else rows
        boxes = evaluate_grounding(model, rows, per_row=None, batch_size=batch_size, progress=progress).metrics
        entry.update({"objects": len(rows), "queries": boxes["n"], "acc@0.5": boxes["acc@0.5"],
                      "box_parse_rate": boxes["parse_rate"]})
        if outline_task:
            outlines = evaluate_segmentation(model, rows, per_row=None, batch_size=batch_size, progress=progress,
                                             task=outline_task).metrics
            entry.update({"miou": outlines["miou"], "oiou": outlines["oiou"],
                          "outline_parse_rate": outlines["parse_rate"]})
        table.append(entry)
    return table


def format_protocol(table: list[dict]) -> str:
    """The table as text, one line per split (``-`` where it was not scored), then a line per
    missing split naming what is missing."""
    rows = {f"{NAMES[e['dataset']]} {e['split']}": e for e in table}
    columns = [c for c in COLUMNS if any(c in e for e in table)] or ["acc@0.5"]
    missing = [f"{name}: missing: {e['missing']}" for name, e in rows.items() if "missing" in e]
    return "\n".join([format_table(rows, columns), *missing])
