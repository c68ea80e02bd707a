"""ShapeWorld: the generated world of shapes that lets every notebook run offline."""

from vlmkit.data.shapeworld.dataset import SPLITS, ShapeWorld
from vlmkit.data.shapeworld.language import KINDS, captions, referring_expressions, resolve
from vlmkit.data.shapeworld.scenes import COLOURS, SHAPES, SIZES, Scene, SceneConfig, generate_scene

__all__ = ["COLOURS", "KINDS", "SHAPES", "SIZES", "SPLITS", "Scene", "SceneConfig", "ShapeWorld", "captions",
           "generate_scene", "referring_expressions", "resolve"]
