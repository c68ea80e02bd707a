"""Rows of data in one schema, whatever their source.

``schema`` (the row every reader returns), ``images`` (the one image loader), ``coco`` and
``refcoco`` (real data, both RefCOCO formats), ``jsonl`` (data of your own: the JSON Lines
format, read and written), ``convert`` (COCO, RefCOCO and ShapeWorld to that format),
``sources`` (the full profile's train and evaluation rows, the RefCOCO protocol's splits,
epoch-shuffled order), ``shapeworld/`` (the generated world of the tiny profile),
``sample_data/`` (ten real COCO photos with their licences, and phrases written for them).
May import: vlmkit.core.
"""

_SOURCES = ("epoch_order", "epoch_shuffled", "full_rows")  # vlmkit 0.1's vlmkit.data module; goes in 0.2


def __getattr__(name):
    if name in _SOURCES:
        import warnings

        from vlmkit.data import sources

        warnings.warn(f"vlmkit.data.{name} moved to vlmkit.data.sources.{name}; the old path goes in vlmkit 0.2",
                      DeprecationWarning, stacklevel=2)
        return getattr(sources, name)
    raise AttributeError(f"module 'vlmkit.data' has no attribute {name!r}")
