"""The package's shape: folders in layers (each imports only the folders below it), no import
circle, old module paths that still work, and every path the docs name exists."""

import ast
import importlib
import re
import warnings
from pathlib import Path

import pytest

from vlmkit._moved import MOVED

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vlmkit"
# lowest first; a folder may import its own modules and those of the folders before it
LAYERS = ["core", "data", "text", "model", "storage", "inference", "evaluation", "train"]
RANK = {folder: rank for rank, names in enumerate(LAYERS) for folder in names.split("|")}
TOP = len(LAYERS)  # the top level (cli, series, book, app, __init__, __main__): may import anything


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every vlmkit module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("vlmkit")}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.relative_to(ROOT)}: relative import; vlmkit imports by full path"
            if node.module and node.module.startswith("vlmkit"):
                found.add(node.module)
                # "from vlmkit.data import shapeworld" imports a module too
                found |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
    return found


FILES = sorted(p for p in PACKAGE.rglob("*.py"))
MODULES = {_module_name(p) for p in FILES}
GRAPH = {_module_name(p): {m for m in _imports(p) if m in MODULES} - {_module_name(p)} for p in FILES}


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else ""


def _rank(module: str) -> int:
    return RANK.get(_folder(module), TOP)


def test_every_folder_has_a_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(RANK), "a new folder needs its place in LAYERS and in its __init__ docstring"


def test_lower_layers_never_import_higher_ones():
    upward = [f"{module} -> {target}" for module, targets in GRAPH.items() for target in targets
              if _rank(target) > _rank(module)]
    assert not upward


def test_no_import_circle():
    """Depth-first search over module imports, lazy imports inside functions included."""
    state, cycles = {}, []

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles


def test_the_model_knows_nothing_about_storage_or_the_hub():
    for path in (PACKAGE / "model").glob("*.py"):
        assert "huggingface_hub" not in path.read_text() and "vlmkit.storage" not in path.read_text(), path.name


@pytest.mark.parametrize("folder", sorted(RANK))
def test_each_folder_says_what_it_may_import(folder):
    doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
    assert doc and "May import:" in doc, f"vlmkit/{folder}/__init__.py: say what lives here and what it may import"
    stated = doc.split("May import:", 1)[1].split(".\n", 1)[0]
    below = {f for f, rank in RANK.items() if rank < RANK[folder]}
    if folder == "train":
        assert "every folder" in stated
    elif not below:
        assert "nothing from vlmkit" in stated
    else:
        assert set(re.findall(r"vlmkit\.(\w+)", stated)) == below, f"{folder}'s docstring disagrees with LAYERS"


def test_the_public_names_import_from_the_top():
    import vlmkit

    for name in vlmkit.__all__:
        assert getattr(vlmkit, name) is not None


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_is_the_new_module_with_a_warning(old):
    with pytest.warns(DeprecationWarning, match=re.escape(MOVED[old])):
        module = importlib.import_module(old) if old not in importlib.sys.modules else _reimport(old)
    assert module is importlib.import_module(MOVED[old])


def _reimport(old):
    del importlib.sys.modules[old]
    return importlib.import_module(old)


def test_the_old_data_module_names_still_import():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from vlmkit.data import epoch_shuffled
    from vlmkit.data.sources import epoch_shuffled as new

    assert epoch_shuffled is new and any(issubclass(w.category, DeprecationWarning) for w in caught)
    with pytest.raises(AttributeError, match="no_such_name"):
        getattr(importlib.import_module("vlmkit.data"), "no_such_name")


# ---- paths named in the docs ---------------------------------------------------------------
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md")),
             *sorted((ROOT / "notebooks").rglob("*.ipynb")), *sorted(ROOT.glob("*/README.md"))]
_PATH = re.compile(r"(?<![\w/.-])((?:vlmkit|scripts|benchmarks|docs|notebooks|tests|checkpoints|data)/[\w./-]*\w)")
_MODULE = re.compile(r"(?<![\w/.-])(vlmkit(?:\.[a-z_0-9]+)+)")


def _named_paths(text: str) -> set[str]:
    return {m for m in _PATH.findall(text) if "*" not in m}


def _exists(path: str) -> bool:
    return (ROOT / path).exists() or (ROOT / path.split("#", 1)[0]).exists()


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_document_names_exists(document):
    text = document.read_text()
    missing = sorted(p for p in _named_paths(text) if not _exists(p) and not p.startswith(("data/", "checkpoints/")))
    assert not missing, f"{document.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_a_document_names_imports(document):
    missing = []
    for name in sorted(set(_MODULE.findall(document.read_text()))):
        module, _, attribute = name.rpartition(".")
        if name in MODULES or (module in MODULES and hasattr(importlib.import_module(module), attribute)):
            continue
        missing.append(name)
    assert not missing, f"{document.relative_to(ROOT)} names modules or attributes that do not exist: {missing}"


def test_the_path_check_finds_a_missing_path():
    assert _named_paths("see `scripts/no_such_tool.py` and vlmkit/text/codecs.py") == \
        {"scripts/no_such_tool.py", "vlmkit/text/codecs.py"}
    assert not _exists("scripts/no_such_tool.py") and _exists("vlmkit/text/codecs.py")


@pytest.mark.parametrize("script", sorted([*ROOT.glob("benchmarks/*.py"), *ROOT.glob("scripts/*.py")]),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_benchmark_and_tool_says_its_purpose_in_its_help(script):
    doc = ast.get_docstring(ast.parse(script.read_text()))
    assert doc and doc.splitlines()[0].rstrip().endswith((".", "?", ")")), \
        f"{script.name}: a docstring whose first line is a whole sentence saying what it is for"
    assert "ArgumentParser(description=__doc__" in script.read_text(), f"{script.name}: --help shows that line"
