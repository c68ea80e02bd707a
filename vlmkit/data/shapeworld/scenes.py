"""ShapeWorld scenes: flat coloured shapes on a noisy background, with exact geometry.

Every shape is a polygon (a circle is a 24-gon), so its outline is known exactly.
Shapes are stacked in drawing order; what a later shape covers is cut from the earlier
ones with shapely, so each object's visible outline is analytic too (several parts when
occlusion splits it), and its mask is that outline rasterised with pycocotools, the same
rasteriser the metrics use. The image is painted from the same masks, so pixels, mask,
polygons and box always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from shapely.geometry import MultiPolygon
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.ops import unary_union

from vlmkit.core.boxes import Box
from vlmkit.core.polygons import Polygon, canonical_order, polygons_to_mask

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "green": (44, 160, 44),
    "blue": (31, 90, 220),
    "yellow": (230, 200, 20),
    "purple": (148, 60, 189),
    "orange": (255, 127, 14),
}
# circumradius as a fraction of the image side
SIZES: dict[str, float] = {"small": 0.13, "big": 0.2}
# vertices of the unit shape (circumradius 1), y pointing down
_N_CIRCLE = 24
SHAPES: dict[str, list[tuple[float, float]]] = {
    "circle": [(np.cos(a), np.sin(a)) for a in np.linspace(0, 2 * np.pi, _N_CIRCLE, endpoint=False)],
    "square": [(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)],
    "triangle": [(0.0, -1.0), (0.87, 0.6), (-0.87, 0.6)],
    "diamond": [(0.0, -1.0), (0.8, 0.0), (0.0, 1.0), (-0.8, 0.0)],
    "hexagon": [(np.cos(a), np.sin(a)) for a in np.linspace(0, 2 * np.pi, 6, endpoint=False)],
}
BACKGROUND = 235
MIN_PART_AREA = 4.0  # px^2: visible slivers smaller than this would be invisible noise


@dataclass(frozen=True)
class SceneConfig:
    """What a ShapeWorld scene may contain. Defaults are the tiny profile's 64 px world."""

    image_size: int = 64
    min_objects: int = 1
    max_objects: int = 4
    shapes: tuple[str, ...] = ("circle", "square", "triangle")
    colours: tuple[str, ...] = tuple(COLOURS)
    sizes: tuple[str, ...] = tuple(SIZES)
    max_occlusion: float = 0.25  # largest fraction of an object that shapes in front may cover
    noise_std: float = 6.0
    exclude: tuple[tuple[str, str], ...] = ()  # (colour, shape) pairs never drawn
    require_one_of: tuple[tuple[str, str], ...] = ()  # the first object is one of these pairs

    def __post_init__(self) -> None:
        if self.min_objects < 1:
            raise ValueError(f"a scene needs at least one object, got min_objects={self.min_objects}")
        if self.max_objects < self.min_objects:
            raise ValueError(f"max_objects ({self.max_objects}) < min_objects ({self.min_objects})")
        for name, chosen, known in (("shape", self.shapes, SHAPES), ("colour", self.colours, COLOURS),
                                    ("size", self.sizes, SIZES)):
            unknown = [c for c in chosen if c not in known]
            if unknown or not chosen:
                raise ValueError(f"unknown {name} {unknown or '(none chosen)'}; choose from {sorted(known)}")
        for colour, shape in self.exclude + self.require_one_of:
            if colour not in self.colours or shape not in self.shapes:
                raise ValueError(f"combination ({colour}, {shape}) uses a colour or shape not in this config")
        if not self.combinations():
            raise ValueError("every (colour, shape) combination is excluded")
        smallest = min(SIZES[s] for s in self.sizes) * self.image_size
        if smallest < 3:
            raise ValueError(f"image_size {self.image_size} is too small: a small shape would be {smallest:.1f} px")
        biggest = max(SIZES[s] for s in self.sizes) * self.image_size
        if self.max_objects * (2 * biggest) ** 2 > 0.7 * self.image_size**2:
            raise ValueError(f"image_size {self.image_size} is too small for {self.max_objects} big shapes; "
                             f"lower max_objects or raise image_size")

    def combinations(self) -> list[tuple[str, str]]:
        """The (colour, shape) pairs this config may draw."""
        return [(c, s) for c in self.colours for s in self.shapes if (c, s) not in self.exclude]


@dataclass
class SceneObject:
    """One shape: its attributes, full outline, and what of it is visible."""

    shape: str
    colour: str
    size: str
    center: tuple[float, float]
    radius: float
    outline: ShapelyPolygon  # the full shape, before occlusion
    visible: ShapelyPolygon | MultiPolygon | None = None
    mask: np.ndarray | None = field(default=None, repr=False)
    # (visible, its polygons): the scene's painter and its rows both read them
    _polygons: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def polygons(self) -> list[Polygon]:
        """Visible parts as canonical vertex lists (pixels)."""
        if self._polygons is None or self._polygons[0] is not self.visible:
            parts = self.visible.geoms if isinstance(self.visible, MultiPolygon) else [self.visible]
            self._polygons = (self.visible, canonical_order([list(p.exterior.coords)[:-1] for p in parts]))
        return self._polygons[1]

    @property
    def box(self) -> Box:
        return tuple(float(v) for v in self.visible.bounds)

    @property
    def area(self) -> float:
        return float(self.visible.area)


@dataclass
class Scene:
    image: np.ndarray  # (H, W, 3) uint8
    objects: list[SceneObject]  # drawing order: later objects are in front

    @property
    def size(self) -> int:
        return self.image.shape[0]


def _shape_outline(shape: str, center: tuple[float, float], radius: float) -> ShapelyPolygon:
    cx, cy = center
    return ShapelyPolygon([(cx + radius * x, cy + radius * y) for x, y in SHAPES[shape]])


def _visible_parts(outline: ShapelyPolygon, cover: ShapelyPolygon | MultiPolygon | None):
    """What of ``outline`` shows past ``cover``, or None if it has holes or slivers (rejected)."""
    visible = outline if cover is None else outline.difference(cover)
    parts = visible.geoms if isinstance(visible, MultiPolygon) else [visible]
    if visible.is_empty or any(p.geom_type != "Polygon" or p.interiors or p.area < MIN_PART_AREA for p in parts):
        return None
    return visible


def _try_layout(config: SceneConfig, rng: np.random.Generator, count: int) -> list[SceneObject] | None:
    objects: list[SceneObject] = []
    for k in range(count):
        pool = config.require_one_of if (k == 0 and config.require_one_of) else config.combinations()
        colour, shape = pool[rng.integers(len(pool))]
        size = config.sizes[rng.integers(len(config.sizes))]
        radius = SIZES[size] * config.image_size
        for _attempt in range(30):
            center = tuple(rng.uniform(radius + 1, config.image_size - radius - 1, size=2).tolist())
            outline = _shape_outline(shape, center, radius)
            candidates = [*objects, SceneObject(shape, colour, size, center, radius, outline)]
            if _occlusion_ok(candidates, config.max_occlusion):
                objects = candidates
                break
        else:
            return None
    return objects


def _occlusion_ok(objects: list[SceneObject], max_occlusion: float) -> bool:
    """Set each object's visible part; False if any is covered too much or split oddly."""
    for i, obj in enumerate(objects):
        front = [o.outline for o in objects[i + 1:]]
        visible = _visible_parts(obj.outline, unary_union(front) if front else None)
        if visible is None or 1 - visible.area / obj.outline.area > max_occlusion:
            return False
        obj.visible = visible
    return True


def generate_scene(config: SceneConfig, rng: np.random.Generator) -> Scene:
    """Draw one scene. The same ``rng`` state always gives the same scene."""
    count = int(rng.integers(config.min_objects, config.max_objects + 1))
    for _ in range(50):
        objects = _try_layout(config, rng, count)
        if objects is not None:
            break
    else:
        raise ValueError(f"could not place {count} shapes without heavy occlusion in a {config.image_size} px "
                         f"image; raise image_size, max_occlusion, or lower max_objects")
    size = config.image_size
    image = np.full((size, size, 3), BACKGROUND, dtype=np.float32)
    covered = np.zeros((size, size), dtype=bool)
    for obj in reversed(objects):  # front to back: each keeps only what is not covered yet
        obj.mask = polygons_to_mask(obj.polygons, size, size) & ~covered
        covered |= obj.mask
        image[obj.mask] = COLOURS[obj.colour]
    image += rng.normal(0.0, config.noise_std, size=image.shape)
    return Scene(image=np.clip(image, 0, 255).astype(np.uint8), objects=objects)
