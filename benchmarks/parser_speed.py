"""How fast the codecs read model output, on text meant to make a parser slow.

How fast the codecs read model output, on text meant to make a parser slow: characters a
second at 10^4, 10^5 and 10^6 characters, per format, for each kind of text. Linear parsing
shows as a flat rate across the sizes; a parser that backtracks shows as a falling one.

    python benchmarks/parser_speed.py [--sizes 10000 100000 1000000] [--repeats 3]

Kinds of text: a real answer repeated (the longest thing a model can write), a long run of
spaces inside an open vertex, deep bracket nesting, one huge integer, and random printable
characters. Each is parsed as a box and as an outline; the printed rate is the slower one.
"""

from __future__ import annotations

import argparse
import random
import string
import time

from vlmkit.text.codecs import FORMATS, Codec

OUTLINE = [(5.0, 5.0), (40.0, 8.0), (50.0, 50.0), (8.0, 40.0)]


def hostile_texts(codec: Codec, size: int) -> dict[str, str]:
    """Text of about ``size`` characters of each kind, for ``codec``'s format."""
    answer = codec.encode_polygons([OUTLINE], 64, 64)
    half = size // 2
    rng = random.Random(0)
    return {
        "repeated answer": (answer + " ") * (size // (len(answer) + 1)),
        "space run": {"tags": "<polygon> (" + " " * size + " </polygon>",
                      "json": '{"polygons":[[[' + " " * size + "]]]}",
                      "loc": "<loc_1>" + " " * size + "<loc_2"}[codec.fmt],
        "deep nesting": "{" + '"polygons":[' * (half // 12) + "]" * (half // 12) + "}",
        "huge integer": {"tags": "<bbox> " + "9" * size + " 1 2 3 </bbox>",
                         "json": '{"x_min":' + "9" * size + ',"y_min":1,"x_max":2,"y_max":3}',
                         "loc": "<loc_" + "9" * size + "> <loc_1> <loc_2> <loc_3>"}[codec.fmt],
        "random characters": "".join(rng.choices(string.printable, k=size)),
    }


def chars_per_second(codec: Codec, text: str, repeats: int) -> float:
    """The slower of box and outline parsing, best of ``repeats``."""
    rates = []
    for parse in (codec.parse_box, codec.parse_polygons):
        best = min(_seconds(parse, text) for _ in range(repeats))
        rates.append(len(text) / best)
    return min(rates)


def _seconds(parse, text: str) -> float:
    start = time.perf_counter()
    parse(text, 64, 64)
    return max(time.perf_counter() - start, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"million characters a second (slower of box and outline, best of {args.repeats})")
    print(f"{'format':>6} | {'text':<18} | " + " | ".join(f"{s:>10,}" for s in args.sizes))
    for fmt in FORMATS:
        codec = Codec(fmt, 64)
        kinds = hostile_texts(codec, args.sizes[0]).keys()
        for kind in kinds:
            rates = [chars_per_second(codec, hostile_texts(codec, size)[kind], args.repeats) for size in args.sizes]
            print(f"{fmt:>6} | {kind:<18} | " + " | ".join(f"{r / 1e6:10.1f}" for r in rates))


if __name__ == "__main__":
    main()
