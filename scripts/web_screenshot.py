"""The README's picture of the upload page, taken from a real `catdog serve` with the released model: a
cat, a dog and a photo without a pet from the repository, and a text file. Needs Debian chromium and
chromium-driver (scripts/setup.sh --browser):

    .venv/bin/python scripts/web_screenshot.py docs/web-screenshot.png
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[1]
PHOTOS = [REPO / "samples" / "cat-965.jpg", REPO / "samples" / "dog-2425.jpg"]
PHOTOS += [REPO / "tests" / "fixtures" / "not-pets" / "rocket.jpg"]  # public domain (its LICENSES.md)
WIDTH = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="PNG to write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        notes = Path(folder) / "notes.txt"
        notes.write_text("shopping list\n")
        server = subprocess.Popen(  # no sample uploads: the page shows only what is chosen below
            [REPO / ".venv" / "bin" / "catdog", "serve", "--port", "0", "--samples", folder],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            url = next(m.group(1) for line in server.stdout if (m := re.search(r"page on (\S+)", line)))
            shoot(url, [*PHOTOS, notes], args.out)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
    print(f"wrote {args.out}")


def shoot(url: str, files: list[Path], out: Path) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-background-networking"):
        options.add_argument(argument)
    options.add_argument("--disable-component-update")
    options.add_argument(f"--window-size={WIDTH},1100")
    options.add_argument("--hide-scrollbars")
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        browser.get(url)
        browser.find_element("id", "file-input").send_keys("\n".join(str(f) for f in files))

        def settled(driver) -> bool:
            cards = driver.find_elements("css selector", ".card")
            return len(cards) == len(files) and all(
                c.get_attribute("data-state") in ("done", "error") for c in cards
            )

        WebDriverWait(browser, 60).until(settled)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(WIDTH, height + 160)  # the window's own frame takes part of it
        browser.save_screenshot(str(out))
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
