"""Screenshot a page of the book that `make book` renders, in a headless Chromium (docs/book.png).

The browser and the image's shrinking are scripts/app_screenshot.py's (same set-up, same
installs: ``apt-get install chromium chromium-driver``, ``pip install -e '.[dev,app]'``).

    make demo && make book
    python scripts/book_screenshot.py docs/book.png --page 02_grounding.html
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path


def screenshot_tools():
    """scripts/app_screenshot.py, beside this file, as a module."""
    spec = importlib.util.spec_from_file_location("app_screenshot", Path(__file__).with_name("app_screenshot.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the screenshot (PNG)")
    parser.add_argument("--book", type=Path, default=Path("outputs/book"), help="the folder make book wrote")
    parser.add_argument("--page", default="index.html", help="which page: index.html or a chapter, NN_name.html")
    args = parser.parse_args()
    page = args.book / args.page
    if not page.is_file():
        raise SystemExit(f"no page {page}: run `make demo`, then `make book` (or pass --book / --page)")
    tools = screenshot_tools()
    why = tools.missing_browser()
    if why:
        raise SystemExit(f"cannot take the screenshot: {why}")
    from selenium.webdriver.common.by import By

    driver = tools.browser()
    try:
        driver.get(page.resolve().as_uri())
        print(f"{driver.title}: {len(driver.find_elements(By.TAG_NAME, 'img'))} figures on the page")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tools.small_png(driver.get_screenshot_as_png(), args.out)
    finally:
        driver.quit()
    print(f"screenshot written to {args.out}")


if __name__ == "__main__":
    main()
