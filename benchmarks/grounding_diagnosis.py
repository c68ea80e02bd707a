"""Where a grounding checkpoint fails: does its box land on *an* object, and on the *named* one?

    python benchmarks/grounding_diagnosis.py checkpoints/02_grounding [--scenes 200]

Scores one expression per object of held-out 2-4 object ShapeWorld scenes and prints, per
number of objects in the scene, how often the box is on some object, on the named one, what
picking one of the found objects at random would score, and how many different objects a
scene's queries land on (about 1: the answer ignores the expression). Then, for every
attribute expression of those scenes ("the red circle", "the small shape"), Acc@0.5 by the
attributes it names: which words the model binds, and which it does not.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vlmkit.evaluation.evaluate import evaluate_grounding, object_hits
from vlmkit.evaluation.probes import accuracy_by_named_attributes
from vlmkit.storage.checkpoint import load_model
from vlmkit.train.streams import keep_expressions, multi_object_world


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--scenes", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint).eval()
    rows = list(multi_object_world().dataset("val", args.scenes, progress=False))
    result = evaluate_grounding(model, rows, progress=False)
    print(f"{args.checkpoint}: Acc@0.5 {result.metrics['acc@0.5']:.3f} over {len(result.examples)} queries")
    print(f"{'objects':>7} | {'queries':>7} | {'on some':>7} | {'on named':>8} | {'chance':>6} | distinct objects hit")
    for n, hits in object_hits(result).items():
        print(f"{n:>7} | {hits['queries']:>7} | {hits['on_some']:>7.2f} | {hits['on_named']:>8.2f} | "
              f"{hits['chance']:>6.2f} | {hits['distinct']:.2f} of {n}")
    attribute_rows = keep_expressions(rows, lambda text, kind: kind == "attribute")
    attributes = accuracy_by_named_attributes(evaluate_grounding(model, attribute_rows, per_row=None, progress=False))
    print("\nevery attribute expression of those scenes, by the attributes it names:")
    print(f"{'names':>18} | {'queries':>7} | Acc@0.5")
    for names, m in attributes.items():
        print(f"{names:>18} | {m['queries']:>7} | {m['acc@0.5']:.3f}")


if __name__ == "__main__":
    main()
