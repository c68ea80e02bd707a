"""MiniVLM and its parts: one file per component."""

from .config import PRESETS, VLMConfig, full_config, tiny_config
from .projector import Projector
from .vision import VisionEncoder
from .vlm import IGNORE_INDEX, MiniVLM

__all__ = ["IGNORE_INDEX", "PRESETS", "MiniVLM", "Projector", "VLMConfig", "VisionEncoder", "full_config",
           "tiny_config"]
