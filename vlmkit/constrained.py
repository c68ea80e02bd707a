"""Grammar-constrained decoding for the ``loc`` format: a logits processor that lets the
model choose only among the tokens the format permits next.

With it, every answer parses by construction: a box is four location tokens with
``x1 < x2`` and ``y1 < y2``, then eos; a polygon is parts of at least three distinct
vertices, separated by ``<sep>``, closed by eos before ``max_new_tokens`` runs out; a
located outline (``box+polygon``) is such a box without its eos, then such a polygon.
The model still decides *where*; the grammar only decides *what kind of token*.

Only the ``loc`` format is supported: its tokens are atomic in every tokenizer, whereas
digits of ``tags``/``json`` numbers split differently in each BPE vocabulary.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from .codecs import SEPARATOR_TOKEN, Codec


SHAPES = ("box", "polygon", "box+polygon")


class LocationGrammar(LogitsProcessor):
    """Mask every token the ``loc`` grammar forbids after the tokens generated so far.

    ``input_ids`` as Hugging Face passes them when generating from ``inputs_embeds``:
    the generated tokens only.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, codec: Codec, shape: str, max_new_tokens: int):
        if codec.fmt != "loc":
            raise ValueError(f"constrained decoding supports the 'loc' format only, not {codec.fmt!r}")
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
        minimum = {"box": 5, "polygon": 7, "box+polygon": 11}[shape]
        if max_new_tokens < minimum:
            raise ValueError(f"a {shape} needs max_new_tokens >= {minimum}, got {max_new_tokens}")
        self.n, self.shape, self.max_new_tokens = codec.num_bins, shape, max_new_tokens
        ids = tokenizer.convert_tokens_to_ids([f"<loc_{i}>" for i in range(self.n)] + [SEPARATOR_TOKEN])
        if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids:
            raise ValueError("the tokenizer lacks location tokens; build it with the codec's special tokens")
        self.loc_ids = torch.tensor(ids[:-1])
        self.bin_of = {t: i for i, t in enumerate(ids[:-1])}
        self.sep_id, self.eos_id = ids[-1], tokenizer.eos_token_id

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        for row, generated in enumerate(input_ids.tolist()):
            if self.eos_id in generated:  # finished: generate() pads this row anyway
                allowed[row] = True
                continue
            bins, tokens = self._allowed(generated)
            if bins is not None:
                allowed[row, self.loc_ids[bins]] = True
            for token in tokens:
                allowed[row, token] = True
        return scores.masked_fill(~allowed, float("-inf"))

    def _allowed(self, generated: list[int]) -> tuple[torch.Tensor | None, list[int]]:
        """(allowed bins as a bool mask or None, allowed non-location tokens)."""
        everything = torch.ones(self.n, dtype=torch.bool)
        if self.shape == "box" or (self.shape == "box+polygon" and len(generated) < 4):
            bins = [self.bin_of[t] for t in generated]
            if len(bins) >= 4:
                return None, [self.eos_id]
            if len(bins) < 2:
                mask = everything.clone()
                mask[-1] = False  # leave room for a larger far corner
                return mask, []
            mask = torch.arange(self.n) > bins[len(bins) - 2]  # x2 > x1, y2 > y1
            return mask, []
        remaining = self.max_new_tokens - len(generated)
        if self.shape == "box+polygon":
            generated = generated[4:]  # the outline after the box
        part = []
        for t in generated:
            part = [] if t == self.sep_id else part + [self.bin_of[t]]
        vertices = list(zip(part[0::2], part[1::2]))
        if len(part) % 2:  # inside a vertex: its y, distinct from earlier vertices until there are 3
            mask = everything.clone()
            if len(set(vertices)) < 3:
                for x, y in vertices:
                    if x == part[-1]:
                        mask[y] = False
            return mask, []
        closable = len(set(vertices)) >= 3
        tokens = [self.eos_id] if closable else []
        if closable and remaining >= 8:  # <sep> + 3 vertices + eos still fit
            tokens.append(self.sep_id)
        more_vertices = remaining >= 3 if closable else True
        return (everything if more_vertices else None), tokens
