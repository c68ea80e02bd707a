"""MiniVLM and its parts: one file per component.

``config`` (every size and choice), ``vision`` (the ViT), ``projector``, ``language`` (the
causal LM), ``published`` (the pretrained parts' architectures offline, and where the real
SmolLM2 GGUF file is), ``box_head``, ``decoding`` (the cached decode loop), ``lora`` (adapters
on the LM), ``vlm`` (the three joined).
May import: vlmkit.core, vlmkit.data, vlmkit.text. Nothing here knows about files or the Hub
but what transformers reads for it (a pretrained part, or a local GGUF file).
"""

from vlmkit.model.config import VLMConfig, full_config, tiny_config
from vlmkit.model.projector import Projector
from vlmkit.model.vision import VisionEncoder
from vlmkit.model.vlm import MiniVLM

__all__ = ["MiniVLM", "Projector", "VLMConfig", "VisionEncoder", "full_config",
           "tiny_config"]
