"""MiniVLM and its parts: one file per component."""

from .config import VLMConfig, full_config, tiny_config
from .projector import Projector
from .vision import VisionEncoder
from .vlm import IGNORE_INDEX, MiniVLM

__all__ = ["IGNORE_INDEX", "MiniVLM", "Projector", "VLMConfig", "VisionEncoder", "full_config",
           "tiny_config"]
