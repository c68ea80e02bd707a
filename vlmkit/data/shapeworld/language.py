"""ShapeWorld language: captions, referring expressions, and the resolver that checks them.

Expressions are generated, then *kept only if* :func:`resolve` — which parses the text
back and evaluates it on the scene — finds exactly the intended object. Uniqueness is
therefore a property checked on the words the model will read, not on the generator's
intentions. Kinds:

* ``attribute``  "the red circle", "the small square"
* ``absolute``   "the leftmost shape", "the circle at the top"
* ``relation``   "the triangle left of the green square"
* ``size``       "the bigger blue circle" (exactly two candidates that differ in size)
* ``ordinal``    "the second circle from the left"

Spatial words need a clear margin (:data:`MARGIN` of the image side) between the
positions they compare; inside it the expression counts as ambiguous.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

import numpy as np

from vlmkit.data.shapeworld.scenes import COLOURS, SHAPES, SIZES, Scene, SceneObject

KINDS = ("attribute", "absolute", "relation", "size", "ordinal")
MARGIN = 0.08  # fraction of the image side
GENERIC_HEADS = ("shape", "object")
ORDINALS = ("first", "second", "third", "fourth")
# direction -> (axis, sign): sign +1 sorts ascending along the axis
DIRECTIONS = {"left": (0, 1), "right": (0, -1), "top": (1, 1), "bottom": (1, -1)}
EXTREMES = {"leftmost": "left", "rightmost": "right", "topmost": "top", "lowest": "bottom"}
PLACES = {"on the left": "left", "on the right": "right", "at the top": "top", "at the bottom": "bottom"}
RELATIONS = {"left of": "left", "right of": "right", "above": "top", "below": "bottom"}
COMPARATIVES = {"bigger": 1, "smaller": -1}

_ADJ = "|".join(list(SIZES) + list(COLOURS))
_HEAD = "|".join(list(SHAPES) + list(GENERIC_HEADS))
_NP = rf"(?:(?:{_ADJ}) )*(?:{_HEAD})"
# the grammar :func:`resolve` parses, one pattern per expression form
_SIZE_RE = re.compile(rf"the ({'|'.join(COMPARATIVES)}) ({_NP})")
_ORDINAL_RE = re.compile(rf"the ({'|'.join(ORDINALS)}) ({_NP}) from the ({'|'.join(DIRECTIONS)})")
_EXTREME_RE = re.compile(rf"the ({'|'.join(EXTREMES)}) ({_NP})")
_PLACE_RE = re.compile(rf"the ({_NP}) ({'|'.join(PLACES)})")
_RELATION_RE = re.compile(rf"the ({_NP}) (?:to the )?({'|'.join(RELATIONS)}) the ({_NP})")
_ATTRIBUTE_RE = re.compile(rf"the ({_NP})(?: in the picture)?")


@dataclass(frozen=True)
class Description:
    """A noun phrase: optional size and colour, and a shape or a generic head."""

    size: str | None = None
    colour: str | None = None
    shape: str | None = None  # None = "shape"/"object"

    def matches(self, obj: SceneObject) -> bool:
        return ((self.size is None or obj.size == self.size) and (self.colour is None or obj.colour == self.colour)
                and (self.shape is None or obj.shape == self.shape))

    def text(self, head: str = "shape") -> str:
        return " ".join(w for w in (self.size, self.colour, self.shape or head) if w)

    @classmethod
    @functools.cache  # resolving a scene's candidate expressions parses the same phrases often
    def parse(cls, text: str) -> "Description":
        words = text.split()
        head, adjs = words[-1], words[:-1]
        return cls(size=next((w for w in adjs if w in SIZES), None),
                   colour=next((w for w in adjs if w in COLOURS), None),
                   shape=None if head in GENERIC_HEADS else head)


def named_attributes(expression: str) -> str:
    """The attributes an attribute expression names: "colour+shape" for "the red circle",
    "none" for "the shape in the picture". Which words a model binds shows in its accuracy
    per group (benchmarks/grounding_diagnosis.py, the learning benchmark's colour-only curve)."""
    match = _ATTRIBUTE_RE.fullmatch(expression.strip())
    if match is None:
        raise UnresolvableExpression(f"not an attribute expression: {expression!r}")
    phrase = Description.parse(match[1])
    return "+".join(name for name in ("size", "colour", "shape") if getattr(phrase, name)) or "none"


class UnresolvableExpression(ValueError):
    """The text is not in ShapeWorld's expression grammar."""


@dataclass(frozen=True)
class Resolution:
    kind: str
    referents: tuple[int, ...]  # indices into scene.objects the expression may mean
    clear: bool = True  # False when positions fall inside the margin

    @property
    def unique(self) -> bool:
        """True for a good expression: clear, and exactly one referent."""
        return self.clear and len(self.referents) == 1


def _centre(obj: SceneObject, axis: int) -> float:
    return obj.center[axis]


def _ranked(scene: Scene, candidates: list[int], direction: str) -> list[int] | None:
    """Candidates sorted from ``direction``; None if two are closer than the margin."""
    axis, sign = DIRECTIONS[direction]
    order = sorted(candidates, key=lambda i: sign * _centre(scene.objects[i], axis))
    coords = [_centre(scene.objects[i], axis) for i in order]
    if any(abs(a - b) < MARGIN * scene.size for a, b in zip(coords, coords[1:])):
        return None
    return order


def _matching(scene: Scene, description: Description) -> list[int]:
    return [i for i, o in enumerate(scene.objects) if description.matches(o)]


def resolve(text: str, scene: Scene) -> Resolution:
    """Parse ``text`` and return every object it could refer to (ambiguity -> several)."""
    t = text.strip()
    if m := _SIZE_RE.fullmatch(t):
        cands = _matching(scene, Description.parse(m[2]))
        sizes = {scene.objects[i].size for i in cands}
        if len(cands) != 2 or len(sizes) != 2:
            return Resolution("size", tuple(cands))
        pick = max(cands, key=lambda i: COMPARATIVES[m[1]] * scene.objects[i].area)
        return Resolution("size", (pick,))
    if m := _ORDINAL_RE.fullmatch(t):
        cands = _matching(scene, Description.parse(m[2]))
        order, rank = _ranked(scene, cands, m[3]), ORDINALS.index(m[1])
        if order is None:
            return Resolution("ordinal", tuple(cands), clear=False)
        return Resolution("ordinal", (order[rank],) if rank < len(order) else ())
    if m := _EXTREME_RE.fullmatch(t):
        return _extreme(scene, Description.parse(m[2]), EXTREMES[m[1]])
    if m := _PLACE_RE.fullmatch(t):
        return _extreme(scene, Description.parse(m[1]), PLACES[m[2]])
    if m := _RELATION_RE.fullmatch(t):
        anchors = _matching(scene, Description.parse(m[3]))
        if len(anchors) != 1:
            return Resolution("relation", ())
        anchor, (axis, sign) = scene.objects[anchors[0]], DIRECTIONS[RELATIONS[m[2]]]
        margin = MARGIN * scene.size
        # offset > 0 when the candidate lies in the named direction from the anchor
        offsets = {i: sign * (_centre(anchor, axis) - _centre(scene.objects[i], axis))
                   for i in _matching(scene, Description.parse(m[1])) if i != anchors[0]}
        unclear = any(abs(d) <= margin for d in offsets.values())
        return Resolution("relation", tuple(i for i, d in offsets.items() if d > -margin), clear=not unclear)
    if m := _ATTRIBUTE_RE.fullmatch(t):
        return Resolution("attribute", tuple(_matching(scene, Description.parse(m[1]))))
    raise UnresolvableExpression(f"not a ShapeWorld expression: {text!r}")


def _extreme(scene: Scene, description: Description, direction: str) -> Resolution:
    cands = _matching(scene, description)
    order = _ranked(scene, cands, direction)
    if order is None:
        # only the first two need to be apart for "the leftmost" to be clear
        axis, sign = DIRECTIONS[direction]
        order = sorted(cands, key=lambda i: sign * _centre(scene.objects[i], axis))
        if len(order) > 1 and abs(_centre(scene.objects[order[0]], axis)
                                  - _centre(scene.objects[order[1]], axis)) < MARGIN * scene.size:
            return Resolution("absolute", tuple(order), clear=False)
    return Resolution("absolute", tuple(order[:1]))


def _descriptions(obj: SceneObject, generic: bool) -> tuple[Description, ...]:
    """Every noun phrase true of ``obj``, shortest first."""
    return _noun_phrases(obj.size, obj.colour, obj.shape, generic)


@functools.cache  # a handful of attribute combinations, asked for thousands of times a second
def _noun_phrases(size: str, colour: str, shape: str, generic: bool) -> tuple[Description, ...]:
    out = []
    for size_word, colour_word in itertools.product((None, size), (None, colour)):
        out.append(Description(size_word, colour_word, shape))
        if generic and (size_word or colour_word):
            out.append(Description(size_word, colour_word, None))
    return tuple(sorted(out, key=lambda d: len(d.text().split())))


def candidate_expressions(scene: Scene, index: int, rng: np.random.Generator) -> dict[str, list[str]]:
    """Expressions of every kind that plausibly refer to object ``index``.

    Only phrasings that fit the geometry are proposed (the rank the object really has,
    the side the object really is on); :func:`resolve` still has the final word.
    """
    obj = scene.objects[index]
    head = GENERIC_HEADS[rng.integers(2)]
    out: dict[str, list[str]] = {k: [] for k in KINDS}
    # each other object with its shortest description that names it alone (None: none does)
    anchors = [(j, anchor, next((a for a in _descriptions(anchor, generic=False) if len(_matching(scene, a)) == 1),
                                None)) for j, anchor in enumerate(scene.objects)]
    for d in _descriptions(obj, generic=True):
        np_text = d.text(head)
        out["attribute"].append(f"the {np_text}" + (" in the picture" if rng.random() < 0.2 else ""))
        cands = _matching(scene, d)
        if len(cands) < 2:  # spatial words only where attributes are not enough
            continue
        for direction, (axis, sign) in DIRECTIONS.items():
            rank = sorted(cands, key=lambda i: sign * _centre(scene.objects[i], axis)).index(index)
            if rank == 0:
                out["absolute"].append(f"the {_key(EXTREMES, direction)} {np_text}")
                out["absolute"].append(f"the {np_text} {_key(PLACES, direction)}")
            if rank < len(ORDINALS):
                out["ordinal"].append(f"the {ORDINALS[rank]} {np_text} from the {direction}")
        if d.size is None and len(cands) == 2:
            out["size"] += [f"the {c} {np_text}" for c in COMPARATIVES]
        for j, anchor, anchor_d in anchors:
            if j == index or anchor_d is None:
                continue
            for rel, direction in RELATIONS.items():
                axis, sign = DIRECTIONS[direction]
                if sign * (_centre(anchor, axis) - _centre(obj, axis)) > MARGIN * scene.size:
                    prefix = "to the " if rel in ("left of", "right of") and rng.random() < 0.5 else ""
                    out["relation"].append(f"the {np_text} {prefix}{rel} the {anchor_d.text()}")
    return out


def _key(mapping: dict[str, str], value: str) -> str:
    return next(k for k, v in mapping.items() if v == value)


def referring_expressions(scene: Scene, index: int, rng: np.random.Generator,
                          per_kind: int = 2) -> list[tuple[str, str]]:
    """Up to ``per_kind`` (kind, text) pairs per kind that :func:`resolve` confirms refer to
    object ``index`` and to nothing else. Attribute expressions come first, shortest first."""
    found = []
    for kind, texts in candidate_expressions(scene, index, rng).items():
        texts = list(dict.fromkeys(texts))
        if kind != "attribute":
            rng.shuffle(texts)
        good = (t for t in texts if _refers_only_to(resolve(t, scene), index))  # lazy: stop at per_kind
        found += [(kind, t) for t in itertools.islice(good, per_kind)]
    return found


def _refers_only_to(resolution: Resolution, index: int) -> bool:
    return resolution.unique and resolution.referents == (index,)


# ---- captions -----------------------------------------------------------------------
# the words of a count-first phrasing ("three shapes: ...") captions no longer use: the vocabulary
# keeps them, so the tokenizer and the model's size stay those every measurement in docs/ was made with
_NUMBERS = ("no", "one", "two", "three", "four", "five", "six")


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def captions(scene: Scene) -> list[str]:
    """The scene's caption: its objects left to right, in one phrasing. (With three interchangeable
    phrasings, one drawn per example, the tiny model named objects right later and placed some in
    wrong regions: docs/experiments/captioning.md#one-phrasing-and-a-constant-rate-captions-right-in-3000-steps.)"""
    objs = sorted(scene.objects, key=lambda o: o.center[0])
    return [_join([_article(f"{o.size} {o.colour} {o.shape}") for o in objs])]


@dataclass(frozen=True)
class NamedObject:
    """One object a caption names: its size, colour and shape."""

    size: str
    colour: str
    shape: str


_NAMED_RE = re.compile(rf"an? ({'|'.join(SIZES)}) ({'|'.join(COLOURS)}) ({'|'.join(SHAPES)})")


def read_caption(text: str) -> list[NamedObject] | None:
    """The objects a caption in :func:`captions`' grammar names, in order; ``None`` when any
    part of it is not that grammar (the caller counts it as wrong, not as empty)."""
    named = [_NAMED_RE.fullmatch(item) for item in re.split(r", | and ", text.strip())]
    if not text.strip() or not all(named):
        return None
    return [NamedObject(*m.groups()) for m in named]


def scene_objects(scene: Scene) -> list[NamedObject]:
    """What a perfect caption names: every object of ``scene``, left to right."""
    return [NamedObject(o.size, o.colour, o.shape) for o in sorted(scene.objects, key=lambda o: o.center[0])]


def vocabulary() -> list[str]:
    """Every word ShapeWorld text can contain (for building an offline tokenizer)."""
    phrases = [*SHAPES, *COLOURS, *SIZES, *GENERIC_HEADS, *ORDINALS, *DIRECTIONS, *EXTREMES, *PLACES, *RELATIONS,
               *COMPARATIVES, *_NUMBERS, "the a an and in to from middle picture shapes : ,"]
    return sorted({w for p in phrases for w in p.replace(":", " : ").replace(",", " , ").split()})
