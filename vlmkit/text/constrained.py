"""Grammar-constrained decoding for the ``loc`` format: a logits processor that lets the
model choose only among the tokens the format permits next.

With it, every answer parses by construction: a box is four location tokens with
``x1 < x2`` and ``y1 < y2``, then eos; a point two location tokens, then eos; a polygon is parts of at least three distinct
vertices, separated by ``<sep>``, closed by eos before ``max_new_tokens`` runs out; a
located outline (``box+polygon``) is such a box without its eos, then such a polygon.
The model still decides *where*; the grammar only decides *what kind of token*.

Only the ``loc`` format is supported: its tokens are atomic in every tokenizer, whereas
digits of ``tags``/``json`` numbers split differently in each BPE vocabulary.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from vlmkit.text.codecs import SEPARATOR_TOKEN, Codec

SHAPES = ("box", "polygon", "box+polygon", "point")
EVERY_BIN = frozenset()  # no location bin banned


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
        minimum = {"box": 5, "polygon": 7, "box+polygon": 11, "point": 3}[shape]
        if max_new_tokens < minimum:
            raise ValueError(f"a {shape} needs max_new_tokens >= {minimum}, got {max_new_tokens}")
        self.n, self.shape, self.max_new_tokens = codec.num_bins, shape, max_new_tokens
        ids = tokenizer.convert_tokens_to_ids([f"<loc_{i}>" for i in range(self.n)] + [SEPARATOR_TOKEN])
        if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids:
            raise ValueError("the tokenizer lacks location tokens; build it with the codec's special tokens")
        self.loc_ids = torch.tensor(ids[:-1])
        self._bins, self._last_bin = torch.arange(self.n), frozenset({self.n - 1})
        self.bin_of = {t: i for i, t in enumerate(ids[:-1])}
        self.sep_id, self.eos_id = ids[-1], tokenizer.eos_token_id
        self._rows: list[_RowState] = []  # per-row state, advanced token by token across calls
        self._seen = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Each row's state is advanced by its newest token only (a decode step costs the same
        at token 200 as at token 2), and the mask is written with a few index assignments for
        the whole batch (one per kind of rule), not with tensor operations row by row."""
        rows, length = self._advance(input_ids), input_ids.shape[1]
        every_bin, above_rows, floors, banned, finished = [], [], [], [], []
        others: dict[int, list[int]] = {}  # token -> the rows it is allowed in (eos, <sep>: a few tokens)
        for row, state in enumerate(rows):
            if state.done:  # finished: the decoder pads this row anyway
                finished.append(row)
                continue
            bins, tokens = self._allowed(state, length)
            if isinstance(bins, int):  # the bins above this one
                above_rows.append(row)
                floors.append(bins)
            elif bins is not None:  # every bin but these (often none)
                every_bin.append(row)
                banned += [(row, b) for b in bins]
            for token in tokens:
                others.setdefault(token, []).append(row)
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        if every_bin:
            allowed[_index(every_bin)[:, None], self.loc_ids] = True
        if above_rows:
            above = self._bins > _index(floors)[:, None]
            allowed[_index(above_rows)[:, None], self.loc_ids] = above.to(allowed.device)
        if banned:
            banned_rows, banned_bins = zip(*banned)
            allowed[list(banned_rows), self.loc_ids[list(banned_bins)]] = False
        for token, token_rows in others.items():
            allowed[_index(token_rows), token] = True
        if finished:
            allowed[_index(finished)] = True
        return scores.masked_fill(~allowed, float("-inf"))

    def _advance(self, input_ids: torch.LongTensor) -> list["_RowState"]:
        """The rows' states after ``input_ids``, read from where the last call left off (or from
        the start when this is a new generation: another batch, or fewer tokens than before)."""
        length = input_ids.shape[1]
        if len(self._rows) != input_ids.shape[0] or length < self._seen:
            self._rows, self._seen = [_RowState() for _ in range(input_ids.shape[0])], 0
        if length > self._seen:
            for state, new in zip(self._rows, input_ids[:, self._seen:].tolist()):
                for token in new:
                    state.read(token, self)
            self._seen = length
        return self._rows

    def _allowed(self, state: "_RowState", length: int) -> tuple[int | frozenset | None, list[int]]:
        """(the location bins allowed next: an int k for every bin above k, else the set of bins
        *not* allowed (empty: every bin), or None for no bin; the other tokens allowed)."""
        if self.shape == "point":
            return (None, [self.eos_id]) if len(state.box) >= 2 else (EVERY_BIN, [])
        if self.shape == "box" or (self.shape == "box+polygon" and len(state.box) < 4):
            bins = state.box
            if len(bins) >= 4:
                return None, [self.eos_id]
            if len(bins) < 2:
                return self._last_bin, []  # leave room for a larger far corner
            return bins[len(bins) - 2], []  # x2 > x1, y2 > y1
        remaining = self.max_new_tokens - length
        part, vertices = state.part, state.vertices
        if len(part) % 2:  # inside a vertex: its y, distinct from earlier vertices until there are 3
            if len(vertices) >= 3:
                return EVERY_BIN, []
            return frozenset(y for x, y in vertices if x == part[-1]), []
        closable = len(vertices) >= 3
        tokens = [self.eos_id] if closable else []
        if closable and remaining >= 8:  # <sep> + 3 vertices + eos still fit
            tokens.append(self.sep_id)
        more_vertices = remaining >= 3 if closable else True
        return (EVERY_BIN if more_vertices else None), tokens


def _index(rows: list[int]) -> torch.Tensor:
    """A list of ints as an index tensor, through numpy: 5 against 23 us for 128 of them by
    ``torch.tensor``, and a Python list as an index costs more still (a grammar call at batch
    128 made three or four)."""
    return torch.from_numpy(np.asarray(rows, dtype=np.int64))


class _RowState:
    """What one row has generated, as the grammar needs it: the box's bins, the current
    outline part's bins and its distinct vertices."""

    __slots__ = ("box", "part", "vertices", "done")

    def __init__(self):
        self.box, self.part, self.vertices, self.done = [], [], set(), False

    def read(self, token: int, grammar: LocationGrammar) -> None:
        if self.done or token == grammar.eos_id:
            self.done = True
        elif grammar.shape in ("box", "point") or (grammar.shape == "box+polygon" and len(self.box) < 4):
            self.box.append(grammar.bin_of[token])
        elif token == grammar.sep_id:
            self.part, self.vertices = [], set()
        else:
            self.part.append(grammar.bin_of[token])
            if len(self.part) % 2 == 0:
                self.vertices.add((self.part[-2], self.part[-1]))
