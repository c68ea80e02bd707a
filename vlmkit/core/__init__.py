"""The base layer: pixel geometry and config checks, imported by every other folder.

``boxes`` ([x1, y1, x2, y2] in pixels, IoU), ``polygons`` (outlines as (x, y) pixel vertices,
masks, simplification), ``fields`` (dataclass fields checked against their type hints).
May import: nothing from vlmkit.
"""
