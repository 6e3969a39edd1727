"""The upload page in headless Chromium against a running ``catdog serve``: what a user does and sees.

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/setup.sh --browser`` installs them).
A screenshot of the final page is saved in ``test-artifacts/`` for a human to look at.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from web_pipeline import MAX_IMAGE_BYTES, REPO, start, stop

from catdog.imagetypes import IMAGE_TYPES, SUFFIXES

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "test-artifacts"
WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def served(serving_model, tmp_path_factory):
    no_samples = str(tmp_path_factory.mktemp("no-samples"))
    pipeline = start(
        serving_model, tmp_path_factory.mktemp("serve") / "classify.log", ("--samples", no_samples)
    )
    yield pipeline
    stop(pipeline.process)


@pytest.fixture
def browser(tmp_path):
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip("needs Debian chromium and chromium-driver: scripts/setup.sh --browser")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-gpu",
        "--no-first-run",
        "--window-size=1100,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def choose_files(browser, *paths: Path) -> None:
    browser.find_element("id", "file-input").send_keys("\n".join(str(p) for p in paths))


def wait_until_settled(browser, count: int) -> list:
    """The cards once all ``count`` of them are done or failed."""
    from selenium.webdriver.support.ui import WebDriverWait

    settled = '.card[data-state="done"], .card[data-state="error"]'
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: len(driver.find_elements("css selector", settled)) == count
    )
    return browser.find_elements("css selector", ".card")


def card_for(cards: list, name: str):
    (card,) = [c for c in cards if c.find_element("css selector", ".name").text == name]
    return card


def test_given_the_page_when_a_cat_photo_a_text_file_and_a_huge_file_are_chosen_then_each_shows_its_outcome(
    served, browser, serving_model, cat_photos, dog_photos, tmp_path
):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n")
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(cat_photos[0].read_bytes() + b"\0" * MAX_IMAGE_BYTES)
    browser.get(served.url)
    accept = browser.find_element("id", "file-input").get_attribute("accept").split(",")
    assert set(accept) == {kind.media_type for kind in IMAGE_TYPES} | set(SUFFIXES)  # the one list

    choose_files(browser, cat_photos[0], dog_photos[0], notes, huge)
    first_height = browser.find_element("css selector", ".card").rect["height"]
    cards = wait_until_settled(browser, 4)

    assert {card.rect["height"] for card in cards} == {first_height}  # no card grew or shrank

    cat = card_for(cards, cat_photos[0].name)
    assert cat.get_attribute("data-state") == "done"
    verdict = cat.find_element("css selector", ".label-name").text.lower()
    assert verdict == "cat"
    assert "%" in cat.find_element("css selector", ".probabilities").text
    assert cat.find_element("css selector", ".thumb img").get_property("naturalWidth") == 180
    text = card_for(cards, "notes.txt")
    assert text.get_attribute("data-state") == "error"
    assert "not a photo" in text.find_element("css selector", ".status").text
    too_large = card_for(cards, "huge.jpg")
    assert too_large.get_attribute("data-state") == "error"
    assert "Too large" in too_large.find_element("css selector", ".status").text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "web-upload.png"))


def test_given_a_photo_without_a_pet_when_uploaded_then_the_card_says_neither_cat_nor_dog(served, browser):
    rocket = REPO / "tests" / "fixtures" / "not-pets" / "rocket.jpg"
    browser.get(served.url)

    choose_files(browser, rocket)
    (card,) = wait_until_settled(browser, 1)

    assert card.get_attribute("data-label") == "neither"
    assert card.find_element("css selector", ".label-name").text.lower() == "neither cat nor dog"
    assert re.search(r"neither \d+\.\d%", card.find_element("css selector", ".probabilities").text)


def test_given_a_phone_sized_window_when_photos_are_labelled_then_nothing_overflows_the_screen(
    served, browser, cat_photos, dog_photos
):
    browser.set_window_size(390, 844)
    browser.get(served.url)

    choose_files(browser, *cat_photos[:2], *dog_photos[:2])
    wait_until_settled(browser, 4)

    page_width = browser.execute_script("return document.documentElement.scrollWidth")
    assert page_width <= browser.execute_script("return window.innerWidth")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "web-upload-phone.png"))


def test_given_a_text_file_posing_as_a_jpeg_when_uploaded_then_the_page_shows_the_classifier_error(
    served, browser, tmp_path
):
    fake = tmp_path / "holiday.jpg"
    fake.write_text("this is not a photo at all\n")
    browser.get(served.url)

    choose_files(browser, fake)
    (card,) = wait_until_settled(browser, 1)

    assert card.get_attribute("data-state") == "error"
    assert "not an image that can be read" in card.find_element("css selector", ".status").text


def test_given_a_photo_dropped_on_the_page_when_labelled_then_its_card_shows_the_label(
    served, browser, serving_model, cat_photos
):
    browser.get(served.url)
    drop = """
        const [name, data] = arguments;
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: "image/jpeg"}));
        const target = document.getElementById("dropzone");
        target.dispatchEvent(new DragEvent("dragenter", {bubbles: true, dataTransfer: transfer}));
        target.dispatchEvent(new DragEvent("drop", {bubbles: true, dataTransfer: transfer}));
    """

    browser.execute_script(drop, cat_photos[2].name, base64.b64encode(cat_photos[2].read_bytes()).decode())
    (card,) = wait_until_settled(browser, 1)

    assert card.get_attribute("data-state") == "done"
    verdict = card.find_element("css selector", ".label-name").text.lower()
    assert verdict == "cat"
    assert "dragging" not in browser.find_element("id", "dropzone").get_attribute("class")
