"""Answers from a trained model: the calls a user who serves a model needs.

``answers`` (``predict`` over batches; ``ground`` and ``segment`` for one image), ``export``
(ONNX export and an onnxruntime model that answers like the torch one).
May import: vlmkit.core, vlmkit.data, vlmkit.text, vlmkit.model, vlmkit.storage.
"""

from vlmkit.inference.answers import EVAL_BATCH, MAX_TOKENS, SHAPE_OF_TASK, ground, predict, segment

__all__ = ["EVAL_BATCH", "MAX_TOKENS", "SHAPE_OF_TASK", "ground", "predict", "segment"]
