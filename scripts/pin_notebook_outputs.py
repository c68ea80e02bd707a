"""Store the expected text of the cells marked ``# NBVAL_CHECK_OUTPUT``, and nothing else.

nbval compares a cell's output only when the committed cell has an execution count and
outputs; a fully stripped notebook therefore pins nothing. This script executes each
notebook at CI smoke sizes and writes back, for marked cells only, their stream (printed)
text with an execution count; every other cell stays stripped (no figures, no counts).
nbstripout can keep outputs per cell but not execution counts per cell, hence this script.

    VLMKIT_SMOKE=1 python scripts/pin_notebook_outputs.py notebooks/*.ipynb notebooks/solutions/*.ipynb
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"


def pin(path: Path) -> int:
    source = nbformat.read(path, as_version=4)
    executed = nbformat.read(path, as_version=4)
    NotebookClient(executed, timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
    pinned = 0
    for cell, ran in zip(source.cells, executed.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if cell.source.startswith(MARK):
            cell.outputs = [o for o in ran.outputs if o.output_type == "stream"]
            cell.execution_count = 1
            pinned += 1
    nbformat.write(source, path)
    return pinned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args()
    if os.environ.get("VLMKIT_SMOKE") != "1":
        raise SystemExit("run with VLMKIT_SMOKE=1: pinned outputs must be those CI will see")
    for path in args.notebooks:
        print(f"{path}: pinned {pin(path)} cell(s)")


if __name__ == "__main__":
    main()
