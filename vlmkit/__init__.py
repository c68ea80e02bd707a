"""vlmkit: learn and do visual grounding with a small vision-language model.

The calls most code needs::

    from vlmkit import Codec, ground, load_model, new_model
"""

from .checkpoint import load_model, save_checkpoint
from .codecs import Codec, Parsed, ParseFailure
from .evaluate import ground
from .model import MiniVLM, VLMConfig
from .profiles import new_model, profile_name

__all__ = ["Codec", "MiniVLM", "ParseFailure", "Parsed", "VLMConfig", "ground", "load_model", "new_model",
           "profile_name", "save_checkpoint"]
__version__ = "0.1.0"
