"""`make book`: executed notebooks rendered as pages with figures, navigation and chapter links,
checked in a headless Chromium (the ``chromium`` fixture: skipped, with the reason, without one),
and its refusals of an empty folder and of stripped notebooks."""

import base64
import importlib.util
import io
import json
import re
from pathlib import Path

import nbformat
import pytest
from matplotlib.figure import Figure
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image

from vlmkit.book import WIDGET_STATE, WIDGET_VIEW, build_book, link_chapters, main, widgets_as_text

ROOT = Path(__file__).resolve().parents[1]
TITLES = {"01_alpha": "01 · Alpha: the first", "02_beta": "02 · Beta: a figure", "03_gamma": "03 · Gamma"}


def _png() -> str:
    figure = Figure(figsize=(2, 1), dpi=50)
    figure.subplots().plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def _write(folder, name, cells):
    notebook = new_notebook(cells=[new_markdown_cell(f"# {TITLES.get(name, name)}\n\nIntro."), *cells])
    nbformat.write(notebook, folder / f"{name}.ipynb")


def _printed(text: str):
    return new_code_cell(f"print({text!r})", outputs=[new_output("stream", name="stdout", text=text + "\n")])


@pytest.fixture
def executed(tmp_path):
    """Three executed chapters: 01 names the next by file, 02 draws a figure, 03 links back to 01."""
    folder = tmp_path / "demo"
    folder.mkdir()
    _write(folder, "01_alpha", [_printed("hello"), new_markdown_cell("**Next: `02_beta.ipynb`**: a figure.")])
    figure = new_code_cell("plt.plot([0, 1])", outputs=[new_output("display_data", data={
        "image/png": _png(), "text/plain": "<Figure size 100x50>"})])
    _write(folder, "02_beta", [figure])
    _write(folder, "03_gamma", [_printed("last"), new_markdown_cell("Back to 01_alpha.ipynb for the start.")])
    summary = {"profile": "tiny", "notebooks": [
        {"notebook": "01_alpha.ipynb", "minutes": 1.5, "results": {"metrics": {"bleu4": 0.5123}}},
        {"notebook": "02_beta.ipynb", "minutes": 2.25}]}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


# ---- in a browser ------------------------------------------------------------------------------
def _open(driver, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _click_to(driver, link, page: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("arguments[0].scrollIntoView()", link)
    link.click()
    WebDriverWait(driver, 20).until(lambda d: d.current_url.endswith("/" + page))
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def test_every_page_loads_shows_its_figures_and_links_its_chapters_in_a_browser(executed, tmp_path, chromium):
    from selenium.webdriver.common.by import By

    _, *pages = build_book(executed, tmp_path / "book")
    figures = {}
    for page in pages:
        _open(chromium, page.as_uri())
        assert chromium.title == TITLES[page.stem]
        widths = chromium.execute_script("return Array.from(document.images, i => i.complete && i.naturalWidth)")
        assert all(width > 0 for width in widths), (page.name, widths)
        figures[page.stem] = len(widths)
    assert figures == {"01_alpha": 0, "02_beta": 1, "03_gamma": 0}  # the figure is there and drawn

    _open(chromium, pages[0].as_uri())
    _click_to(chromium, chromium.find_element(By.CSS_SELECTOR, "a[rel=next]"), "02_beta.html")
    assert chromium.title == TITLES["02_beta"]
    _click_to(chromium, chromium.find_element(By.CSS_SELECTOR, "a[rel=prev]"), "01_alpha.html")
    _click_to(chromium, chromium.find_element(By.LINK_TEXT, "02_beta.ipynb"), "02_beta.html")  # the prose's link
    assert chromium.title == TITLES["02_beta"]
    _open(chromium, pages[2].as_uri())
    assert not chromium.find_elements(By.CSS_SELECTOR, "a[rel=next]")  # the last chapter
    _click_to(chromium, chromium.find_element(By.LINK_TEXT, "01_alpha.ipynb"), "01_alpha.html")
    _click_to(chromium, chromium.find_element(By.CSS_SELECTOR, "a[rel=index]"), "index.html")

    rows = chromium.find_elements(By.CSS_SELECTOR, "table.chapters tbody tr")
    assert [row.find_element(By.TAG_NAME, "a").text for row in rows] == list(TITLES.values())
    assert [cell.text for cell in rows[0].find_elements(By.TAG_NAME, "td")] == \
        [TITLES["01_alpha"], "1.5", "bleu4 0.512"]
    _click_to(chromium, rows[2].find_element(By.TAG_NAME, "a"), "03_gamma.html")


# ---- without a browser -------------------------------------------------------------------------
def _links(page) -> set[str]:
    return set(re.findall(r'href="([^":#]+\.html)"', page.read_text()))


def test_the_book_writes_an_index_and_a_page_per_chapter_and_drops_old_pages(executed, tmp_path):
    out = tmp_path / "book"
    out.mkdir()
    (out / "09_removed.html").write_text("a chapter of an earlier book")
    written = build_book(executed, out)
    assert [p.name for p in written] == ["index.html", "01_alpha.html", "02_beta.html", "03_gamma.html"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
    assert _links(written[0]) == {"01_alpha.html", "02_beta.html", "03_gamma.html"}
    assert _links(written[1]) == {"index.html", "02_beta.html"}
    assert _links(written[3]) == {"index.html", "02_beta.html", "01_alpha.html"}
    assert "data:image/png;base64," in written[2].read_text() and "require.js" not in written[2].read_text()
    # 03 is not in the summary; 02 recorded no metrics
    index = written[0].read_text()
    assert "(not in the summary)" in index and "(none recorded)" in index and "<b>tiny</b>" in index


def test_without_a_summary_the_index_says_so_and_still_lists_the_chapters(executed, tmp_path):
    (executed / "summary.json").unlink()
    index = build_book(executed, tmp_path / "book")[0].read_text()
    assert f"No summary.json in {executed}" in index and "<th>minutes</th>" not in index
    assert index.count('<tr><td><a href="') == 3


def test_a_summary_that_is_not_json_is_named(executed, tmp_path):
    (executed / "summary.json").write_text("{\"profile\": ")  # cut short
    with pytest.raises(ValueError, match=re.escape(f"{executed / 'summary.json'} is not the JSON that make demo writes")):
        build_book(executed, tmp_path / "book")


def test_an_empty_folder_is_named_with_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"no executed notebooks (NN_name.ipynb) in {tmp_path}: "
                                                          "run `make demo` first")):
        build_book(tmp_path, tmp_path / "book")
    assert not (tmp_path / "book").exists()


def test_a_stripped_notebook_is_refused_by_name(executed, tmp_path):
    nbformat.write(new_notebook(cells=[new_markdown_cell("# 04"), new_code_cell("x = 1")]), executed / "04_delta.ipynb")
    with pytest.raises(ValueError, match=r"04_delta.ipynb has no outputs at all: it looks stripped, not executed; "
                                         r"run `make demo` first"):
        build_book(executed, tmp_path / "book")


def test_the_command_prints_where_the_index_is_and_refuses_with_a_sentence(executed, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["book", "--demo", str(executed), "--out", str(tmp_path / "book")])
    main()
    assert capsys.readouterr().out.startswith(f"the book: {tmp_path / 'book' / 'index.html'} (3 chapters)")
    monkeypatch.setattr("sys.argv", ["book", "--demo", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit, match="cannot build the book: no executed notebooks"):
        main()


@pytest.mark.parametrize("markdown, linked", [
    ("**Next: `02_beta.ipynb`** now", "**Next: [`02_beta.ipynb`](02_beta.html)** now"),
    ("see 02_beta.ipynb.", "see [02_beta.ipynb](02_beta.html)."),
    ("[the figures](02_beta.ipynb#plots)", "[the figures](02_beta.html#plots)"),
    ("[`02_beta.ipynb`](02_beta.ipynb)", "[`02_beta.ipynb`](02_beta.html)"),
    ("`papermill 02_beta.ipynb out.ipynb`", None),  # a command, not a mention
    ("```\npapermill 02_beta.ipynb\n```", None),
    ("notebooks/02_beta.ipynb and https://x.org/02_beta.ipynb", None),  # paths and addresses
    ("`07_unknown.ipynb` and 07_unknown.ipynb", None),  # not a chapter of this book
])
def test_mentions_of_chapters_become_links_and_nothing_else_does(markdown, linked):
    assert link_chapters(markdown, {"01_alpha", "02_beta"}) == (linked or markdown)


def _bar(state: dict, box: str, left: str, value: float, total: float, right: str) -> None:
    state[box] = {"model_name": "HBoxModel", "state": {"children": [f"IPY_MODEL_{box}{i}" for i in range(3)]}}
    state[f"{box}0"] = {"model_name": "HTMLModel", "state": {"value": left}}
    state[f"{box}1"] = {"model_name": "FloatProgressModel", "state": {"value": value, "max": total}}
    state[f"{box}2"] = {"model_name": "HTMLModel", "state": {"value": right}}


def test_progress_bars_become_their_last_text_or_go_when_it_was_not_kept():
    state = {}
    _bar(state, "a", "training: 100%", 4, 4, " 4/4 [00:01&lt;00:00, loss=0.5]")
    _bar(state, "b", "predict:  50%", 1, 2, " 1/2")

    def view(model_id):
        return new_output("display_data", data={WIDGET_VIEW: {"model_id": model_id, "version_major": 2},
                                                "text/plain": "training:   0%|          | 0/4"})
    notebook = new_notebook(cells=[new_code_cell("train()", outputs=[view("a"), view("b"), view("gone"),
                                                                     new_output("stream", text="done\n")])])
    notebook.metadata["widgets"] = {WIDGET_STATE: {"state": state}}
    widgets_as_text(notebook)
    assert [o.get("data", {}).get("text/plain", o.get("text")) for o in notebook.cells[0].outputs] == [
        "training: 100%|██████████| 4/4 [00:01<00:00, loss=0.5]", "predict:  50%|█████     | 1/2", "done\n"]
    assert "widgets" not in notebook.metadata


def test_the_real_notebooks_become_a_book_whose_next_links_all_land(tmp_path):
    """The repository's notebooks, each given one made-up output (never executed here): every
    page is titled by its heading, and each "Next" mention links to a page the book has."""
    folder = tmp_path / "demo"
    folder.mkdir()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        next(c for c in notebook.cells if c.cell_type == "code").outputs = [new_output("stream", text="ran\n")]
        nbformat.write(notebook, folder / path.name)
    _, *pages = build_book(folder, tmp_path / "book")
    assert len(pages) >= 5
    for page in pages:
        text = page.read_text()
        assert re.search(r"<title>\d\d · [^<]+</title>", text), page.name
        assert _links(page) <= {p.name for p in pages} | {"index.html"}
    nexts = [re.findall(r'Next: <a href="(\d\d_\w+)\.html"><code>\1\.ipynb</code></a>', p.read_text()) for p in pages]
    assert nexts[:3] == [[p.stem] for p in pages[1:4]]  # 01 -> 02 -> 03 -> 04
    assert not any("Next: <code>" in p.read_text() for p in pages)  # no mention left unlinked


def _screenshot_script():
    spec = importlib.util.spec_from_file_location("book_screenshot", ROOT / "scripts" / "book_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_screenshot_script_saves_a_small_png_of_a_chapter(executed, tmp_path, monkeypatch, capsys,
                                                              screenshot_tools):
    why = screenshot_tools.missing_browser()
    if why:
        pytest.skip(f"no headless browser test: {why}")
    build_book(executed, tmp_path / "book")
    shot = tmp_path / "docs" / "book.png"
    monkeypatch.setattr("sys.argv", ["shot", str(shot), "--book", str(tmp_path / "book"), "--page", "02_beta.html"])
    _screenshot_script().main()
    assert capsys.readouterr().out.splitlines()[0] == f"{TITLES['02_beta']}: 1 figures on the page"
    assert Image.open(shot).size[0] == 1050


def test_the_screenshot_script_says_to_build_the_book_first(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["shot", str(tmp_path / "book.png"), "--book", str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit, match=r"no page .*nowhere/index.html: run `make demo`, then `make book`"):
        _screenshot_script().main()
    assert not (tmp_path / "book.png").exists()
