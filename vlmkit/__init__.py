"""vlmkit: learn and do visual grounding with a small vision-language model.

The calls most code needs::

    from vlmkit import Codec, ground, load_model, new_model
"""

from .checkpoint import load_model, save_checkpoint
from .codecs import Codec, Parsed, ParseFailure
from .inference import ground, segment
from .model import MiniVLM, VLMConfig
from .profiles import Profile, load_profile, new_model

__all__ = ["Codec", "MiniVLM", "ParseFailure", "Parsed", "Profile", "VLMConfig", "ground", "load_model",
           "load_profile", "new_model", "save_checkpoint", "segment"]
__version__ = "0.1.0"
