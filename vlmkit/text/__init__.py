"""Everything between a row and the tokens a model reads or writes.

``codecs`` (boxes and outlines as text, and back: the one place that quantises),
``tokenizer`` (the word-level tokenizer and the pretrained one, from the Hub or a GGUF file,
with vlmkit's tokens), ``tasks`` (prompts, answers and streams of examples), ``constrained``
(decoding that only emits well-formed answers), ``processor`` (examples -> tensors, generated
ids -> text).
May import: vlmkit.core, vlmkit.data.
"""
