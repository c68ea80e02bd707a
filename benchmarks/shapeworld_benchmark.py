"""How fast ShapeWorld generates, on one core, and what the generated data looks like.

    python benchmarks/shapeworld_benchmark.py [--samples 50000] [--gallery outputs/shapeworld_gallery.png]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vlmkit.data.shapeworld import ShapeWorld
from vlmkit.data.shapeworld.dataset import SPLITS, statistics
from vlmkit.evaluation.viz import gallery


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000, help="rows (objects with their text) to generate")
    parser.add_argument("--gallery", type=Path, default=Path("outputs/shapeworld_gallery.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    world = ShapeWorld()

    start, rows, scenes = time.perf_counter(), 0, 0
    while rows < args.samples:
        rows += len(world.rows("train", scenes))
        scenes += 1
    seconds = time.perf_counter() - start
    print(f"generated {rows} rows from {scenes} scenes in {seconds:.1f} s on one core "
          f"({rows / seconds:,.0f} rows/s, {1000 * seconds / rows:.2f} ms/row)")

    for split in SPLITS:
        print(split, json.dumps(statistics(world.dataset(split, 500, progress=False))))

    sample = [world.rows("train", i)[0] for i in range(12)]
    args.gallery.parent.mkdir(parents=True, exist_ok=True)
    gallery(sample, "ShapeWorld train scenes: first object, its outline, box and first expression").savefig(
        args.gallery, dpi=120)
    print(f"gallery written to {args.gallery}")


if __name__ == "__main__":
    main()
