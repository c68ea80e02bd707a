import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vlmkit.text.codecs import FORMATS, Codec, Parsed, ParseFailure, Quantizer

sizes = st.integers(min_value=8, max_value=2000)
bins = st.sampled_from([16, 64, 100, 1000])
fmts = st.sampled_from(FORMATS)


@st.composite
def image_and_box(draw):
    w, h = draw(sizes), draw(sizes)
    x1, x2 = sorted(draw(st.floats(0, w, allow_nan=False)) for _ in range(2))
    y1, y2 = sorted(draw(st.floats(0, h, allow_nan=False)) for _ in range(2))
    return w, h, (x1, y1, x2, y2)


@st.composite
def image_and_polygons(draw):
    w, h = draw(sizes), draw(sizes)
    n_parts = draw(st.integers(1, 3))
    parts = []
    for _ in range(n_parts):
        n = draw(st.integers(3, 12))
        parts.append([(draw(st.floats(0, w)), draw(st.floats(0, h))) for _ in range(n)])
    return w, h, parts


def test_quantizer_rule_bins_and_centres():
    q = Quantizer(64)
    assert q.to_bin(0, 64) == 0 and q.to_bin(63.99, 64) == 63 and q.to_bin(64, 64) == 63
    assert q.to_bin(-5, 64) == 0  # clipped
    assert q.from_bin(10, 64) == 10.5
    assert Quantizer(1000).from_bin(0, 500) == 0.25


@given(image_and_box(), bins, fmts)
def test_box_round_trip_within_quantisation_error(data, n, fmt):
    w, h, box = data
    codec = Codec(fmt, n)
    parsed = codec.parse_box(codec.encode_box(box, w, h), w, h)
    tol_x, tol_y = w / (2 * n) + 1e-9, h / (2 * n) + 1e-9
    if parsed.failure is ParseFailure.DEGENERATE:  # both corners fell into one bin
        assert abs(box[2] - box[0]) < 2 * tol_x or abs(box[3] - box[1]) < 2 * tol_y
        return
    assert parsed.ok, parsed
    for got, want, tol in zip(parsed.value, box, (tol_x, tol_y, tol_x, tol_y)):
        assert abs(got - want) <= tol


@given(image_and_polygons(), bins, fmts)
def test_polygon_round_trip_within_quantisation_error(data, n, fmt):
    w, h, parts = data
    codec = Codec(fmt, n)
    try:
        text = codec.encode_polygons(parts, w, h)
    except ValueError as err:  # only when every part collapses into fewer than 3 bins
        assert "collapses" in str(err)
        assert all(len(set(codec._bins(p, w, h))) < 3 for p in parts)
        return
    parsed = codec.parse_polygons(text, w, h)
    assert parsed.ok, parsed
    tol = max(w, h) / (2 * n) + 1e-9
    originals = [v for part in parts for v in part]
    for part in parsed.value:
        for x, y in part:  # every decoded vertex is within half a bin of some original vertex
            assert any(abs(x - ox) <= tol and abs(y - oy) <= tol for ox, oy in originals)


@given(st.text(max_size=200), fmts, bins)
def test_parsers_never_raise_on_arbitrary_text(text, fmt, n):
    codec = Codec(fmt, n)
    for result in (codec.parse_box(text, 100, 100), codec.parse_polygons(text, 100, 100)):
        assert result.ok or isinstance(result.failure, ParseFailure)


@given(st.lists(st.sampled_from(["<bbox>", "</bbox>", "<polygon>", "</polygon>", "<loc_3>", "<loc_99999>",
                                 "<sep>", "(", ")", ",", "{", "}", '"x_min":', "12", "-4", "abc", "[", "]",
                                 '"polygons":', " "]), max_size=30), fmts)
def test_parsers_never_raise_on_near_miss_token_soup(tokens, fmt):
    codec = Codec(fmt, 64)
    text = " ".join(tokens)
    for result in (codec.parse_box(text, 64, 64), codec.parse_polygons(text, 64, 64)):
        assert result.ok or isinstance(result.failure, ParseFailure)


def test_box_text_in_each_format():
    box, w, h = (0, 0, 32, 64), 64, 64
    assert Codec("tags", 64).encode_box(box, w, h) == "<bbox> 0 0 32 63 </bbox>"
    assert json.loads(Codec("json", 64).encode_box(box, w, h)) == {"x_min": 0, "y_min": 0, "x_max": 32, "y_max": 63}
    assert Codec("loc", 64).encode_box(box, w, h) == "<loc_0> <loc_0> <loc_32> <loc_63>"


def test_polygon_text_in_each_format_with_two_parts():
    parts = [[(10, 10), (20, 10), (20, 20)], [(40, 40), (50, 40), (50, 50)]]
    assert Codec("loc", 64).encode_polygons(parts, 64, 64) == (
        "<loc_10> <loc_10> <loc_20> <loc_10> <loc_20> <loc_20> <sep> <loc_40> <loc_40> <loc_50> <loc_40> <loc_50> <loc_50>"
    )
    assert Codec("tags", 64).encode_polygons(parts[:1], 64, 64) == "<polygon> (10,10) (20,10) (20,20) </polygon>"
    assert json.loads(Codec("json", 64).encode_polygons(parts, 64, 64))["polygons"][1][0] == [40, 40]


def test_whitespace_inserted_by_a_word_level_decoder_is_ignored():
    codec = Codec("json", 64)
    spaced = '{ " x _ min " : 1 , " y _ min " : 2 , " x _ max " : 30 , " y _ max " : 40 }'
    assert codec.parse_box(spaced, 64, 64).value == (1.5, 2.5, 30.5, 40.5)
    assert Codec("tags", 64).parse_polygons("<polygon> ( 1 , 2 ) ( 30 , 2 ) ( 30 , 40 ) </polygon>", 64, 64).ok


def test_swapped_corners_are_normalised_and_degenerate_reported():
    codec = Codec("tags", 64)
    assert codec.parse_box("<bbox> 30 40 1 2 </bbox>", 64, 64).value == (1.5, 2.5, 30.5, 40.5)
    degenerate = codec.parse_box("<bbox> 5 5 5 9 </bbox>", 64, 64)
    assert degenerate.failure is ParseFailure.DEGENERATE and not degenerate.ok


@pytest.mark.parametrize(
    "fmt, text, reason",
    [
        ("tags", "", ParseFailure.EMPTY),
        ("tags", "a red circle", ParseFailure.NO_OPENING),
        ("tags", "<bbox> 1 2 3", ParseFailure.TRUNCATED),
        ("tags", "<bbox> 1 2 3 </bbox>", ParseFailure.WRONG_COUNT),
        ("tags", "<bbox> 1 two 3 4 </bbox>", ParseFailure.NON_NUMERIC),
        ("tags", "<bbox> 1 2 3 64 </bbox>", ParseFailure.OUT_OF_RANGE),
        ("json", '{"x_min": 1, "y_min": 2', ParseFailure.TRUNCATED),
        ("json", '{"x_min": 1, "y_min": 2}', ParseFailure.WRONG_COUNT),
        ("json", '{"x_min": "a", "y_min": 2, "x_max": 3, "y_max": 4}', ParseFailure.NON_NUMERIC),
        ("loc", "<loc_1> <loc_2> <loc_3>", ParseFailure.WRONG_COUNT),
        ("loc", "<loc_1> <loc_2> <loc_3> <loc_64>", ParseFailure.OUT_OF_RANGE),
        ("loc", "<loc_1> <loc_2> blue <loc_3> <loc_4>", ParseFailure.NON_NUMERIC),
    ],
)
def test_box_failures_are_typed(fmt, text, reason):
    assert Codec(fmt, 64).parse_box(text, 64, 64).failure is reason


@pytest.mark.parametrize(
    "fmt, text, reason",
    [
        ("loc", "<loc_1> <loc_2> <loc_3>", ParseFailure.TRUNCATED),
        ("loc", "<loc_1> <loc_1> <loc_1> <loc_1> <loc_1> <loc_1>", ParseFailure.DEGENERATE),
        ("tags", "<polygon> (1,2) (3,4) (5,6)", ParseFailure.TRUNCATED),
        ("tags", "<polygon> (1,2) (3,x) (5,6) </polygon>", ParseFailure.NON_NUMERIC),
        ("json", '{"polygons": [[[1, 2], [3]]]}', ParseFailure.WRONG_COUNT),
    ],
)
def test_polygon_failures_are_typed(fmt, text, reason):
    assert Codec(fmt, 64).parse_polygons(text, 64, 64).failure is reason


def test_bad_codec_settings_are_rejected():
    with pytest.raises(ValueError, match="unknown codec format"):
        Codec("xml", 64)
    with pytest.raises(ValueError, match="num_bins"):
        Codec("loc", 1)


def test_special_tokens_cover_the_format():
    assert len(Codec("loc", 64).special_tokens()) == 65
    assert "<bbox>" in Codec("tags", 64).special_tokens()


# ---- hostile text: every parser total and linear ------------------------------------------------
@st.composite
def hostile_text(draw):
    """Text built from what breaks naive parsers: deep nesting, huge integers, long
    whitespace runs, non-ASCII digits, all around real format markers."""
    depth, digits, spaces = draw(st.integers(1, 3000)), draw(st.integers(1, 6000)), draw(st.integers(0, 3000))
    piece = draw(st.sampled_from([
        "{" + '"polygons":[' * depth + "]" * depth + "}",
        '{"x_min":' + "[" * depth + "1" + "]" * depth + ',"y_min":1,"x_max":2,"y_max":3}',
        '{"x_min":' + "9" * digits + ',"y_min":1,"x_max":2,"y_max":3}',
        '{"polygons":[[[' + "9" * digits + ",1],[2,3],[4,5]]]}",
        "<bbox> " + "9" * digits + " 1 2 3 </bbox>",
        "<polygon> (" + "9" * digits + ",1) (2,3) (4,5) </polygon>",
        "<polygon> (" + " " * spaces + " </polygon>",
        "<polygon> (" + " " * spaces + "1" + " " * spaces + "," + " " * spaces + ")" + " </polygon>",
        "<loc_" + "9" * digits + "> <loc_1> <loc_2> <loc_3>",
        "<bbox> ١٢ ５ 40 33 </bbox>", "<loc_１２> <loc_5> <loc_40> <loc_33>", '{"x_min":１,"y_min":1,"x_max":2,"y_max":3}',
    ]))
    return draw(st.text(max_size=5)) + piece + draw(st.text(max_size=5))


@given(hostile_text(), fmts)
def test_parsers_never_raise_on_hostile_text(text, fmt):
    codec = Codec(fmt, 64)
    for parse in (codec.parse_box, codec.parse_polygons):
        result = parse(text, 64, 64)
        assert result.ok or isinstance(result.failure, ParseFailure)


@pytest.mark.parametrize("fmt, text, reason", [
    ("tags", "<bbox> " + "9" * 5000 + " 1 2 3 </bbox>", ParseFailure.OUT_OF_RANGE),
    ("loc", "<loc_" + "9" * 5000 + "> <loc_1> <loc_2> <loc_3>", ParseFailure.OUT_OF_RANGE),
    ("json", '{"x_min":' + "9" * 5000 + ',"y_min":1,"x_max":2,"y_max":3}', ParseFailure.OUT_OF_RANGE),
    ("json", '{"x_min":' + "[" * 5000 + "1" + "]" * 5000 + ',"y_min":1,"x_max":2,"y_max":3}', ParseFailure.NON_NUMERIC),
    ("tags", "<bbox> ١٢ 5 40 33 </bbox>", ParseFailure.NON_NUMERIC),  # Arabic-Indic digits
    ("loc", "<loc_１２> <loc_5> <loc_40> <loc_33>", ParseFailure.NON_NUMERIC),  # fullwidth digits
    ("json", '{"x_min":１２,"y_min":5,"x_max":40,"y_max":33}', ParseFailure.NON_NUMERIC),
])
def test_huge_deep_and_non_ascii_numbers_are_typed_failures(fmt, text, reason):
    assert Codec(fmt, 64).parse_box(text, 64, 64).failure is reason


def test_a_long_whitespace_run_in_a_tags_polygon_is_read_in_one_pass():
    codec = Codec("tags", 64)
    text = "<polygon> (" + " " * 200_000 + " </polygon>"  # 9 s at 2000 spaces with the old pattern
    assert codec.parse_polygons(text, 64, 64).failure is ParseFailure.NON_NUMERIC
    spaced = "<polygon> ( 1 , 2 )  ( 10 ,2)(10, 10 ) </polygon>"
    assert codec.parse_polygons(spaced, 64, 64).ok


@given(image_and_box(), image_and_polygons(), bins, fmts)
def test_located_outline_round_trips_box_and_outline(box_data, polygon_data, n, fmt):
    """The box then the outline in one answer reads back as the two parsed alone."""
    (_, _, box), (pw, ph, polygons) = box_data, polygon_data  # the box is placed in the outline's image
    codec = Codec(fmt, n)
    try:
        outline_text = codec.encode_polygons(polygons, pw, ph)
    except ValueError:
        return  # the outline collapses at this bin count: no training target either
    text = codec.encode_located_outline(box, polygons, pw, ph)
    parsed, box_alone = codec.parse_located_outline(text, pw, ph), codec.parse_box(codec.encode_box(box, pw, ph), pw, ph)
    if not box_alone.ok:  # a box of no area: the located outline fails the same way
        assert parsed.failure == box_alone.failure and parsed.detail.startswith("box: ")
        return
    assert parsed.ok, (text, parsed)
    assert parsed.value[0] == box_alone.value
    assert parsed.value[1] == codec.parse_polygons(outline_text, pw, ph).value


@pytest.mark.parametrize("fmt, text, reason, detail", [
    ("loc", "", ParseFailure.EMPTY, ""),
    ("loc", "<loc_1> <loc_2>", ParseFailure.TRUNCATED, "the box needs 4"),
    ("loc", "<loc_1> <loc_2> <sep> <loc_3> <loc_4>", ParseFailure.TRUNCATED, "the box needs 4"),
    ("loc", "<loc_1> <loc_2> <loc_9> <loc_9>", ParseFailure.TRUNCATED, "no outline after the box"),
    ("loc", "<loc_1> <loc_2> <loc_9> <loc_9> <loc_1> <loc_2> <loc_5>", ParseFailure.TRUNCATED, "outline: odd"),
    ("loc", "<loc_1> <loc_2> <loc_9> <loc_9> <loc_1> <loc_1> <loc_1> <loc_1> <loc_1> <loc_1>",
     ParseFailure.DEGENERATE, "outline: no part"),
    ("loc", "<loc_9> <loc_2> <loc_9> <loc_9> <loc_1> <loc_1> <loc_5> <loc_1> <loc_5> <loc_5>",
     ParseFailure.DEGENERATE, "box: box has zero width"),
    ("loc", "a box", ParseFailure.NO_OPENING, ""),
    ("tags", "<bbox> 1 2 9", ParseFailure.TRUNCATED, "<bbox> without </bbox>"),
    ("tags", "<bbox> 1 2 9 9 </bbox> <polygon> (1,1) (5,1)", ParseFailure.TRUNCATED, "outline: <polygon> without"),
    ("json", '{"x_min":1,"y_min":2,"x_max":9,"y_max":9}', ParseFailure.TRUNCATED, "no outline after the box"),
    ("json", '{"x_min":1,"y_min":2}{"polygons":[[[1,1],[5,1],[5,5]]]}', ParseFailure.WRONG_COUNT, "box: missing"),
])
def test_located_outline_partial_answers_are_typed_failures(fmt, text, reason, detail):
    parsed = Codec(fmt, 16).parse_located_outline(text, 64, 64)
    assert parsed.failure == reason and parsed.detail.startswith(detail), parsed


@given(st.text(max_size=200), fmts, bins)
def test_the_located_outline_parser_never_raises(text, fmt, n):
    assert isinstance(Codec(fmt, n).parse_located_outline(text, 64, 64), Parsed)


@given(image_and_box(), bins, fmts)
def test_point_round_trip_within_quantisation_error(data, n, fmt):
    w, h, box = data
    point = (box[0], box[1])
    codec = Codec(fmt, n)
    parsed = codec.parse_point(codec.encode_point(point, w, h), w, h)
    assert parsed.ok
    assert abs(parsed.value[0] - point[0]) <= w / n and abs(parsed.value[1] - point[1]) <= h / n


@pytest.mark.parametrize("fmt, text, reason", [
    ("loc", "", ParseFailure.EMPTY), ("loc", "<loc_3>", ParseFailure.WRONG_COUNT),
    ("loc", "<loc_3> <loc_4> <loc_5>", ParseFailure.WRONG_COUNT), ("loc", "<loc_3> <loc_99>", ParseFailure.OUT_OF_RANGE),
    ("tags", "12,5", ParseFailure.NO_OPENING), ("tags", "(12,5", ParseFailure.TRUNCATED),
    ("tags", "(12,a)", ParseFailure.NON_NUMERIC), ("json", '{"x":1}', ParseFailure.WRONG_COUNT),
    ("json", '{"x":1,"y":', ParseFailure.TRUNCATED),
])
def test_point_failures_are_typed(fmt, text, reason):
    assert Codec(fmt, 16).parse_point(text, 64, 64).failure == reason


@given(st.text(max_size=200), fmts, bins)
def test_the_point_parser_never_raises(text, fmt, n):
    assert isinstance(Codec(fmt, n).parse_point(text, 64, 64), Parsed)
