"""Ask `vlmkit app` a question in a headless Chromium and save a screenshot of its answer (docs/app.png).

The browser is the system's Chromium with its chromedriver (Debian: ``apt-get install chromium
chromium-driver``), driven by selenium. Its functions are the browser tests' too (``tests/browser.py``:
the app's page, the book of ``make book``) and ``scripts/book_screenshot.py``'s. Needs the app
extra and selenium (``pip install -e '.[dev,app]'``).

    python scripts/app_screenshot.py checkpoints/04_combined docs/app.png
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import tempfile
import time
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WINDOW = (1400, 1050)


def missing_browser(*packages: str) -> str | None:
    """Why no headless browser, or one of ``packages`` the page needs, can run here (what to
    install), or None when they can."""
    for package in ("selenium", *packages):
        if importlib.util.find_spec(package) is None:
            return f"{package} is not installed (pip install -e '.[dev,app]')"
    if not any(shutil.which(name) for name in BROWSERS) or not shutil.which("chromedriver"):
        return "no Chromium with its chromedriver on PATH (Debian: apt-get install chromium chromium-driver)"
    return None


def browser():
    """A headless Chromium under selenium, as root in a container too (no sandbox)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = next(shutil.which(name) for name in BROWSERS if shutil.which(name))
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def ask(driver, url: str, image: Path, expression: str, task: str = "ground", timeout: float = 60) -> dict:
    """Open the page, upload ``image``, type ``expression``, choose ``task``, press Answer and
    wait for the reply: ``{"answer": text, "message": text, "drawn": whether an image shows}``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    driver.get(url)
    wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, "#ask")))
    driver.find_element(By.CSS_SELECTOR, "#image input[type=file]").send_keys(str(Path(image).resolve()))
    wait.until(lambda d: Path(image).stem in d.find_element(By.CSS_SELECTOR, "#image").text)  # uploaded
    field = driver.find_element(By.CSS_SELECTOR, "#expression textarea, #expression input")
    field.clear()
    field.send_keys(expression)
    driver.find_element(By.XPATH, f"//*[@id='task']//label[normalize-space()='{task}']").click()
    driver.find_element(By.CSS_SELECTOR, "#ask").click()
    wait.until(lambda d: _answer(d) or _message(d))
    time.sleep(0.5)  # the images arrive with the text; let them paint
    return {"answer": _answer(driver), "message": _message(driver),
            "drawn": bool(driver.find_elements(By.CSS_SELECTOR, "#drawn img"))}


def _answer(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, "#answer textarea, #answer input").get_property("value") or ""


def _message(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, "#message").text.strip()


def small_png(png: bytes, out: Path, width: int = 1050, colours: int = 128) -> None:
    """The screenshot scaled to ``width`` pixels and ``colours`` colours: small enough to commit."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a saved vlmkit checkpoint folder")
    parser.add_argument("out", type=Path, help="the screenshot (PNG)")
    parser.add_argument("--image", type=Path, default=None, help="default: the scene of the app's second example")
    parser.add_argument("--expression", default=None, help="default: that example's expression")
    parser.add_argument("--task", default="locate and segment")
    parser.add_argument("--port", type=int, default=7870)
    args = parser.parse_args()
    why = missing_browser("gradio")
    if why:
        raise SystemExit(f"cannot take the screenshot: {why}")
    import matplotlib

    matplotlib.use("Agg")
    from vlmkit.app import examples, launch
    from vlmkit.storage.checkpoint import load_model

    model = load_model(args.checkpoint).eval()
    scene, expression, _ = examples(model, Path(tempfile.mkdtemp(prefix="vlmkit-shot-")))[1]
    image, expression = args.image or Path(scene), args.expression or expression
    page, url = launch(model, port=args.port, block=False)
    driver = browser()
    try:
        reply = ask(driver, url, image, expression, args.task)
        print(reply)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        small_png(driver.get_screenshot_as_png(), args.out)
    finally:
        driver.quit()
        page.close()
    print(f"screenshot written to {args.out}")


if __name__ == "__main__":
    main()
