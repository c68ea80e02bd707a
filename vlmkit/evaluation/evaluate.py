"""Scoring for every task, on any unified-schema rows (the answers come from
:func:`vlmkit.inference.answers.predict`).

Every (object, expression) pair is one query. Unparsed answers are kept and counted
(parse rate); scores are also broken down by expression kind, as RefCOCO papers do by
split.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from vlmkit.core.boxes import box_iou
from vlmkit.core.polygons import flat_to_points, interior_point, polygons_to_mask
from vlmkit.data.shapeworld.language import NamedObject, read_caption
from vlmkit.evaluation.metrics import (SegmentationScores, caption_metrics, caption_object_metrics, grounding_metrics,
                                       pointing_metrics)
from vlmkit.inference.answers import EVAL_BATCH, predict
from vlmkit.model import MiniVLM
from vlmkit.text.codecs import Parsed
from vlmkit.text.processor import Processor
from vlmkit.text.tasks import TASK_NEEDS, Example, make_example, row_mask, usable_rows
from vlmkit.text.tokenizer import readable_rows


@dataclass
class Scored:
    """One evaluation: the headline ``metrics`` (name -> value), and per query the example
    asked, the model's answer, its parse and (grounding, segmentation) its IoU; grounding also
    has ``by_kind``, the metrics per expression kind."""

    metrics: dict[str, float]
    examples: list[Example]
    answers: list[str]
    parsed: list[Parsed] = field(default_factory=list)
    ious: np.ndarray | None = None
    by_kind: dict[str, dict] = field(default_factory=dict)


@dataclass
class CycleResult:
    """Describe-then-ground: per object the description, the parse of its grounding, the IoU."""

    metrics: dict[str, float]
    descriptions: list[str]
    parsed: list[Parsed]
    ious: np.ndarray
    examples: list[Example]  # the describe queries, one per object, in the order of the lists above


def queries(rows: Sequence[dict], task: str, codec, per_row: int | None = 1, seed: int = 0) -> list[Example]:
    """Examples to score: ``per_row`` expressions of each row (``None``: all of them)."""
    out = []
    for i, row in enumerate(rows):
        count = len(row["expressions"]) if task != "caption" else 1
        picks = range(count) if per_row is None else np.random.default_rng([seed, i]).permutation(count)[:per_row]
        for k in picks:
            single = dict(row, expressions=[row["expressions"][k]], expression_kinds=[row["expression_kinds"][k]]) \
                if task != "caption" else row
            out.append(make_example(single, task, codec, np.random.default_rng([seed, i, int(k)])))
    return out


def _by_kind(examples: Sequence[Example], score) -> dict[str, dict]:
    groups = defaultdict(list)
    for i, ex in enumerate(examples):
        groups[ex.kind or "all"].append(i)
    return {kind: score(idx) for kind, idx in sorted(groups.items())}


def evaluate_grounding(model: MiniVLM, rows: Sequence[dict], per_row: int | None = 1, constrained: bool | None = None,
                       batch_size: int = EVAL_BATCH, progress: bool = True) -> Scored:
    """Acc@0.5/0.75, mean IoU, parse rate overall and per expression kind; plus predictions."""
    examples = queries(rows, "ground", model.codec, per_row)
    answers = predict(model, examples, batch_size, constrained, progress=progress)
    parsed = [model.codec.parse_box(a, ex.row["width"], ex.row["height"]) for a, ex in zip(answers, examples)]
    score = lambda idx: grounding_metrics([parsed[i] for i in idx], [examples[i].row["box"] for i in idx])  # noqa
    boxes = np.array([p.value if p.ok else (0, 0, 0, 0) for p in parsed], float).reshape(-1, 4)
    ious = box_iou(boxes, np.array([ex.row["box"] for ex in examples], float).reshape(-1, 4))
    return Scored(score(range(len(examples))), examples, answers, parsed, ious, _by_kind(examples, score))


def object_hits(result: Scored, threshold: float = 0.5) -> dict[int, dict]:
    """Where grounding fails: finding *an* object, or finding the *named* one.

    ``result`` is what :func:`evaluate_grounding` returns. Each query's predicted box is
    matched to the object of the same image (among the objects queried there) it overlaps
    best, if IoU >= ``threshold``. Per number of objects in the image: ``on_some`` (the box
    is on some object), ``on_named`` (on the one the expression names: Acc@0.5, except
    for the rare box that overlaps another object more),
    ``chance`` (``on_some`` / objects: what picking one of the found objects at random
    scores) and ``distinct`` (how many different objects an image's queries land on, on
    average; near 1 means the answer does not depend on the expression).
    """
    by_image = defaultdict(list)
    for ex, parsed in zip(result.examples, result.parsed):
        by_image[ex.row["image_id"]].append((ex.row, parsed))
    tallies = defaultdict(lambda: np.zeros(5))  # queries, on some, on named, distinct objects, images
    for queries_of_image in by_image.values():
        boxes = np.unique(np.array([row["box"] for row, _ in queries_of_image], float), axis=0)
        tally, landed = tallies[len(boxes)], set()
        for row, parsed in queries_of_image:
            tally[0] += 1
            if not parsed.ok:
                continue
            ious = box_iou(np.repeat(np.array([parsed.value], float), len(boxes), axis=0), boxes)
            best = int(ious.argmax())
            if ious[best] >= threshold:
                landed.add(best)
                tally[1] += 1
                tally[2] += bool(np.allclose(boxes[best], row["box"]))
        tally[3] += len(landed)
        tally[4] += 1
    return {n: {"queries": int(t[0]), "on_some": t[1] / t[0], "on_named": t[2] / t[0], "chance": t[1] / t[0] / n,
                "distinct": t[3] / t[4]} for n, t in sorted(tallies.items())}


@torch.no_grad()
def evaluate_box_head(model: MiniVLM, rows: Sequence[dict], per_row: int | None = 1,
                      batch_size: int = EVAL_BATCH) -> Scored:
    """Grounding scores of the box head's regressed boxes (no text, so the parse rate is 1)."""
    examples = queries(rows, "ground", model.codec, per_row)
    processor, parsed = Processor.for_model(model), []
    was_training = model.training
    model.eval()
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        batch = {k: v.to(model.device) for k, v in processor.prompt_batch(chunk).items()}
        for box, ex in zip(model.regress_boxes(**batch).tolist(), chunk):
            size = (ex.row["width"], ex.row["height"]) * 2
            parsed.append(Parsed(value=tuple(v * s for v, s in zip(box, size))))
    model.train(was_training)
    targets = [ex.row["box"] for ex in examples]
    boxes = np.array([p.value for p in parsed], float).reshape(-1, 4)
    return Scored(grounding_metrics(parsed, targets), examples, [""] * len(examples), parsed,
                  box_iou(boxes, np.array(targets, float).reshape(-1, 4)))


def evaluate_segmentation(model: MiniVLM, rows: Sequence[dict], per_row: int | None = 1,
                          constrained: bool | None = None, batch_size: int = EVAL_BATCH, progress: bool = True,
                          task: str = "segment") -> Scored:
    """mIoU, oIoU, Dice, P@0.5-0.9 and parse rate of predicted outlines; plus predictions.
    ``task="locate_segment"`` asks for the box then the outline: the outline is scored the
    same way, the box by ``box_acc@0.5``, and ``parsed`` holds the outlines."""
    if task not in ("segment", "locate_segment"):
        raise ValueError(f"evaluate_segmentation scores 'segment' or 'locate_segment', not {task!r}")
    examples = queries(rows, task, model.codec, per_row)
    answers = predict(model, examples, batch_size, constrained, progress=progress)
    scores, parsed, box_hits = SegmentationScores(), [], []
    for answer, ex in zip(answers, examples):
        w, h = ex.row["width"], ex.row["height"]
        result = model.codec.parse_polygons(answer, w, h) if task == "segment" else \
            _outline_of(model.codec.parse_located_outline(answer, w, h), ex.row["box"], box_hits)
        parsed.append(result)
        pred = polygons_to_mask(result.value, h, w) if result.ok else np.zeros((h, w), bool)
        scores.add(pred, polygons_to_mask([flat_to_points(p) for p in ex.row["polygons"]], h, w))
    metrics = scores.summary() | {"parse_rate": float(np.mean([p.ok for p in parsed]))}
    if task == "locate_segment":
        metrics["box_acc@0.5"] = float(np.mean(box_hits))
    return Scored(metrics, examples, answers, parsed, scores.per_sample_iou())


def _outline_of(located: Parsed, true_box, box_hits: list) -> Parsed:
    """The outline of a parsed located outline; appends whether its box hit ``true_box``."""
    if not located.ok:
        box_hits.append(False)
        return located
    box, outline = located.value
    box_hits.append(bool(box_iou(np.array([box], float), np.array([true_box], float))[0] >= 0.5))
    return Parsed(value=outline)


def evaluate_pointing(model: MiniVLM, rows: Sequence[dict], per_row: int | None = 1, constrained: bool | None = None,
                      batch_size: int = EVAL_BATCH, progress: bool = True) -> Scored:
    """Pointing (``point`` task): the share of points inside the object's mask and the mean
    distance to the point the task teaches (:func:`vlmkit.evaluation.metrics.pointing_metrics`)."""
    examples = queries(rows, "point", model.codec, per_row)
    answers = predict(model, examples, batch_size, constrained, progress=progress)
    parsed = [model.codec.parse_point(a, ex.row["width"], ex.row["height"]) for a, ex in zip(answers, examples)]
    masks = [row_mask(ex.row) for ex in examples]
    targets = [interior_point(mask) for mask in masks]
    return Scored(pointing_metrics(parsed, masks, targets), examples, answers, parsed)


def evaluate_captioning(model: MiniVLM, rows: Sequence[dict], batch_size: int = EVAL_BATCH,
                        progress: bool = True) -> Scored:
    """BLEU-4 and CIDEr-D of one greedy caption per image against all its captions; for
    captions in ShapeWorld's grammar also whether they are right (object precision, recall,
    F1, exact share: :func:`vlmkit.evaluation.metrics.caption_object_metrics`)."""
    images = list({row["image_id"]: row for row in rows}.values())
    examples = queries(images, "caption", model.codec)
    answers = predict(model, examples, batch_size, progress=progress)
    preds = {row["image_id"]: a for row, a in zip(images, answers)}
    refs = {row["image_id"]: list(row["captions"]) for row in images}
    metrics = caption_metrics(preds, refs)
    truths = [caption_truth(row["captions"]) for row in images]
    if all(truth is not None for truth in truths):
        content = caption_object_metrics([read_caption(answer) for answer in answers], truths)
        metrics |= {**{k: v for k, v in content.items() if k != "parse_rate"}, "parse_rate": content["parse_rate"]}
    return Scored(metrics, examples, answers)


def one_per_scene(result: Scored, order: Sequence[int]) -> list[int]:
    """The indices of ``order`` (queries of ``result``), keeping only the first query of each
    image: a gallery of distinct scenes rather than one scene asked about several times."""
    seen, kept = set(), []
    for i in order:
        image = result.examples[i].row["image_id"]
        if image not in seen:
            seen.add(image)
            kept.append(i)
    return kept


def captions_exact(result: Scored) -> list[bool]:
    """For each caption of :func:`evaluate_captioning`'s ``result``: does it name exactly its
    scene's objects (ShapeWorld's grammar; False for a caption outside it)?"""
    return [caption_object_metrics([read_caption(answer)], [caption_truth(ex.row["captions"])])["exact"] == 1.0
            for ex, answer in zip(result.examples, result.answers)]


def captions_of_other_scenes(result: Scored) -> dict[str, float]:
    """The baseline of :func:`evaluate_captioning`: the same captions, each scored against the
    next scene's references, i.e. what a caption that ignores its image would score."""
    if len(result.examples) < 2:
        raise ValueError("a baseline of captions of other scenes needs at least two scenes")
    rows = [ex.row for ex in result.examples]
    others = rows[1:] + rows[:1]
    metrics = caption_metrics(dict(enumerate(result.answers)), {i: list(r["captions"]) for i, r in enumerate(others)})
    truths = [caption_truth(r["captions"]) for r in others]
    if all(truth is not None for truth in truths):
        metrics |= caption_object_metrics([read_caption(answer) for answer in result.answers], truths)
    return metrics


def caption_truth(references: Sequence[str]) -> list[NamedObject] | None:
    """The objects a scene holds, read from the first of its reference captions in ShapeWorld's
    grammar; ``None`` when none is (real photos)."""
    return next((objects for objects in map(read_caption, references) if objects is not None), None)


def evaluate_description(model: MiniVLM, rows: Sequence[dict], world=None, batch_size: int = EVAL_BATCH,
                         progress: bool = True) -> Scored:
    """Region description (REG): BLEU-4/CIDEr against the object's expressions and, for
    ShapeWorld rows with their ``world``, the share of descriptions that the resolver
    finds refer to exactly the described object (the stricter test)."""
    examples = queries(rows, "describe", model.codec)
    answers = predict(model, examples, batch_size, progress=progress)
    references = {row["id"]: list(row["expressions"]) for row in rows}  # every expression, not just the query's
    metrics = caption_metrics({i: a for i, a in enumerate(answers)},
                              {i: references[ex.row["id"]] for i, ex in enumerate(examples)})
    if world is not None:
        metrics["resolves_uniquely"] = float(np.mean([names_only_its_object(world, ex.row, answer)
                                                      for answer, ex in zip(answers, examples)]))
    return Scored(metrics, examples, answers)


def cycle_consistency(model: MiniVLM, rows: Sequence[dict], batch_size: int = EVAL_BATCH,
                      progress: bool = True) -> CycleResult:
    """Describe each object's box, ground the description, and measure IoU with that box:
    a model that understands its own words finds the object it described."""
    described = evaluate_description(model, rows, batch_size=batch_size, progress=progress)
    grounded_rows = [dict(ex.row, expressions=[a], expression_kinds=["cycle"])
                     for ex, a in zip(described.examples, described.answers)]
    grounded = evaluate_grounding(model, grounded_rows, batch_size=batch_size, progress=progress)
    ious = grounded.ious
    return CycleResult({"cycle_acc@0.5": float(np.mean(ious >= 0.5)), "cycle_mean_iou": float(np.mean(ious))},
                       described.answers, grounded.parsed, ious, described.examples)


def names_only_its_object(world, row: dict, text: str) -> bool:
    """True if the resolver of ``world`` (the ShapeWorld that generated ``row``) reads ``text``
    as naming exactly ``row``'s object, and no other."""
    from vlmkit.data.shapeworld.language import UnresolvableExpression, resolve

    _, split, index, obj = row["id"].split("/")
    scene, _ = world.scene(split, int(index))
    try:
        resolution = resolve(text, scene)
    except UnresolvableExpression:
        return False
    return resolution.unique and resolution.referents == (int(obj),)


def evaluate_task(model: MiniVLM, task: str, rows: Sequence[dict], progress: bool = True) -> dict:
    """The headline metrics of ``task`` on ``rows`` (dispatches to the evaluators above)."""
    if task == "caption":
        return evaluate_captioning(model, rows, progress=progress).metrics
    if task == "ground":
        return evaluate_grounding(model, rows, progress=progress).metrics
    if task in ("segment", "locate_segment"):
        return evaluate_segmentation(model, rows, progress=progress, task=task).metrics
    if task == "describe":
        return evaluate_description(model, rows, progress=progress).metrics
    if task == "point":
        return evaluate_pointing(model, rows, progress=progress).metrics
    raise ValueError(f"unknown task {task!r}")


def evaluate_tasks(model: MiniVLM, rows: Sequence[dict], tasks: Sequence[str],
                   progress: bool = True) -> dict[str, dict]:
    """The headline metrics of each of ``tasks`` on the ``rows`` that can serve it: rows of your
    own mix boxes, outlines and captions (:func:`vlmkit.text.tasks.usable_rows`). Expressions are
    read as the model reads them, and words it does not know are refused
    (:func:`vlmkit.text.tokenizer.readable_rows`); a task no row can serve raises ``ValueError``."""
    rows = readable_rows(model.tokenizer, list(rows))
    scores = {}
    for task in tasks:
        task_rows = usable_rows(rows, task)
        if not task_rows:
            raise ValueError(f"no row can score {task!r}: it needs {TASK_NEEDS[task]}")
        scores[task] = evaluate_task(model, task, task_rows, progress=progress)
    return scores
