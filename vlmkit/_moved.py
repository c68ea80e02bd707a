"""Old module paths (vlmkit 0.1's flat layout) that still import, with a DeprecationWarning,
for one release: ``import vlmkit.codecs`` gives ``vlmkit.text.codecs``. Delete after 0.2."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "vlmkit.boxes": "vlmkit.core.boxes", "vlmkit.polygons": "vlmkit.core.polygons",
    "vlmkit.fields": "vlmkit.core.fields", "vlmkit.schema": "vlmkit.data.schema",
    "vlmkit.images": "vlmkit.data.images", "vlmkit.coco": "vlmkit.data.coco", "vlmkit.refcoco": "vlmkit.data.refcoco",
    "vlmkit.shapeworld": "vlmkit.data.shapeworld", "vlmkit.shapeworld.scenes": "vlmkit.data.shapeworld.scenes",
    "vlmkit.shapeworld.language": "vlmkit.data.shapeworld.language",
    "vlmkit.shapeworld.dataset": "vlmkit.data.shapeworld.dataset", "vlmkit.shapeworld.streams": "vlmkit.train.streams",
    "vlmkit.codecs": "vlmkit.text.codecs", "vlmkit.tokenizer": "vlmkit.text.tokenizer",
    "vlmkit.constrained": "vlmkit.text.constrained", "vlmkit.tasks": "vlmkit.text.tasks",
    "vlmkit.processor": "vlmkit.text.processor", "vlmkit.lora": "vlmkit.model.lora",
    "vlmkit.checkpoint": "vlmkit.storage.checkpoint", "vlmkit.hub": "vlmkit.storage.hub",
    "vlmkit.export": "vlmkit.inference.export", "vlmkit.evaluate": "vlmkit.evaluation.evaluate",
    "vlmkit.metrics": "vlmkit.evaluation.metrics", "vlmkit.probes": "vlmkit.evaluation.probes",
    "vlmkit.attention": "vlmkit.evaluation.attention", "vlmkit.viz": "vlmkit.evaluation.viz",
    "vlmkit.trainer": "vlmkit.train.trainer", "vlmkit.recipes": "vlmkit.train.recipes",
    "vlmkit.stages": "vlmkit.train.stages", "vlmkit.profiles": "vlmkit.train.profiles",
    "vlmkit.cycle": "vlmkit.train.cycle", "vlmkit.bf16_rounding": "vlmkit.train.rounding",
    "vlmkit.train.bf16_rounding": "vlmkit.train.rounding",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old path with the module at its new one (the same module object)."""

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {MOVED[spec.name]}; the old path goes in vlmkit 0.2",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        pass  # the new module is already executed


def install() -> None:
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleFinder())  # before the path finder, which would load a second copy
