"""Where does a captioner err? Which attribute its captions get wrong, scene by scene.

    python benchmarks/caption_errors.py CHECKPOINT            # e.g. checkpoints/01_captioning
    python benchmarks/caption_errors.py RUN/caption --scenes 300

Each held-out scene is captioned (greedy), the caption read back into objects
(``vlmkit.data.shapeworld.language.read_caption``) and compared with the scene's: in how many
captions the shapes named differ from the scene's (as a multiset: a caption naming the right
shapes in another order is not counted), the sizes, the colours, the number of objects, the
right attributes wrongly paired, and how many are exact. Object F1 says how much is wrong; this
says what. docs/experiments/captioning.md has the measurements.
"""

from __future__ import annotations

import argparse
from collections import Counter

from vlmkit.data.shapeworld.language import NamedObject, read_caption
from vlmkit.evaluation.evaluate import caption_truth, evaluate_captioning
from vlmkit.storage.checkpoint import load_model
from vlmkit.train.profiles import load_profile


def caption_errors(predicted: list[NamedObject] | None, truth: list[NamedObject]) -> set[str]:
    """What ``predicted`` (a caption read back, ``None`` outside the grammar) gets wrong of ``truth``:
    "unparsed"; else any of "count", "size", "colour", "shape" (multisets that differ); else
    "pairing" (the right attributes wrongly combined); empty when it is exact."""
    if predicted is None:
        return {"unparsed"}
    wrong = {attribute for attribute in ("size", "colour", "shape")
             if sorted(getattr(o, attribute) for o in predicted) != sorted(getattr(o, attribute) for o in truth)}
    if len(predicted) != len(truth):
        wrong.add("count")
    if wrong:
        return wrong
    if Counter(predicted) != Counter(truth):
        return {"pairing"}  # e.g. "a red square and a blue circle" for a blue square and a red circle
    return set()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a captioning checkpoint folder")
    p.add_argument("--scenes", type=int, default=100, help="held-out scenes (the first n of the tiny profile's)")
    args = p.parse_args()
    model = load_model(args.checkpoint).eval()
    rows = load_profile("tiny", announce=False).evaluation_rows("caption", "val", count=args.scenes)
    result = evaluate_captioning(model, rows, progress=False)
    errors = Counter()
    for example, answer in zip(result.examples, result.answers):
        errors.update(caption_errors(read_caption(answer), caption_truth(example.row["captions"])) or {"exact"})
    print(f"{args.checkpoint}: object F1 {result.metrics['object_f1']:.3f}, exact {result.metrics['exact']:.3f} "
          f"on {len(result.answers)} held-out scenes")
    for what in ("exact", "shape", "size", "colour", "count", "pairing", "unparsed"):
        print(f"  {what:>8}: {errors[what]} captions")


if __name__ == "__main__":
    main()
