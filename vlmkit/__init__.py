"""vlmkit: learn and do visual grounding with a small vision-language model.

The calls most code needs::

    from vlmkit import Codec, ground, load_model, new_model

The folders, lowest layer first (each imports only those before it): ``core`` (geometry),
``data`` (rows), ``text`` (codecs, tokenizer, tasks), ``model`` (MiniVLM), ``storage``
(checkpoints, Hub), ``inference`` (answers), ``evaluation`` (metrics), ``train`` (loop,
recipes, stages); ``cli`` and ``series`` run them from a shell, ``book`` renders the
executed series as web pages.
"""

from vlmkit import _moved
from vlmkit.inference.answers import ground, segment
from vlmkit.model import MiniVLM, VLMConfig
from vlmkit.storage.checkpoint import load_model, save_checkpoint
from vlmkit.storage.hub import push_to_hub, save_pretrained
from vlmkit.text.codecs import Codec, Parsed, ParseFailure
from vlmkit.train.profiles import Profile, load_profile, new_model

_moved.install()

__all__ = ["Codec", "MiniVLM", "ParseFailure", "Parsed", "Profile", "VLMConfig", "ground", "load_model",
           "load_profile", "new_model", "push_to_hub", "save_checkpoint", "save_pretrained", "segment"]
__version__ = "0.1.0"
