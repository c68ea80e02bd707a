"""Polygons and masks: rasterise, trace, simplify, and put vertices in a learnable order.

Conventions (shared with the codecs and every dataset):

* A polygon is a list of ``(x, y)`` vertices in pixels of the original image; an
  object is a list of polygons (parts), because occlusion splits COCO objects.
* Coordinates follow COCO: pixel ``(col, row)`` covers ``[col, col+1) x [row, row+1)``,
  so its centre is ``(col + 0.5, row + 0.5)``. scikit-image puts pixel centres at
  integer coordinates; :func:`mask_to_polygons` adds the half pixel. Skipping that
  shift costs about 0.08 mask IoU on COCO (``docs/experiments/data_and_codecs.md#polygon-round-trip``).
* Rasterising uses pycocotools, the implementation COCO's own evaluation uses. It hangs on
  a NaN vertex, crawls and then overflows (a wrong mask, or a crash) on vertices far off the
  image, so coordinates are checked first: finite and within :data:`COORDINATE_LIMIT` pixels.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import shapely
from pycocotools import mask as mask_utils
from skimage import measure

Point = tuple[float, float]
Polygon = list[Point]
# Vertices beyond this many pixels from the origin are refused: pycocotools slows down
# steeply with the coordinates' size and returns wrong masks past about 1e9. No real outline comes near it.
COORDINATE_LIMIT = 1e6


class PolygonError(ValueError):
    """A polygon that cannot describe an area (odd coordinate count, fewer than 3 vertices...)."""


def flat_to_points(flat: Sequence[float]) -> Polygon:
    """COCO ``[x1, y1, x2, y2, ...]`` -> ``[(x1, y1), (x2, y2), ...]``, rejecting malformed input."""
    if len(flat) % 2:
        raise PolygonError(f"a flat polygon needs an even number of values, got {len(flat)}")
    if len(flat) < 6:
        raise PolygonError(f"a polygon needs at least 3 vertices, got {len(flat) // 2}")
    try:
        values = [float(v) for v in flat]
    except (TypeError, ValueError) as err:
        raise PolygonError(f"a polygon coordinate is not a number: {err}") from err
    _check_coordinates(np.asarray(values))
    return list(zip(values[0::2], values[1::2]))


def _check_coordinates(values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        raise PolygonError("a polygon has a non-finite coordinate (NaN or infinity)")
    if values.size and np.abs(values).max() > COORDINATE_LIMIT:
        raise PolygonError(f"a polygon has a coordinate of {np.abs(values).max():.3g} pixels, beyond the "
                           f"limit of {COORDINATE_LIMIT:.0e} that rasterising allows")


def points_to_flat(points: Sequence[Point]) -> list[float]:
    """``[(x, y), ...]`` -> COCO ``[x, y, ...]``."""
    return [float(c) for point in points for c in point]


def signed_area(points: Sequence[Point]) -> float:
    """Shoelace area; positive when the vertices run clockwise on screen (y pointing down).
    Plain Python for a list of points (a ShapeWorld outline: a few dozen vertices, where
    numpy's per-call cost was most of the time), numpy for an array (a traced mask)."""
    if isinstance(points, np.ndarray):
        x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
        return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
    pairs = zip(points, [*points[1:], points[0]])
    return 0.5 * math.fsum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairs)


def _check_size(height: int, width: int) -> None:
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (height, width)):
        raise ValueError(f"a mask size is two positive integers, got height={height!r}, width={width!r}")


def polygons_to_mask(polygons: Sequence[Sequence[Point]], height: int, width: int) -> np.ndarray:
    """Rasterise the union of ``polygons`` to a boolean ``(height, width)`` mask with pycocotools.

    Raises :class:`PolygonError` for a NaN or infinite vertex, or one beyond
    :data:`COORDINATE_LIMIT` pixels (see the module doc)."""
    _check_size(height, width)
    flats = [points_to_flat(p) for p in polygons if len(p) >= 3]
    if not flats:
        return np.zeros((height, width), dtype=bool)
    _check_coordinates(np.concatenate([np.asarray(f, dtype=np.float64) for f in flats]))
    rles = mask_utils.frPyObjects(flats, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def rle_to_mask(rle: dict, height: int, width: int) -> np.ndarray:
    """Decode a COCO RLE, compressed (``counts`` a string) or not (``counts`` a list), of an
    image of ``height`` x ``width``; an RLE of another size raises ``ValueError`` (decoded
    as it is, it would be a mask of the wrong shape)."""
    check_rle(rle, height, width)
    if isinstance(rle["counts"], list):
        rle = mask_utils.frPyObjects(rle, height, width)
    return mask_utils.decode(rle).astype(bool)


def check_rle(rle: dict, height: int, width: int) -> None:
    """Raise ``ValueError`` unless ``rle`` is a COCO RLE of a ``height`` x ``width`` image."""
    _check_size(height, width)
    if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
        raise ValueError("an RLE is a dict with 'size' and 'counts'")
    if list(rle["size"]) != [height, width]:
        raise ValueError(f"the RLE is of size {list(rle['size'])} (height, width) but its image is "
                         f"[{height}, {width}]")
    counts = rle["counts"]
    if isinstance(counts, list):
        if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != height * width:
            raise ValueError(f"the RLE's counts are not {height} x {width} = {height * width} pixels")
    elif not isinstance(counts, (str, bytes)):
        raise ValueError(f"RLE counts are a list or a compressed string, not {type(counts).__name__}")


def canonical_order(polygons: Sequence[Sequence[Point]]) -> list[Polygon]:
    """Make the vertex sequence learnable: every part clockwise on screen, starting at the
    vertex nearest the image origin, parts sorted by that starting vertex (as in PolyFormer).

    Without a canonical order the same outline has ``2 * n`` valid spellings and the
    language model is punished for choosing a different one than the target.
    """
    ordered = []
    for part in polygons:
        pts = [(float(x), float(y)) for x, y in part]
        if signed_area(pts) < 0:
            pts.reverse()
        start = min(range(len(pts)), key=lambda i: (pts[i][0] ** 2 + pts[i][1] ** 2, pts[i][1], pts[i][0]))
        ordered.append(pts[start:] + pts[:start])
    ordered.sort(key=lambda p: (p[0][0] ** 2 + p[0][1] ** 2, p[0][1], p[0][0]))
    return ordered


def _simplify(polygons: Sequence[np.ndarray], tolerance: float) -> list[np.ndarray]:
    """Douglas-Peucker on each closed ring (its first vertex kept), by GEOS through shapely:
    scikit-image's pure-Python ``approximate_polygon`` made outline targets most of a
    segmentation training step
    (docs/experiments/data_and_codecs.md#outline-simplification-geos-instead-of-scikit-image).
    On ShapeWorld outlines both give the same vertices; on COCO masks a few rings differ,
    because GEOS measures the distance to a segment where scikit-image measures it to the
    segment's line."""
    lines = [shapely.LineString(np.vstack([ring, ring[:1]])) for ring in polygons]
    out = []
    for line in shapely.simplify(lines, tolerance, preserve_topology=False):
        approx = shapely.get_coordinates(line)[:-1]  # drop the closing repeat
        if len(approx) >= 3:
            out.append(approx)
    return out


def simplify_to_budget(polygons: Sequence[Sequence[Point]], max_vertices: int) -> list[Polygon]:
    """Douglas-Peucker with the smallest shared tolerance whose result fits ``max_vertices``
    vertices over all parts (bisection on the tolerance).

    One tolerance for all parts keeps detail where the outline has it, unlike a
    uniform stride, which drops corners and keeps points on straight edges.
    """
    if max_vertices < 4:
        # Douglas-Peucker on a closed ring jumps from 4 vertices to a 2-vertex sliver.
        raise ValueError(f"a vertex budget must be at least 4, got {max_vertices}")
    rings = [np.asarray(p, dtype=np.float64) for p in polygons if len(p) >= 3]
    count = lambda rs: sum(len(r) for r in rs)  # noqa: E731
    if count(rings) <= max_vertices:
        return [[tuple(v) for v in r] for r in rings]
    lo, hi = 0.0, 1.0
    while count(_simplify(rings, hi)) > max_vertices:
        hi *= 2
    for _ in range(30):
        mid = (lo + hi) / 2
        if count(_simplify(rings, mid)) > max_vertices:
            lo = mid
        else:
            hi = mid
    simplified = _simplify(rings, hi)
    if not simplified:
        raise ValueError(f"no part of the polygon survives simplification to {max_vertices} vertices")
    return [[(float(x), float(y)) for x, y in r] for r in simplified]


def mask_to_polygons(mask: np.ndarray, min_area: float = 4.0, max_vertices: int | None = None) -> list[Polygon]:
    """Trace a boolean mask into outer polygons (holes are dropped: COCO polygons cannot hold them).

    The mask is padded by one pixel so objects touching the border still give closed
    contours; parts smaller than ``min_area`` square pixels are dropped; with
    ``max_vertices`` the result is simplified to that budget. Output is canonically ordered.

    An object is never lost to ``min_area``: if the mask has pixels but no part is that
    large (a speck of a few pixels, a one-pixel line), the result is the rectangle of pixel
    edges around its largest part, exact for a single pixel or a straight line of them.
    Only an empty mask gives ``[]``.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    padded = np.pad(mask, 1).astype(np.float32)
    parts = []
    for contour in measure.find_contours(padded, 0.5, positive_orientation="high"):
        # (row, col) with pixel centres at integers, padded -> COCO (x, y) with centres at +0.5
        xy = contour[:-1, ::-1] - 1.0 + 0.5
        if len(xy) < 3:
            continue
        area = signed_area(xy)
        # Outer boundaries wind one way, holes the other, in skimage's output.
        if area < 0 and -area >= min_area:
            parts.append(xy)
    if not parts and mask.any():
        parts = [_pixel_rectangle(mask)]
    if max_vertices is not None:
        parts = simplify_to_budget(parts, max_vertices)
    return canonical_order(parts)


def _pixel_rectangle(mask: np.ndarray) -> np.ndarray:
    """The pixel-edge rectangle around the largest 8-connected part of ``mask``, as ``(x, y)``."""
    labels = measure.label(mask, connectivity=2)
    largest = max(measure.regionprops(labels), key=lambda region: region.area)
    top, left, bottom, right = largest.bbox  # rows/cols, bottom and right exclusive: pixel edges
    return np.array([(left, top), (right, top), (right, bottom), (left, bottom)], dtype=np.float64)


def mask_iou(pred: np.ndarray, target: np.ndarray) -> float:
    """IoU of two boolean masks. Both empty counts as a perfect 1.0 (nothing to find, nothing found)."""
    pred, target = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
    if pred.shape != target.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {target.shape}")
    union = np.logical_or(pred, target).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, target).sum() / union)


def roundtrip_iou(mask: np.ndarray, max_vertices: int | None) -> float:
    """IoU between ``mask`` and its traced, simplified outline rasterised back."""
    h, w = mask.shape
    return mask_iou(polygons_to_mask(mask_to_polygons(mask, max_vertices=max_vertices), h, w), mask)


def budget_curve(masks: Sequence[np.ndarray], budgets: Sequence[int]) -> dict[int, float]:
    """Mean :func:`roundtrip_iou` over ``masks`` for each vertex budget."""
    return {b: float(np.mean([roundtrip_iou(m, b) for m in masks])) for b in budgets}


def interior_point(mask: np.ndarray) -> tuple[float, float]:
    """A point of ``mask`` to point at: the centre of its pixels' centroid when that pixel is in
    the mask, else the centre of the mask pixel nearest to it (an occluded or bent object's
    centroid can fall outside it). ``ValueError`` for an empty mask."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        raise ValueError("an empty mask has no point to point at")
    cy, cx = rows.mean(), cols.mean()
    r, c = int(cy), int(cx)
    if not mask[r, c]:
        nearest = int(np.argmin((rows - cy) ** 2 + (cols - cx) ** 2))
        r, c = int(rows[nearest]), int(cols[nearest])
    return (c + 0.5, r + 0.5)
