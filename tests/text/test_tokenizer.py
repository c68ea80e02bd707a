import numpy as np
import pytest

from vlmkit.data.shapeworld import ShapeWorld, captions
from vlmkit.inference.answers import ground
from vlmkit.text.codecs import FORMATS, Codec
from vlmkit.text.tasks import PROMPTS
from vlmkit.text.tokenizer import ExpressionError, read_expression
from vlmkit.train.profiles import tiny_tokenizer

TOK = tiny_tokenizer(64)


def _ids(text):
    return TOK(text, add_special_tokens=False)["input_ids"]


def test_shapeworld_text_never_hits_unknown_tokens():
    world = ShapeWorld()
    texts = list(PROMPTS.values())
    for i in range(150):
        scene, _ = world.scene("train", i)
        texts += captions(scene)
        texts += [e for row in world.rows("train", i) for e in row["expressions"]]
    for text in texts:
        assert TOK.unk_token_id not in _ids(text), text


def test_codec_text_survives_tokenize_and_decode_in_every_format():
    parts = [[(3, 4), (40, 6), (30, 50)], [(50, 50), (60, 52), (55, 63)]]
    for fmt in FORMATS:
        codec = Codec(fmt, 64)
        for text, parse in ((codec.encode_box((3, 4, 40, 50), 64, 64), codec.parse_box),
                            (codec.encode_polygons(parts, 64, 64), codec.parse_polygons)):
            decoded = TOK.decode(_ids(text))
            assert parse(decoded, 64, 64).value == parse(text, 64, 64).value


def test_location_tokens_are_single_tokens_and_the_separator_exists():
    assert len(_ids("<loc_0> <loc_63> <sep>")) == 3
    assert TOK.unk_token_id in _ids("<loc_64>")  # beyond the bins: unknown, so constrained decoding can't emit it


def test_special_token_ids_are_set():
    assert len({TOK.pad_token_id, TOK.bos_token_id, TOK.eos_token_id, TOK.unk_token_id}) == 4
    assert np.all(np.array(_ids("the red circle")) > 3)


@pytest.mark.parametrize("text, read", [
    ("The red circle.", "the red circle"),
    ("  the RED   circle , left of the square! ", "the red circle left of the square"),
])
def test_case_and_punctuation_are_normalised_for_the_word_level_tokenizer(text, read):
    tokenizer = tiny_tokenizer(16)
    assert read_expression(tokenizer, text) == read
    assert tokenizer.unk_token not in tokenizer.tokenize(read)


@pytest.mark.parametrize("text, message", [
    (None, "a string, not NoneType"), (42, "a string, not int"), ("", "empty"), ("   ", "empty"),
    ("the <image> circle", "contains '<image>'"), ("the <loc_3> circle", "contains '<loc_3>'"),
    ("the red elephant", r"vocabulary has no \['elephant'\]; it knows \d+ words: "),
    ("?!", "vocabulary has no words in this text"),
])
def test_expressions_the_model_cannot_read_are_refused_with_the_reason(text, message):
    with pytest.raises(ExpressionError, match=message):
        read_expression(tiny_tokenizer(16), text)


def test_ground_refuses_an_expression_beyond_the_context_with_the_limit(micro_model):
    image = np.zeros((32, 32, 3), np.uint8)
    long = " ".join(["the red circle"] * 200)
    with pytest.raises(ExpressionError, match=r"beyond the 256 positions the model reads; shorten the expression"):
        ground(micro_model, image, long)
    with pytest.raises(ExpressionError, match="'<image>'"):
        ground(micro_model, image, "the <image> circle")
    answer, box = ground(micro_model, image, "The red circle.")
    assert isinstance(answer, str) and (box.ok or box.failure is not None)


def test_readable_rows_reads_expressions_as_the_model_does_and_names_a_row_it_cannot():
    from vlmkit.text.tokenizer import readable_rows

    tok = tiny_tokenizer(16)
    row = {"id": "mine.jsonl:4", "expressions": ["The Red  circle."], "captions": ["a red circle"]}
    assert readable_rows(tok, [row])[0]["expressions"] == ["the red circle"]
    with pytest.raises(ExpressionError, match=r"row mine.jsonl:4: the model's vocabulary has no \['dog'\]"):
        readable_rows(tok, [{**row, "expressions": ["the dog"]}])
    with pytest.raises(ExpressionError, match=r"row mine.jsonl:4: .* has no \['A', 'dog'\]"):
        readable_rows(tok, [{**row, "captions": ["A dog"]}])  # a caption is a target: checked, not rewritten
