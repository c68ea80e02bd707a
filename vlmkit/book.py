"""Render the executed notebooks of the last ``make demo`` as a small static site (``make book``).

    python -m vlmkit.book [--demo outputs/demo] [--out outputs/book]

One page per notebook, ``NN_name.html``, a single file with its figures embedded, with links to
the previous chapter, the index and the next one, and every mention of another chapter's
``NN_name.ipynb`` in its prose linked to that chapter's page; ``index.html`` lists the chapters
(each titled by its notebook's first ``# `` heading) with the demo's minutes and headline
metrics from its ``summary.json``. A page fetches nothing from the network but MathJax (for math).
"""

from __future__ import annotations

import argparse
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from vlmkit.series import headline_metrics

INDEX = "index.html"
SUMMARY = "summary.json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_CHAPTER = re.compile(r"(\d\d_[\w-]+)\.ipynb")
# what a mention of a chapter may sit in, first match wins: a fenced block (left alone), a link
# (its target rewritten), inline code (linked when it is just the name), or the bare name
_MENTION = re.compile(r"(?s)(?P<fence>```.*?```|~~~.*?~~~)|(?P<link>\[[^\]\n]*\]\((?P<target>[^)\s]*)\))"
                      r"|(?P<code>`[^`\n]+`)|(?<![\w/.-])(?P<bare>\d\d_[\w-]+\.ipynb)\b")
_STYLE = """nav.book-nav { display: flex; justify-content: space-between; gap: 1em; max-width: 1200px;
  margin: 0.5em auto; padding: 0.5em 1em; font: 14px sans-serif; border-bottom: 1px solid #ddd; }
nav.book-nav a { text-decoration: none; } nav.book-nav .none { visibility: hidden; }"""
# the lab template without require.js and the widget manager (the widgets become text below)
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block extra_css -%}<style type="text/css">{{ resources.book_style }}</style>{%- endblock extra_css -%}
{%- block body_header -%}{{ super() }}{{ resources.book_nav }}{%- endblock body_header -%}
{%- block body_footer -%}{{ resources.book_nav }}{{ super() }}{%- endblock body_footer -%}
"""


@dataclass
class Chapter:
    """One executed notebook: ``name`` is its file name's stem, ``title`` its first ``# `` heading."""

    name: str
    path: Path
    notebook: nbformat.NotebookNode
    title: str

    @property
    def page(self) -> str:
        return f"{self.name}.html"


def read_chapters(executed_dir: Path) -> list[Chapter]:
    """The executed ``NN_*.ipynb`` of ``executed_dir`` in order; refuses none, and a stripped one."""
    paths = sorted(Path(executed_dir).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no executed notebooks (NN_name.ipynb) in {executed_dir}: run `make demo` first")
    chapters = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        if not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"):
            raise ValueError(f"{path} has no outputs at all: it looks stripped, not executed; "
                             f"run `make demo` first (it writes executed copies to outputs/demo)")
        chapters.append(Chapter(path.stem, path, notebook, _title(notebook, path.stem)))
    return chapters


def _title(notebook: nbformat.NotebookNode, fallback: str) -> str:
    for cell in notebook.cells:
        heading = re.search(r"^# (.+)$", cell.source, re.MULTILINE) if cell.cell_type == "markdown" else None
        if heading:
            return heading.group(1).strip()
    return fallback


def link_chapters(markdown: str, names: set[str]) -> str:
    """``markdown`` with each mention of a chapter in ``names`` (``NN_name.ipynb``) linked to its
    page; mentions in code blocks, in longer inline code or in paths are left as they are."""

    def replace(match: re.Match) -> str:
        text = match.group(0)
        if match["link"]:
            target = _CHAPTER.fullmatch(match["target"].split("#")[0])
            if target and target.group(1) in names:
                at = match.start("target") - match.start()
                return text[:at] + match["target"].replace(".ipynb", ".html", 1) + ")"
        elif match["code"] or match["bare"]:
            name = _CHAPTER.fullmatch(text.strip("`"))
            if name and name.group(1) in names:
                return f"[{text}]({name.group(1)}.html)"
        return text

    return _MENTION.sub(replace, markdown)


def widgets_as_text(notebook: nbformat.NotebookNode) -> None:
    """Replace each progress bar (a tqdm widget) by the text of its last state, in place, so that a
    page needs no widget code. A bar whose state the notebook did not keep is dropped, since its
    text is its first frame (0%) and would say the run never moved; so is any other widget, which
    a static page cannot run."""
    state = notebook.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            view = output.get("data", {}).get(WIDGET_VIEW)
            text = _widget_text(state, view["model_id"]) if view else None
            if text:
                output.data = {"text/plain": text}
            if view is None or text:
                kept.append(output)
        cell.outputs = kept


def _widget_text(state: dict, model_id: str) -> str:
    """A box of widgets as tqdm prints it: its texts in order, a progress bar as ``|████  |``."""
    model = state.get(model_id, {}).get("state", {})
    parts = []
    for child in model.get("children", []):
        child = state.get(child.removeprefix("IPY_MODEL_"), {}).get("state", {})
        if isinstance(child.get("value"), str):
            parts.append(html.unescape(child["value"]))
        elif child.get("max"):
            filled = round(10 * child.get("value", 0) / child["max"])
            parts.append(f"|{'█' * filled}{' ' * (10 - filled)}|")
    return "".join(parts)


def _nav(chapters: list[Chapter], i: int) -> str:
    """The previous chapter, the index and the next chapter (an invisible place-holder at the ends)."""
    prev = (f'<a rel="prev" href="{chapters[i - 1].page}">&larr; {html.escape(chapters[i - 1].title)}</a>'
            if i > 0 else '<span class="none">&larr;</span>')
    after = (f'<a rel="next" href="{chapters[i + 1].page}">{html.escape(chapters[i + 1].title)} &rarr;</a>'
             if i + 1 < len(chapters) else '<span class="none">&rarr;</span>')
    return f'<nav class="book-nav">{prev}<a rel="index" href="{INDEX}">Contents</a>{after}</nav>'


def render_chapter(chapters: list[Chapter], i: int, exporter: HTMLExporter) -> str:
    """Chapter ``i`` as one HTML page: figures as data URIs, chapters linked, navigation above and below."""
    chapter = chapters[i]
    notebook = nbformat.from_dict(chapter.notebook)  # a copy: the chapter stays as read
    names = {c.name for c in chapters}
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = link_chapters(cell.source, names)
    widgets_as_text(notebook)
    resources = {"metadata": {"name": chapter.title, "path": str(chapter.path.parent)},
                 "book_nav": _nav(chapters, i), "book_style": _STYLE}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    return body


def _exporter() -> HTMLExporter:
    return HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"book.html.j2": _TEMPLATE})],
                        template_file="book.html.j2", embed_images=True)


def render_index(chapters: list[Chapter], executed_dir: Path) -> str:
    """The chapters in order, with the minutes and headline metrics of the demo's summary when it is there."""
    summary = _read_summary(Path(executed_dir) / SUMMARY)
    if summary is None:
        note = (f"No {SUMMARY} in {html.escape(str(executed_dir))}: <code>make demo</code> writes it once the "
                f"whole series has run, so no minutes or metrics are shown.")
        head, cells = "<th>chapter</th>", {}
    else:
        note = f"Profile: <b>{html.escape(summary['profile'])}</b>; minutes and headline metrics from {SUMMARY}."
        head = "<th>chapter</th><th>minutes</th><th>headline metrics</th>"
        entries = {entry["notebook"]: entry for entry in summary["notebooks"]}
        cells = {c.name: _summary_cells(entries.get(c.path.name)) for c in chapters}
    rows = "\n".join(f'<tr><td><a href="{c.page}">{html.escape(c.title)}</a></td>{cells.get(c.name, "")}</tr>'
                     for c in chapters)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>vlmkit: the notebook series</title>
<style>body {{ font: 16px/1.5 sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
</style></head>
<body><main>
<h1>vlmkit: the notebook series</h1>
<p>The notebooks as the last <code>make demo</code> ran them, outputs and figures included
(executed copies in {html.escape(str(executed_dir))}). {note}</p>
<table class="chapters"><thead><tr>{head}</tr></thead><tbody>
{rows}
</tbody></table>
</main></body></html>
"""


def _read_summary(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not the JSON that make demo writes ({err}): run `make demo` again") from err


def _summary_cells(entry: dict | None) -> str:
    if entry is None:
        return "<td>&ndash;</td><td>(not in the summary)</td>"
    return f"<td>{entry['minutes']}</td><td>{html.escape(headline_metrics(entry) or '(none recorded)')}</td>"


def build_book(executed_dir: Path, out_dir: Path) -> list[Path]:
    """Write ``index.html`` and one page per executed notebook to ``out_dir``; returns their paths,
    the index first. Pages of chapters no longer in ``executed_dir`` are removed: the site shows one run."""
    from tqdm.auto import tqdm

    executed_dir, out_dir = Path(executed_dir), Path(out_dir)
    chapters = read_chapters(executed_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = _exporter()
    written = [out_dir / INDEX]
    written[0].write_text(render_index(chapters, executed_dir), encoding="utf-8")
    for i, chapter in enumerate(tqdm(chapters, desc="rendering")):
        written.append(out_dir / chapter.page)
        written[-1].write_text(render_chapter(chapters, i, exporter), encoding="utf-8")
    for stale in set(out_dir.glob("[0-9][0-9]_*.html")) - set(written):
        stale.unlink()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("outputs/demo"),
                        help="the executed notebooks (and summary.json) of make demo")
    parser.add_argument("--out", type=Path, default=Path("outputs/book"), help="where the pages go")
    args = parser.parse_args()
    try:
        pages = build_book(args.demo, args.out)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"cannot build the book: {err}") from err
    print(f"the book: {pages[0]} ({len(pages) - 1} chapters); open file://{pages[0].resolve()}")


if __name__ == "__main__":
    main()
