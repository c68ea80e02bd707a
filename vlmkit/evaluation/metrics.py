"""Scores with their standard definitions, for grounding, segmentation and captioning.

* REC (referring expression comprehension): Acc@0.5 / Acc@0.75 are the fraction of
  expressions whose predicted box has IoU >= 0.5 / 0.75 with the true box; an output
  that does not parse counts as a miss (IoU 0) and lowers the parse rate.
* Referring segmentation: mIoU is the mean of per-sample IoU; oIoU (a.k.a. cIoU) is the
  total intersection over the total union across the set, which weights big objects
  more; P@X is the fraction of samples with IoU >= X.
* Pointing: the share of predicted points inside the object's mask (the pointing-game
  score), and the mean distance to the true point in pixels and as a share of the image
  diagonal; an unparsed answer is outside and contributes no distance.
* Captioning: BLEU-4 and CIDEr-D from pycocoevalcap, the COCO caption evaluation code; and,
  where captions follow a grammar (ShapeWorld), whether they are right: each caption read back
  into objects, object precision / recall / F1 against the scene per caption, then averaged,
  and the share captioned exactly. A caption outside the grammar scores 0 and lowers the parse rate.
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

import numpy as np

from vlmkit.core.boxes import box_iou
from vlmkit.data.shapeworld.language import NamedObject
from vlmkit.text.codecs import Parsed

SEG_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def grounding_metrics(predictions: Sequence[Parsed], targets: Sequence[Sequence[float]]) -> dict[str, float]:
    """Acc@0.5, Acc@0.75, mean IoU and parse rate of parsed box predictions against true boxes."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
    if not predictions:
        raise ValueError("grounding_metrics needs at least one prediction")
    parsed = np.array([p.ok for p in predictions])
    boxes = np.array([p.value if p.ok else (0.0, 0.0, 0.0, 0.0) for p in predictions], dtype=np.float64)
    ious = np.where(parsed, box_iou(boxes, np.asarray(targets, dtype=np.float64)), 0.0)
    return {
        "acc@0.5": float(np.mean(ious >= 0.5)),
        "acc@0.75": float(np.mean(ious >= 0.75)),
        "mean_iou": float(np.mean(ious)),
        "parse_rate": float(np.mean(parsed)),
        "n": len(predictions),
    }


def pointing_metrics(predictions: Sequence[Parsed], masks: Sequence[np.ndarray],
                     targets: Sequence[Sequence[float]]) -> dict[str, float]:
    """Pointing scores of parsed ``(x, y)`` points (pixels) against the objects' boolean
    ``masks`` (``H x W``) and true points. A point is inside when the pixel it falls in
    (``floor(x), floor(y)``) belongs to the mask."""
    if not (len(predictions) == len(masks) == len(targets)) or not predictions:
        raise ValueError(f"pointing_metrics needs as many predictions ({len(predictions)}), masks ({len(masks)}) and "
                         f"targets ({len(targets)}), at least one")
    inside, distances, relative = [], [], []
    for parsed, mask, target in zip(predictions, masks, targets):
        if not parsed.ok:
            inside.append(False)
            continue
        x, y = parsed.value
        col, row = int(np.floor(x)), int(np.floor(y))
        inside.append(bool(0 <= row < mask.shape[0] and 0 <= col < mask.shape[1] and mask[row, col]))
        distances.append(float(np.hypot(x - target[0], y - target[1])))
        relative.append(distances[-1] / float(np.hypot(*mask.shape)))
    return {"inside": float(np.mean(inside)),
            "mean_distance": float(np.mean(distances)) if distances else float("nan"),
            "mean_distance_se": standard_error(distances),
            "mean_distance_diag": float(np.mean(relative)) if relative else float("nan"),
            "parse_rate": float(np.mean([p.ok for p in predictions])), "n": len(predictions)}


class SegmentationScores:
    """Accumulates per-sample intersection/union so the set-level scores can be read at any time."""

    def __init__(self) -> None:
        self.intersections: list[int] = []
        self.unions: list[int] = []
        self.pred_areas: list[int] = []
        self.target_areas: list[int] = []

    def add(self, pred: np.ndarray, target: np.ndarray) -> None:
        pred, target = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
        if pred.shape != target.shape:
            raise ValueError(f"mask shapes differ: {pred.shape} vs {target.shape}")
        self.intersections.append(int(np.logical_and(pred, target).sum()))
        self.unions.append(int(np.logical_or(pred, target).sum()))
        self.pred_areas.append(int(pred.sum()))
        self.target_areas.append(int(target.sum()))

    def per_sample_iou(self) -> np.ndarray:
        inter, union = np.array(self.intersections, float), np.array(self.unions, float)
        return np.divide(inter, union, out=np.ones_like(inter), where=union > 0)  # both empty: 1

    def summary(self) -> dict[str, float]:
        if not self.unions:
            raise ValueError("no samples were added")
        ious = self.per_sample_iou()
        inter, areas = np.array(self.intersections, float), np.array(self.pred_areas) + np.array(self.target_areas)
        dice = np.divide(2 * inter, areas, out=np.ones_like(inter), where=areas > 0)
        total_union = sum(self.unions)
        out = {
            "miou": float(ious.mean()),
            "oiou": float(sum(self.intersections) / total_union) if total_union else 1.0,
            "dice": float(dice.mean()),
            "n": len(ious),
        }
        out.update({f"p@{t}": float(np.mean(ious >= t)) for t in SEG_THRESHOLDS})
        return out


def _caption_tokens(text: str) -> str:
    """Lower-case, punctuation-free, space-joined: what pycocoevalcap's scorers expect.

    COCO's own pipeline runs the Stanford PTB tokenizer (Java) first; for our captions,
    which are plain words, this simple split gives the same tokens without a JVM.
    """
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def standard_error(values: Sequence[float]) -> float:
    """The standard error of the mean of ``values``, for the verdicts on scores that are not
    shares (:mod:`vlmkit.evaluation.verdicts`): inf for one value (no noise estimate), nan for none."""
    if len(values) < 2:
        return float("inf") if len(values) == 1 else float("nan")
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))


def caption_metrics(predictions: Mapping[object, str], references: Mapping[object, Sequence[str]]) -> dict[str, float]:
    """Corpus BLEU-4 and CIDEr-D of one predicted caption per id against its reference captions,
    and the standard error of CIDEr-D (the mean of the captions' own scores)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    if set(predictions) != set(references):
        raise ValueError("predictions and references must have the same ids")
    if not predictions:
        raise ValueError("caption_metrics needs at least one prediction")
    res = {k: [_caption_tokens(v)] for k, v in predictions.items()}
    gts = {k: [_caption_tokens(r) for r in refs] for k, refs in references.items()}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, per_caption = Cider().compute_score(gts, res)
    return {"bleu4": float(bleu[3]), "cider": float(cider), "cider_se": standard_error(per_caption),
            "n": len(predictions)}


def caption_object_metrics(predictions: Sequence[list[NamedObject] | None],
                           truths: Sequence[list[NamedObject]]) -> dict[str, float]:
    """Object precision, recall and F1 (averaged over captions), the exact share and the parse
    rate of captions read into objects (``None``: outside the grammar) against each scene's."""
    if len(predictions) != len(truths) or not truths:
        raise ValueError(f"{len(predictions)} captions for {len(truths)} scenes: need as many, at least one")
    scores = np.array([_object_scores(p, t) for p, t in zip(predictions, truths)])
    return {"object_precision": float(scores[:, 0].mean()), "object_recall": float(scores[:, 1].mean()),
            "object_f1": float(scores[:, 2].mean()), "exact": float(scores[:, 3].mean()),
            "parse_rate": float(np.mean([p is not None for p in predictions]))}


def _object_scores(predicted: list[NamedObject] | None, truth: list[NamedObject]) -> tuple[float, ...]:
    """(precision, recall, F1, exact) of one caption. A named object matches an unmatched true one
    of the same size, colour and shape."""
    if not predicted:
        return 0.0, 0.0, 0.0, 0.0
    matched = sum((Counter(predicted) & Counter(truth)).values())
    precision, recall = matched / len(predicted), matched / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if matched else 0.0
    return precision, recall, f1, float(matched == len(predicted) == len(truth))


def format_table(rows: Mapping[str, Mapping[str, float]], columns: Sequence[str], digits: int = 3) -> str:
    """A plain-text table: one line per key of ``rows``, one column per metric name."""
    width = max([len(str(k)) for k in rows] + [5])
    lines = [f"{'':<{width}} | " + " | ".join(f"{c:>9}" for c in columns)]
    for name, values in rows.items():
        cells = []
        for c in columns:
            v = values.get(c)
            cells.append(f"{v:>9.{digits}f}" if isinstance(v, float) else f"{'-' if v is None else v:>9}")
        lines.append(f"{name:<{width}} | " + " | ".join(cells))
    return "\n".join(lines)
