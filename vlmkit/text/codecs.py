"""The coordinate language: how a language model writes boxes and outlines as text.

Three formats behind one interface (:class:`Codec`):

========  ==================================================  =======================================
format    box                                                 polygon (parts separated)
========  ==================================================  =======================================
``tags``  ``<bbox> 12 5 40 33 </bbox>``                       ``<polygon> (12,5) (40,5) ... </polygon>``
                                                              one ``<polygon>`` block per part
``json``  ``{"x_min":12,"y_min":5,"x_max":40,"y_max":33}``    ``{"polygons":[[[12,5],[40,5],...]]}``
``loc``   ``<loc_12> <loc_5> <loc_40> <loc_33>``              ``<loc_12> <loc_5> ... <sep> <loc_3> ...``
========  ==================================================  =======================================

The one quantisation rule (:class:`Quantizer`): a coordinate ``v`` on an axis of
``size`` pixels goes to bin ``clip(floor(v / size * N), 0, N - 1)`` and comes back as
the bin centre ``(bin + 0.5) * size / N``, so the round-trip error is at most
``size / (2 N)`` pixels. Whitespace is never significant in any format, because a
word-level tokenizer's decoder puts spaces between every token it emits.

A *point* (the ``point`` task) is one location: ``<loc_12> <loc_5>`` in ``loc``, ``(12,5)``
in ``tags`` (a polygon's vertex notation), ``{"x":12,"y":5}`` in ``json``.

A *located outline* (the ``locate_segment`` task) is the box, then the outline, in one
answer (:meth:`Codec.encode_located_outline`): the box names the object first, and the
outline follows inside it.

Parsing never raises: :meth:`Codec.parse_box` and :meth:`Codec.parse_polygons` return a
:class:`Parsed` holding either the value or a :class:`ParseFailure` reason, so callers
can count a parse rate instead of hiding failures. Parsing is also linear in the text's
length, whatever a model (or a user) writes: numbers are ASCII digits only, a number of
more than :data:`MAX_DIGITS` digits is out of range without being converted, and JSON
nested deeper than :data:`MAX_JSON_DEPTH` is refused before it is decoded.
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass
from typing import Generic, Sequence, TypeVar

from vlmkit.core.boxes import Box, normalize_corners
from vlmkit.core.polygons import Polygon, canonical_order

FORMATS = ("tags", "json", "loc")
SEPARATOR_TOKEN = "<sep>"
T = TypeVar("T")


class ParseFailure(str, enum.Enum):
    """Why model output did not decode to a shape."""

    EMPTY = "empty"
    NO_OPENING = "no opening marker"
    TRUNCATED = "truncated"
    NON_NUMERIC = "non-numeric"
    WRONG_COUNT = "wrong count"
    OUT_OF_RANGE = "out of range"
    DEGENERATE = "degenerate"


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """A parsed value, or the reason there is none. ``ok`` tells which."""

    value: T | None = None
    failure: ParseFailure | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None


def _fail(reason: ParseFailure, detail: str = "") -> Parsed:
    return Parsed(failure=reason, detail=detail)


@dataclass(frozen=True)
class Quantizer:
    """Normalise by the image size, then quantise to ``num_bins`` bins (see module doc)."""

    num_bins: int

    def __post_init__(self) -> None:
        if self.num_bins < 2:
            raise ValueError(f"num_bins must be at least 2, got {self.num_bins}")

    def to_bin(self, value: float, size: float) -> int:
        return int(min(max(math.floor(value / size * self.num_bins), 0), self.num_bins - 1))

    def from_bin(self, index: int, size: float) -> float:
        return (index + 0.5) * size / self.num_bins


@dataclass(frozen=True)
class Codec:
    """Encode/decode boxes and polygons in one ``fmt`` with ``num_bins`` bins."""

    fmt: str = "loc"
    num_bins: int = 1000

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ValueError(f"unknown codec format {self.fmt!r}; choose one of {FORMATS}")
        Quantizer(self.num_bins)  # validates num_bins

    @property
    def quantizer(self) -> Quantizer:
        return Quantizer(self.num_bins)

    # ---- vocabulary -----------------------------------------------------------------
    def special_tokens(self) -> list[str]:
        """Tokens a tokenizer must keep whole for this format (added to HF tokenizers)."""
        if self.fmt == "loc":
            return [f"<loc_{i}>" for i in range(self.num_bins)] + [SEPARATOR_TOKEN]
        if self.fmt == "tags":
            return ["<bbox>", "</bbox>", "<polygon>", "</polygon>"]
        return []

    # ---- encoding -------------------------------------------------------------------
    def _bins(self, points: Sequence[tuple[float, float]], width: int, height: int) -> list[tuple[int, int]]:
        q = self.quantizer
        return [(q.to_bin(x, width), q.to_bin(y, height)) for x, y in points]

    def encode_box(self, box: Sequence[float], width: int, height: int) -> str:
        """``[x1, y1, x2, y2]`` pixels -> text."""
        (x1, y1), (x2, y2) = self._bins([box[:2], box[2:]], width, height)
        if self.fmt == "tags":
            return f"<bbox> {x1} {y1} {x2} {y2} </bbox>"
        if self.fmt == "json":
            return json.dumps({"x_min": x1, "y_min": y1, "x_max": x2, "y_max": y2}, separators=(",", ":"))
        return f"<loc_{x1}> <loc_{y1}> <loc_{x2}> <loc_{y2}>"

    def encode_polygons(self, polygons: Sequence[Polygon], width: int, height: int) -> str:
        """Polygon parts (pixels) -> text, in canonical vertex order.

        Vertices that quantise into the same bin as their predecessor are merged, since
        they would only lengthen the target without moving the outline; parts left with
        fewer than 3 distinct vertices are dropped, and if none is left this raises
        ``ValueError`` (a training target must never be empty).
        """
        parts = []
        for part in canonical_order(polygons):
            bins = self._bins(part, width, height)
            deduped = [b for i, b in enumerate(bins) if i == 0 or b != bins[i - 1]]
            if len(deduped) > 1 and deduped[-1] == deduped[0]:
                deduped.pop()
            if len(set(deduped)) >= 3:
                parts.append(deduped)
        if not parts:
            raise ValueError(f"every polygon part collapses to fewer than 3 distinct bins at {self.num_bins} bins")
        if self.fmt == "tags":
            return " ".join("<polygon> " + " ".join(f"({x},{y})" for x, y in p) + " </polygon>" for p in parts)
        if self.fmt == "json":
            return json.dumps({"polygons": [[[x, y] for x, y in p] for p in parts]}, separators=(",", ":"))
        return f" {SEPARATOR_TOKEN} ".join(" ".join(f"<loc_{x}> <loc_{y}>" for x, y in p) for p in parts)

    def encode_point(self, point: Sequence[float], width: int, height: int) -> str:
        """``(x, y)`` pixels -> text (see the module doc)."""
        ((x, y),) = self._bins([point], width, height)
        if self.fmt == "tags":
            return f"({x},{y})"
        if self.fmt == "json":
            return json.dumps({"x": x, "y": y}, separators=(",", ":"))
        return f"<loc_{x}> <loc_{y}>"

    def encode_located_outline(self, box: Sequence[float], polygons: Sequence[Polygon], width: int,
                               height: int) -> str:
        """The box, then the outline: ``<loc_x1> <loc_y1> <loc_x2> <loc_y2> <loc_..> ...`` in ``loc``."""
        return f"{self.encode_box(box, width, height)} {self.encode_polygons(polygons, width, height)}"

    # ---- decoding -------------------------------------------------------------------
    def _to_pixels(self, bins: Sequence[tuple[int, int]], width: int, height: int) -> Parsed:
        q = self.quantizer
        for x, y in bins:
            if not (0 <= x < self.num_bins and 0 <= y < self.num_bins):
                return _fail(ParseFailure.OUT_OF_RANGE, f"bin ({x},{y}) outside 0..{self.num_bins - 1}")
        return Parsed(value=[(q.from_bin(x, width), q.from_bin(y, height)) for x, y in bins])

    def parse_box(self, text: str, width: int, height: int) -> Parsed[Box]:
        """Text -> ``Parsed[[x1, y1, x2, y2]]`` in pixels. Never raises.

        Swapped corners are put in order; a box with no area is reported as degenerate.
        """
        if not isinstance(text, str) or not text.strip():
            return _fail(ParseFailure.EMPTY)
        numbers = {"tags": _numbers_in_tags, "json": _numbers_in_json, "loc": _numbers_in_loc}[self.fmt](text, "box")
        if not numbers.ok:
            return numbers
        if len(numbers.value) != 4:
            return _fail(ParseFailure.WRONG_COUNT, f"a box needs 4 numbers, got {len(numbers.value)}")
        points = self._to_pixels([tuple(numbers.value[:2]), tuple(numbers.value[2:])], width, height)
        if not points.ok:
            return points
        box = normalize_corners([*points.value[0], *points.value[1]])
        if box[0] == box[2] or box[1] == box[3]:
            return Parsed(value=box, failure=ParseFailure.DEGENERATE, detail="box has zero width or height")
        return Parsed(value=box)

    def parse_polygons(self, text: str, width: int, height: int) -> Parsed[list[Polygon]]:
        """Text -> ``Parsed[list of polygon parts]`` in pixels. Never raises.

        Parts with fewer than 3 distinct vertices are degenerate; if no part survives the
        whole answer is.
        """
        if not isinstance(text, str) or not text.strip():
            return _fail(ParseFailure.EMPTY)
        parsed = {"tags": _parts_in_tags, "json": _parts_in_json, "loc": _parts_in_loc}[self.fmt](text)
        if not parsed.ok:
            return parsed
        parts = []
        for bins in parsed.value:
            pts = self._to_pixels(bins, width, height)
            if not pts.ok:
                return pts
            if len(set(pts.value)) >= 3:
                parts.append(pts.value)
        if not parts:
            return _fail(ParseFailure.DEGENERATE, "no part has 3 distinct vertices")
        return Parsed(value=parts)

    def parse_point(self, text: str, width: int, height: int) -> Parsed[tuple[float, float]]:
        """Text -> ``Parsed[(x, y)]`` in pixels (bin centres). Never raises."""
        if not isinstance(text, str) or not text.strip():
            return _fail(ParseFailure.EMPTY)
        if self.fmt == "loc":
            numbers = _numbers_in_loc(text, "point")
        elif self.fmt == "json":
            obj = _load_json(text)
            missing = [k for k in ("x", "y") if obj.ok and k not in obj.value]
            numbers = obj if not obj.ok else _fail(ParseFailure.WRONG_COUNT, f"missing keys {missing}") if missing \
                else _json_ints([obj.value["x"], obj.value["y"]], "point")
        else:
            if "(" not in text:
                return _fail(ParseFailure.NO_OPENING, "no '('")
            if ")" not in text:
                return _fail(ParseFailure.TRUNCATED, "'(' without ')'")
            numbers = _ints([t.strip() for t in text[text.index("(") + 1:text.index(")")].split(",")])
        if not numbers.ok:
            return numbers
        if len(numbers.value) != 2:
            return _fail(ParseFailure.WRONG_COUNT, f"a point needs 2 numbers, got {len(numbers.value)}")
        points = self._to_pixels([tuple(numbers.value)], width, height)
        return Parsed(value=points.value[0]) if points.ok else points

    def parse_located_outline(self, text: str, width: int, height: int) -> Parsed[tuple[Box, list[Polygon]]]:
        """Text of :meth:`encode_located_outline` -> ``Parsed[(box, polygon parts)]``. Never
        raises. A box cut short or a box with nothing after it is ``TRUNCATED``; a box or
        an outline that does not parse gives that part's failure, its detail saying which."""
        if not isinstance(text, str) or not text.strip():
            return _fail(ParseFailure.EMPTY)
        split = _split_box_first(self.fmt, text)
        if not split.ok:
            return split
        box_text, outline_text = split.value
        box = self.parse_box(box_text, width, height)
        if not box.ok:
            return Parsed(failure=box.failure, detail=f"box: {box.detail}")
        if not outline_text.strip():
            return _fail(ParseFailure.TRUNCATED, "no outline after the box")
        outline = self.parse_polygons(outline_text, width, height)
        if not outline.ok:
            return Parsed(failure=outline.failure, detail=f"outline: {outline.detail}")
        return Parsed(value=(box.value, outline.value))


def _split_box_first(fmt: str, text: str) -> Parsed:
    """``(box text, outline text)`` of a located outline, or why the box part is incomplete."""
    if fmt == "loc":
        tokens = list(_LOC.finditer(text))
        if not tokens:
            return _fail(ParseFailure.NO_OPENING, "no location token")
        if len(tokens) < 4 or SEPARATOR_TOKEN in text[: tokens[3].end()]:
            return _fail(ParseFailure.TRUNCATED, "the box needs 4 location tokens before the outline")
        return Parsed(value=(text[: tokens[3].end()], text[tokens[3].end():]))
    if fmt == "tags":
        if "<bbox>" not in text:
            return _fail(ParseFailure.NO_OPENING, "no <bbox>")
        if "</bbox>" not in text:
            return _fail(ParseFailure.TRUNCATED, "<bbox> without </bbox>")
        end = text.index("</bbox>") + len("</bbox>")
        return Parsed(value=(text[:end], text[end:]))
    compact = re.sub(r"\s+", "", text)  # json: the box object, then the outline object
    first = _load_json(compact)
    if not first.ok:
        return first
    start = compact.find("{")
    depth = 0
    for i, char in enumerate(compact[start:], start):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return Parsed(value=(compact[: i + 1], compact[i + 1:]))
    return _fail(ParseFailure.TRUNCATED, "the box object never closes")


# ---- format-specific readers: each returns Parsed[list[int]] or Parsed[list[list[(x, y)]]] ----
MAX_DIGITS = 9  # more digits than any bin index can have; int() of thousands of digits raises
MAX_JSON_DEPTH = 8  # the deepest valid answer ({"polygons":[[[x,y]]]}) has depth 4
_INT = re.compile(r"-?[0-9]+")  # ASCII digits only: "١٢" or "１２" is no coordinate


def _int(token: str) -> Parsed:
    if not _INT.fullmatch(token):
        return _fail(ParseFailure.NON_NUMERIC, f"{token[:20]!r} is not an integer")
    if len(token.lstrip("-")) > MAX_DIGITS:
        return _fail(ParseFailure.OUT_OF_RANGE, f"a number of {len(token.lstrip('-'))} digits")
    return Parsed(value=int(token))


def _ints(tokens: Sequence[str]) -> Parsed:
    values = []
    for tok in tokens:
        number = _int(tok)
        if not number.ok:
            return number
        values.append(number.value)
    return Parsed(value=values)


def _between(text: str, opening: str, closing: str) -> Parsed:
    """Bodies of every ``opening ... closing`` block; truncated if the last one never closes."""
    if opening not in text:
        return _fail(ParseFailure.NO_OPENING, f"no {opening}")
    bodies = []
    for chunk in text.split(opening)[1:]:
        if closing not in chunk:
            return _fail(ParseFailure.TRUNCATED, f"{opening} without {closing}")
        bodies.append(chunk.split(closing, 1)[0])
    return Parsed(value=bodies)


def _numbers_in_tags(text: str, _: str) -> Parsed:
    bodies = _between(text, "<bbox>", "</bbox>")
    return _ints(bodies.value[0].split()) if bodies.ok else bodies


_PUNCTUATION = re.compile(r"([(),])")


def _parts_in_tags(text: str) -> Parsed:
    """Each ``<polygon>`` body is a run of ``(x,y)`` pairs, read token by token (one pass: a
    regular expression with optional spaces on both sides of each number backtracks
    cubically on long runs of spaces)."""
    bodies = _between(text, "<polygon>", "</polygon>")
    if not bodies.ok:
        return bodies
    parts = []
    for body in bodies.value:
        tokens = _PUNCTUATION.sub(r" \1 ", body).split()
        if len(tokens) % 5:
            return _fail(ParseFailure.NON_NUMERIC, f"a polygon body is not a run of (x,y) pairs: {body[:20]!r}")
        part = []
        for i in range(0, len(tokens), 5):
            opening, x, comma, y, closing = tokens[i:i + 5]
            if (opening, comma, closing) != ("(", ",", ")"):
                return _fail(ParseFailure.NON_NUMERIC, f"unexpected text {' '.join(tokens[i:i + 5])[:20]!r} in a "
                                                       f"polygon")
            numbers = _ints([x, y])
            if not numbers.ok:
                return numbers
            part.append(tuple(numbers.value))
        parts.append(part)
    return Parsed(value=parts)


class _TooLong(int):
    """A JSON integer with more than MAX_DIGITS digits, left unconverted (its value is 0)."""


def _json_number(token: str) -> int:
    return _TooLong() if len(token.lstrip("-")) > MAX_DIGITS else int(token)


def _nesting_depth(text: str) -> int:
    depth = deepest = 0
    for match in re.finditer(r"[\[\]{}]", text):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _load_json(text: str) -> Parsed:
    compact = re.sub(r"\s+", "", text)
    start = compact.find("{")
    if start < 0:
        return _fail(ParseFailure.NO_OPENING, "no '{'")
    if _nesting_depth(compact[start:]) > MAX_JSON_DEPTH:
        return _fail(ParseFailure.NON_NUMERIC, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        obj, _ = json.JSONDecoder(parse_int=_json_number).raw_decode(compact[start:])
    except json.JSONDecodeError as err:
        reason = ParseFailure.TRUNCATED if err.pos >= len(compact) - start - 1 else ParseFailure.NON_NUMERIC
        return _fail(reason, f"invalid JSON: {err.msg}")
    if not isinstance(obj, dict):
        return _fail(ParseFailure.NON_NUMERIC, "JSON is not an object")
    return Parsed(value=obj)


def _json_ints(values: Sequence[object], what: str) -> Parsed:
    if any(isinstance(v, _TooLong) for v in values):
        return _fail(ParseFailure.OUT_OF_RANGE, f"a number of more than {MAX_DIGITS} digits")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return _fail(ParseFailure.NON_NUMERIC, f"{what} values must be integers")
    return Parsed(value=list(values))


def _numbers_in_json(text: str, _: str) -> Parsed:
    obj = _load_json(text)
    if not obj.ok:
        return obj
    keys = ("x_min", "y_min", "x_max", "y_max")
    missing = [k for k in keys if k not in obj.value]
    if missing:
        return _fail(ParseFailure.WRONG_COUNT, f"missing keys {missing}")
    return _json_ints([obj.value[k] for k in keys], "box")


def _parts_in_json(text: str) -> Parsed:
    obj = _load_json(text)
    if not obj.ok:
        return obj
    parts = obj.value.get("polygons")
    if not isinstance(parts, list):
        return _fail(ParseFailure.WRONG_COUNT, "no 'polygons' list")
    out = []
    for part in parts:
        if not isinstance(part, list):
            return _fail(ParseFailure.NON_NUMERIC, "a polygon part is not a list")
        for vertex in part:
            if not (isinstance(vertex, list) and len(vertex) == 2):
                return _fail(ParseFailure.WRONG_COUNT, "a vertex is not an [x, y] pair")
            checked = _json_ints(vertex, "vertex")
            if not checked.ok:
                return checked
        out.append([tuple(v) for v in part])
    return Parsed(value=out)


_LOC = re.compile(r"<loc_([0-9]+)>")


def _loc_values(text: str) -> Parsed:
    leftover = _LOC.sub("", text).strip()
    if leftover:
        return _fail(ParseFailure.NON_NUMERIC, f"unexpected text {leftover[:20]!r} among location tokens")
    return _ints(_LOC.findall(text))


def _numbers_in_loc(text: str, _: str) -> Parsed:
    if "<loc_" not in text:
        return _fail(ParseFailure.NO_OPENING, "no location token")
    return _loc_values(text)


def _parts_in_loc(text: str) -> Parsed:
    if "<loc_" not in text:
        return _fail(ParseFailure.NO_OPENING, "no location token")
    parts = []
    for chunk in text.split(SEPARATOR_TOKEN):
        values = _loc_values(chunk)
        if not values.ok:
            return values
        if len(values.value) % 2:
            return _fail(ParseFailure.TRUNCATED, "odd number of coordinates in a part")
        parts.append(list(zip(values.value[0::2], values.value[1::2])))
    return Parsed(value=parts)
