"""Tokenizers for both profiles, behind the one ``PreTrainedTokenizerFast`` interface.

* tiny: a word-level vocabulary built offline (the ``tokenizers`` library) from
  ShapeWorld text, task prompts and every codec's tokens. Words, numbers and single
  punctuation marks are tokens, so ``<loc_12>``, ``12`` and ``(`` are one token each.
* full: the language model's own tokenizer, with the codec's special tokens added
  (the model's embeddings are resized to match in :class:`vlmkit.model.MiniVLM`).
* full from a local GGUF file (``VLMConfig.lm_gguf``): :func:`load_gguf_tokenizer`, the
  real tokenizer the file embeds (llama.cpp's format), with the codec's tokens added.
* full with ``random_init``: :func:`standin_tokenizer`, a byte-level BPE with SmolLM2's
  vocabulary size and special tokens, built offline (the real one is a Hub download).

The codec's tokens absorb the whitespace before them (``lstrip``): a byte-level BPE would
otherwise spend a ``Ġ`` (space) token between two location tokens, which training then
teaches and constrained decoding forbids (``docs/gpu.md#the-real-tokenizer``).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from vlmkit.text.codecs import FORMATS, Codec

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
IMAGE = "<image>"  # placeholder: MiniVLM puts one image embedding at each of these
# one token per: a <tag>, a number, a word, or any other single non-space character
_PIECES = r"</?[A-Za-z_0-9]+>|\d+|[A-Za-z]+|[^\sA-Za-z\d]"


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    # WordLevel without a pre-tokenizer turns a whole string into <unk> (docs/experiments/data_and_codecs.md#word-tokenizer)
    return pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                    pre_tokenizers.Split(Regex(_PIECES), behavior="isolated")])


def _pieces(text: str) -> list[str]:
    return re.findall(_PIECES, text)


def codec_vocabulary(num_bins: int) -> list[str]:
    """Every piece any codec format can write with ``num_bins`` bins."""
    words = {str(i) for i in range(num_bins)}
    for fmt in FORMATS:
        codec = Codec(fmt, num_bins)
        words.update(codec.special_tokens())
        words.update(_pieces(codec.encode_box((0, 0, 10, 10), 20, 20)))
        words.update(_pieces(codec.encode_polygons([[(0, 0), (10, 0), (10, 10)]], 20, 20)))
        words.update(_pieces(codec.encode_polygons([[(0, 0), (10, 0), (10, 10)], [(12, 12), (19, 12), (19, 19)]],
                                                   20, 20)))
    return sorted(words)


def build_word_tokenizer(texts: Iterable[str], num_bins: int) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose vocabulary covers ``texts`` and every codec token."""
    vocab_words = set(codec_vocabulary(num_bins))
    for text in texts:
        vocab_words.update(_pieces(text))
    specials = [PAD, BOS, EOS, UNK, IMAGE]
    vocab = {w: i for i, w in enumerate(specials + sorted(vocab_words - set(specials)))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = _pre_tokenizer()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS, unk_token=UNK)


def load_pretrained_tokenizer(name_or_path: str, codec: Codec) -> PreTrainedTokenizerFast:
    """The language model's tokenizer plus the codec's tokens, the image placeholder
    (and a pad token if it has none)."""
    return _with_vlmkit_tokens(AutoTokenizer.from_pretrained(name_or_path), codec)


def check_gguf(path: str | Path) -> Path:
    """``path`` as an existing ``.gguf`` file (absolute), with the ``gguf`` package transformers
    reads it with; otherwise an error naming the path or the package (nothing is downloaded)."""
    path = Path(path).expanduser()
    if path.suffix != ".gguf":
        raise ValueError(f"lm_gguf={str(path)!r} is not a .gguf file (llama.cpp's format)")
    if not path.is_file():
        raise FileNotFoundError(f"lm_gguf={str(path)!r}: no such file")
    if importlib.util.find_spec("gguf") is None:
        raise ImportError(f"reading {path} needs the gguf package: pip install 'vlmkit[gguf]' (or gguf itself)")
    return path.resolve()


def load_gguf_tokenizer(path: str | Path, codec: Codec) -> PreTrainedTokenizerFast:
    """The tokenizer a GGUF file embeds (vocabulary, merges, special tokens, chat template) plus
    the codec's tokens and the image placeholder, as for the Hub's."""
    path = check_gguf(path)
    return _with_vlmkit_tokens(AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name), codec)


STANDIN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")  # SmolLM2's first ids: 0 is bos and eos


def standin_tokenizer(codec: Codec, texts: Iterable[str], vocab_size: int = 49152) -> PreTrainedTokenizerFast:
    """An offline stand-in for SmolLM2's tokenizer, for a ``random_init`` model: byte-level
    BPE (any text encodes), merges learned from ``texts``, padded with unused entries to the
    real ``vocab_size`` so the embedding table has the real shape; then the codec's tokens
    and ``<image>`` as for the real one. Its ids mean nothing to pretrained weights."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(list(texts), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(STANDIN_SPECIALS), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    vocab, merges = bpe.get_vocab(), json.loads(bpe.to_str())["model"]["merges"]
    vocab.update({f"<|unused_{k}|>": k for k in range(len(vocab), vocab_size)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m) if isinstance(m, list) else tuple(m.split(" "))
                                                    for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(STANDIN_SPECIALS))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=STANDIN_SPECIALS[0], eos_token=STANDIN_SPECIALS[0])
    return _with_vlmkit_tokens(fast, codec)


def _with_vlmkit_tokens(tok: PreTrainedTokenizerFast, codec: Codec) -> PreTrainedTokenizerFast:
    tok.add_tokens([AddedToken(token, lstrip=True) for token in codec.special_tokens()])
    tok.add_tokens([IMAGE], special_tokens=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


class ExpressionError(ValueError):
    """A referring expression the model cannot read as given (empty, not text, control
    tokens, words outside its vocabulary, too long)."""


_CONTROL = re.compile(r"<[^<>\s]+>")


def is_word_level(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True for the tiny profile's word-level tokenizer (whole words, ``<unk>`` for the rest)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and isinstance(backend.model, models.WordLevel)


def read_expression(tokenizer: PreTrainedTokenizerBase, text: object) -> str:
    """``text`` as the model should read it, or :class:`ExpressionError` saying why not.

    Whitespace is collapsed. For a word-level tokenizer, case and punctuation are normalised
    (ShapeWorld's language is lower case without punctuation: "The red circle." reads as
    "the red circle"), and words it does not know are listed in the error instead of being
    read as ``<unk>``. Text holding a control token such as ``<image>`` is refused."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression is a string, not {type(text).__name__}")
    text = " ".join(text.split())
    if not text:
        raise ExpressionError("the expression is empty")
    control = _CONTROL.search(text)
    if control:
        raise ExpressionError(f"the expression contains {control.group()!r}, which looks like one of the model's "
                              f"control tokens; write the expression in plain words")
    if not is_word_level(tokenizer):
        return text
    text = " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())
    _check_known(tokenizer, text)
    return text


def _check_known(tokenizer: PreTrainedTokenizerBase, text: str) -> None:
    """Raise :class:`ExpressionError` listing the words of ``text`` a word-level ``tokenizer``
    lacks (it would read each as ``<unk>``), with the words it knows."""
    vocab = tokenizer.get_vocab()
    unknown = sorted({word for word in _pieces(text) if word not in vocab})
    if unknown or not text:
        known = sorted(w for w in vocab if w.isalpha())
        raise ExpressionError(f"the model's vocabulary has no {unknown or 'words in this text'}; it knows "
                              f"{len(known)} words: {', '.join(known[:40])}{' ...' if len(known) > 40 else ''}")


def readable_rows(tokenizer: PreTrainedTokenizerBase, rows: list[dict]) -> list[dict]:
    """``rows`` with every expression as :func:`read_expression` reads it; an expression or a
    caption the model cannot read raises :class:`ExpressionError` naming the row, instead of
    training or scoring on ``<unk>`` (a word-level tokenizer knows only the words it was built on)."""
    out = []
    for row in rows:
        try:
            expressions = [read_expression(tokenizer, e) for e in row["expressions"]]
            if is_word_level(tokenizer):
                for caption in row["captions"]:
                    _check_known(tokenizer, caption)
        except ExpressionError as err:
            raise ExpressionError(f"row {row['id']}: {err}") from err
        out.append({**row, "expressions": expressions})
    return out
