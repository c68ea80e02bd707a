"""ShapeWorld: the generated world of shapes that lets every notebook run offline."""

from .dataset import SPLITS, ShapeWorld
from .language import KINDS, captions, referring_expressions, resolve
from .scenes import COLOURS, SHAPES, SIZES, Scene, SceneConfig, generate_scene

__all__ = ["COLOURS", "KINDS", "SHAPES", "SIZES", "SPLITS", "Scene", "SceneConfig", "ShapeWorld", "captions",
           "generate_scene", "referring_expressions", "resolve"]
