"""Tasks as text: what the model is asked (prompt) and what it must answer.

========== ================================== ====================================
task       prompt                             answer
========== ================================== ====================================
caption    ``caption:``                       a caption of the image
ground     ``locate: the red circle``         the box, in the codec's format
segment    ``segment: the red circle``        the outline, in the codec's format
locate_segment ``locate and segment: the red circle`` the box, then the outline (one answer)
point      ``locate the middle of: the red circle`` one location inside the object
describe   ``describe: <box in codec format>`` an expression for that object (REG)
========== ================================== ====================================

A *stream* maps an index to one example, deterministically: example ``i`` is always
the same, so a run resumed at step ``k`` sees exactly the data it would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from vlmkit.core.polygons import flat_to_points, interior_point, polygons_to_mask, simplify_to_budget
from vlmkit.text.codecs import Codec

TASKS = ("caption", "ground", "segment", "locate_segment", "point", "describe")
# every prompt word is already in the tiny vocabulary: a new task leaves the tokenizer unchanged
PROMPTS = {"caption": "caption:", "ground": "locate:", "segment": "segment:", "locate_segment": "locate and segment:",
           "point": "locate the middle of:", "describe": "describe:"}
OUTLINE_TASKS = ("segment", "locate_segment")  # tasks whose answer holds an outline
OBJECT_TASKS = ("ground", *OUTLINE_TASKS, "point")  # tasks about one object of a scene
MAX_VERTICES = 12  # outline budget for segment answers: ~2 tokens a vertex keeps answers short
# what a row must hold to serve a task (a file of your own may mix boxes, outlines and captions)
TASK_NEEDS = {"caption": "captions", "ground": "expressions", "describe": "expressions",
              "segment": "expressions and an outline", "locate_segment": "expressions and an outline",
              "point": "expressions and an outline"}


@dataclass
class Example:
    """One prompt/answer pair about one image, with the row it came from (for scoring)."""

    task: str
    image: object  # PIL image or HxWx3 uint8 array
    prompt: str
    answer: str
    row: dict = field(repr=False)
    expression: str = ""
    kind: str = ""


def make_example(row: dict, task: str, codec: Codec, rng: np.random.Generator,
                 max_vertices: int = MAX_VERTICES) -> Example:
    """The ``task`` example for a unified-schema ``row``; ``rng`` picks the expression/caption.
    Segment answers are outlines simplified to ``max_vertices`` vertices (Douglas-Peucker)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    w, h = row["width"], row["height"]
    if task == "caption":
        if not row["captions"]:
            raise ValueError(f"row {row['id']} has no captions to train captioning on")
        caption = row["captions"][rng.integers(len(row["captions"]))]
        return Example(task, row["image"], PROMPTS[task], caption, row)
    if not row["expressions"]:
        raise ValueError(f"row {row['id']} has no referring expressions for task {task!r}")
    k = int(rng.integers(len(row["expressions"])))
    expression, kind = row["expressions"][k], row["expression_kinds"][k]
    box_text = codec.encode_box(row["box"], w, h)
    if task == "ground":
        return Example(task, row["image"], f"{PROMPTS[task]} {expression}", box_text, row, expression, kind)
    if task == "point":
        answer = codec.encode_point(interior_point(row_mask(row)), w, h)
        return Example(task, row["image"], f"{PROMPTS[task]} {expression}", answer, row, expression, kind)
    if task in OUTLINE_TASKS:
        outline = simplify_to_budget([flat_to_points(p) for p in row["polygons"]], max_vertices)
        answer = codec.encode_polygons(outline, w, h) if task == "segment" else \
            codec.encode_located_outline(row["box"], outline, w, h)
        return Example(task, row["image"], f"{PROMPTS[task]} {expression}", answer, row, expression, kind)
    return Example(task, row["image"], f"{PROMPTS[task]} {box_text}", expression, row, expression, kind)


def usable_rows(rows: Sequence[dict], task: str) -> list[dict]:
    """The rows that can serve ``task`` (:data:`TASK_NEEDS`): a caption row cannot be grounded,
    a box without an outline cannot be traced or pointed inside."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    if task == "caption":
        return [r for r in rows if r["captions"]]
    return [r for r in rows if r["expressions"] and (task in ("ground", "describe") or r["polygons"])]


def row_mask(row: dict) -> np.ndarray:
    """The object's mask, rasterised from the row's polygons."""
    return polygons_to_mask([flat_to_points(p) for p in row["polygons"]], row["height"], row["width"])


class Stream:
    """Base class: ``stream[i]`` is example ``i``; ``len`` may be huge (generated data)."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Example:
        raise NotImplementedError


class RowStream(Stream):
    """Examples of one task drawn from rows given by ``rows_at(i) -> list of rows``.

    For ShapeWorld ``rows_at`` generates scene ``i``; for a stored dataset it returns
    row ``i mod n``. Indices whose rows cannot serve the task (no expressions) are
    skipped over deterministically. Segment answers have at most ``max_vertices``
    vertices. With ``per_rows_at`` > 1 that many consecutive
    examples share one ``rows_at`` call and take different rows of it: a batch then asks
    about several objects of one scene, and the scene is generated once for them.
    """

    def __init__(self, rows_at: Callable[[int], Sequence[dict]], task: str, codec: Codec, length: int,
                 seed: int = 0, per_rows_at: int = 1, max_vertices: int = MAX_VERTICES):
        if per_rows_at < 1:
            raise ValueError(f"per_rows_at must be at least 1, got {per_rows_at}")
        self.rows_at, self.task, self.codec, self.length, self.seed = rows_at, task, codec, length, seed
        self.max_vertices = max_vertices
        self.per_rows_at, self._last_rows = per_rows_at, (None, [])

    def __len__(self) -> int:
        return self.length

    def _rows(self, key: int) -> Sequence[dict]:
        if self._last_rows[0] != key:
            self._last_rows = (key, self.rows_at(key))
        return self._last_rows[1]

    def __getitem__(self, index: int) -> Example:
        group, member = divmod(index, self.per_rows_at)
        for offset in range(1000):
            rows = self._rows(group + offset * self.length)
            rng = np.random.default_rng([self.seed, index, offset])
            usable = [r for r in rows if self.task == "caption" or r["expressions"]]
            if usable:
                if self.per_rows_at == 1:
                    pick = rng.integers(len(usable))
                else:  # the members of a group take the rows in one shuffled order
                    order = np.random.default_rng([self.seed, group, offset]).permutation(len(usable))
                    pick = order[member % len(usable)]
                return make_example(usable[pick], self.task, self.codec, rng, self.max_vertices)
        raise ValueError(f"no usable row for task {self.task!r} near index {index}")


class CurriculumStream(Stream):
    """The first ``counts[0]`` examples from ``streams[0]``, then ``counts[1]`` from the next...
    The last stream continues to the end. (Single-object scenes first: docs/experiments/model_design.md#a-curriculum-in-time.)"""

    def __init__(self, streams: Sequence[Stream], counts: Sequence[int]):
        if len(counts) != len(streams) - 1:
            raise ValueError("give one count per stream except the last")
        self.streams, self.bounds = list(streams), list(np.cumsum(counts))

    def __len__(self) -> int:
        return int(self.bounds[-1]) + len(self.streams[-1]) if self.bounds else len(self.streams[0])

    def __getitem__(self, index: int) -> Example:
        start = 0
        for stream, bound in zip(self.streams, self.bounds):
            if index < bound:
                return stream[index - start]
            start = bound
        return self.streams[-1][index - start]


class MixtureStream(Stream):
    """Each example comes from one of ``streams``, chosen with probability ``weights``."""

    def __init__(self, streams: Sequence[Stream], weights: Sequence[float], seed: int = 0):
        total = float(sum(weights))
        if total <= 0 or len(weights) != len(streams):
            raise ValueError("give one positive weight per stream")
        self.streams, self.p, self.seed = list(streams), np.asarray(weights, float) / total, seed

    def __len__(self) -> int:
        return min(len(s) for s in self.streams)

    def __getitem__(self, index: int) -> Example:
        choice = np.random.default_rng([self.seed, index]).choice(len(self.streams), p=self.p)
        return self.streams[choice][index]
