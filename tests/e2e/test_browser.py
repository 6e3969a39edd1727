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


# Label polls answer "pending" until the test sets window.releaseLabels: a classifier as slow as needed.
HOLD_LABELS = """
    const realFetch = window.fetch;
    window.fetch = (url, options) => String(url).startsWith("api/labels") && !window.releaseLabels
        ? Promise.resolve(new Response('{"error": {"code": "pending"}}', {status: 404}))
        : realFetch(url, options);
"""


def states(browser) -> list[str]:
    return browser.execute_script("return [...document.querySelectorAll('.card')].map(c => c.dataset.state)")


def leaving_is_questioned(browser) -> bool:
    """Whether the page's beforeunload handler asks the browser to confirm leaving."""
    return browser.execute_script(
        "const event = new Event('beforeunload', {cancelable: true});"
        "window.dispatchEvent(event); return event.defaultPrevented"
    )


def test_given_photos_awaiting_labels_when_more_are_chosen_then_they_upload_meanwhile_and_leaving_asks(
    served, browser, cat_photos, dog_photos
):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(served.url)
    browser.execute_script(HOLD_LABELS)
    assert not leaving_is_questioned(browser)

    choose_files(browser, *cat_photos[:3], *dog_photos[:2])  # more than the 3 uploads at a time
    # all five uploaded while none has its label: polling does not hold an upload slot
    WebDriverWait(browser, 30).until(lambda driver: states(driver) == ["classifying"] * 5)
    assert leaving_is_questioned(browser)
    browser.execute_script("window.releaseLabels = true")
    cards = wait_until_settled(browser, 5)

    assert {card.get_attribute("data-state") for card in cards} == {"done"}
    assert not leaving_is_questioned(browser)


def test_given_many_photos_awaiting_labels_when_polling_then_the_page_asks_four_times_a_second_at_most(
    served, browser, cat_photos, dog_photos
):
    """The API's throttle (20 requests/s) is shared by every visitor: each of 100 photos polling every
    2 s on its own would take 50 of them."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(served.url)
    browser.execute_script(
        HOLD_LABELS + "window.polls = []; const held = window.fetch;"
        "window.fetch = (url, options) => { if (String(url).startsWith('api/labels')) "
        "window.polls.push(performance.now()); return held(url, options); };"
    )

    # GIVEN six photos waiting for their labels for a few seconds
    choose_files(browser, *cat_photos[:3], *dog_photos[:3])
    WebDriverWait(browser, 30).until(lambda driver: driver.execute_script("return window.polls.length") >= 12)
    browser.execute_script("window.releaseLabels = true")
    cards = wait_until_settled(browser, 6)

    # THEN the page asked four times a second at most: its turns are a quarter of a second apart, and a
    # request starts when its turn's timer has run, which a busy machine may delay by some milliseconds
    # (one late request then sits closer to the next, 236.5 ms once, but never lets a fifth into a second);
    # each photo was labelled once let through
    polls = browser.execute_script("return window.polls")
    assert {card.get_attribute("data-state") for card in cards} == {"done"}
    assert min(polls[i + 4] - polls[i] for i in range(len(polls) - 4)) >= 950, polls


def test_given_the_network_failing_when_polling_then_the_label_still_shows_and_a_failed_presign_says_so(
    served, browser, cat_photos, tmp_path
):
    offline = tmp_path / "offline.jpg"
    offline.write_bytes(cat_photos[1].read_bytes())
    browser.get(served.url)
    # the first two polls find no network, the next two a throttled and a failing server; the presign
    # of offline.jpg finds no network
    browser.execute_script("""
        const realFetch = window.fetch;
        const answers = [null, null, 429, 503];
        window.fetch = (url, options) => {
            if (String(url).startsWith("api/uploads") && options.body.includes("offline.jpg")) {
                return Promise.reject(new TypeError("Failed to fetch"));
            }
            if (!String(url).startsWith("api/labels") || !answers.length) return realFetch(url, options);
            const status = answers.shift();
            if (!status) return Promise.reject(new TypeError("Failed to fetch"));
            return Promise.resolve(new Response("{}", {status}));
        };
    """)

    choose_files(browser, cat_photos[0], offline)
    cards = wait_until_settled(browser, 2)

    cat = card_for(cards, cat_photos[0].name)
    assert cat.get_attribute("data-state") == "done"
    assert cat.find_element("css selector", ".label-name").text == "Cat"
    failed = card_for(cards, "offline.jpg")
    assert failed.get_attribute("data-state") == "error"
    assert failed.find_element("css selector", ".status").text == (
        "The server could not be reached: check the connection and try again."
    )


def test_given_the_api_throttling_a_presign_when_uploading_then_the_page_asks_again_and_the_photo_is_labelled(
    served, browser, cat_photos
):
    """On AWS the API's throttle (20 requests/s) is shared with the label polls, which a big batch makes
    many: a presign answered 429 failed its photo with "The server answered 429." """
    browser.get(served.url)
    browser.execute_script("""
        const realFetch = window.fetch;
        window.throttledPresigns = 2;
        window.fetch = (url, options) => {
            if (String(url).startsWith("api/uploads") && window.throttledPresigns > 0) {
                window.throttledPresigns -= 1;
                return Promise.resolve(new Response('{"message":"Too Many Requests"}', {status: 429}));
            }
            return realFetch(url, options);
        };
    """)

    choose_files(browser, cat_photos[0])
    (card,) = wait_until_settled(browser, 1)

    assert card.get_attribute("data-state") == "done", card.find_element("css selector", ".status").text
    assert card.find_element("css selector", ".label-name").text == "Cat"
    assert browser.execute_script("return window.throttledPresigns") == 0  # both 429s were answered


def test_given_a_phone_that_paused_the_page_past_the_deadline_when_it_wakes_then_it_asks_once_more(
    served, browser, cat_photos
):
    """A phone pauses a page's timers while another app is in front: the wait for the next poll ended
    after the 90 s deadline, and the page gave up without asking, though the label was there."""
    browser.get(served.url)
    # the first poll is answered "not yet" once the label exists, and the page's clock jumps 100 s
    # during the wait that follows
    browser.execute_script("""
        const realFetch = window.fetch, realNow = Date.now, realSetTimeout = window.setTimeout;
        let jumped = 0, first = true, pause = false;
        Date.now = () => realNow() + jumped;
        window.setTimeout = (callback, delay) => {
            if (pause) [pause, jumped] = [false, 100000];
            return realSetTimeout(callback, delay);
        };
        window.fetch = async (url, options) => {
            if (!String(url).startsWith("api/labels") || !first) return realFetch(url, options);
            first = false;
            while (!(await realFetch(url, options)).ok) await new Promise((r) => realSetTimeout(r, 100));
            pause = true;
            return new Response("{}", {status: 404});
        };
    """)

    choose_files(browser, cat_photos[0])
    (card,) = wait_until_settled(browser, 1)

    assert card.get_attribute("data-state") == "done", card.find_element("css selector", ".status").text
    assert card.find_element("css selector", ".label-name").text == "Cat"


def test_given_the_health_route_failing_when_the_page_loads_then_it_keeps_its_own_words_and_limits(
    served, browser
):
    # GIVEN an API that throttles the page's health request (API Gateway answers {"message": …})
    browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": """
                const realFetch = window.fetch;
                window.fetch = (url, options) => String(url).startsWith("api/health")
                    ? Promise.resolve(new Response('{"message":"Too Many Requests"}', {status: 429}))
                    : realFetch(url, options);
            """
        },
    )

    # WHEN the page loads
    browser.get(served.url)

    # THEN it says what it said before the answer, rather than "undefined, up to NaN MB each"
    assert browser.find_element("id", "limits").text == "Photos, several at once."
    assert browser.find_element("id", "file-input").get_attribute("accept") == "image/*"
    assert browser.find_element("id", "service").text == ""


def test_given_a_photo_without_extension_and_an_empty_file_when_chosen_then_one_is_labelled_one_refused(
    served, browser, cat_photos, tmp_path
):
    camera = tmp_path / "IMG_1234"  # the browser gives it no type
    camera.write_bytes(cat_photos[0].read_bytes())
    readme = tmp_path / "README"
    readme.write_text("not a photo either\n")
    empty = tmp_path / "empty.jpg"
    empty.touch()
    browser.get(served.url)

    choose_files(browser, camera, readme, empty)
    cards = wait_until_settled(browser, 3)

    assert card_for(cards, "IMG_1234").get_attribute("data-label") == "cat"
    assert "not a photo" in card_for(cards, "README").find_element("css selector", ".status").text
    assert card_for(cards, "empty.jpg").find_element("css selector", ".status").text == "The file is empty."


def test_given_an_upload_when_a_screen_reader_listens_then_it_hears_each_state_once_not_each_percent(
    served, browser, cat_photos, tmp_path
):
    big = tmp_path / "big.jpg"  # a real photo padded to 190 kB, sent at 100 kB/s: many progress events
    big.write_bytes(cat_photos[0].read_bytes() + b"\0" * (190_000 - cat_photos[0].stat().st_size))
    browser.get(served.url)
    browser.execute_cdp_cmd("Network.enable", {})
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 100_000}
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", conditions)
    browser.execute_script("""
        window.announced = [];
        new MutationObserver(() => {
            const text = document.querySelector(".card .status").textContent;
            if (text !== window.announced.at(-1)) window.announced.push(text);
        }).observe(document.getElementById("results"), {subtree: true, childList: true, characterData: true});
    """)

    choose_files(browser, big)
    (card,) = wait_until_settled(browser, 1)

    announced = browser.execute_script("return window.announced")
    # (the queued card's "Waiting to upload…" may be replaced before the observer runs)
    heard = [text.split(" ")[0] for text in announced if not text.startswith("Waiting")]
    assert heard == ["Uploading…", "Classifying…", "Labelled"], announced
    nested = "[aria-live] [aria-live], [aria-live] [role=status], [role=status] [aria-live]"
    assert not browser.find_elements("css selector", nested)
    assert card.find_element("css selector", ".progress").get_attribute("aria-label") == "Upload of big.jpg"
    # each state is heard with the whole card, its photo's name first: labels come in any order
    assert card.get_attribute("aria-atomic") == "true"


def contrast(foreground: str, background: str) -> float:
    """WCAG's contrast ratio of two computed ``rgb(r, g, b)`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted([luminance(foreground), luminance(background)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_given_a_cat_and_a_photo_without_a_pet_when_labelled_then_the_labels_read_well_in_light_and_dark(
    served, browser, cat_photos
):
    rocket = REPO / "tests" / "fixtures" / "not-pets" / "rocket.jpg"
    browser.get(served.url)

    choose_files(browser, cat_photos[0], rocket)
    cards = wait_until_settled(browser, 2)

    assert (
        card_for(cards, "rocket.jpg").find_element("css selector", ".label-name").text
        == "Neither cat nor dog"
    )
    cat = card_for(cards, cat_photos[0].name)
    for scheme in ("light", "dark"):
        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
        )
        colours = [cat.find_element("css selector", ".label").value_of_css_property("color")]
        colours.append(cat.value_of_css_property("background-color"))
        assert contrast(*colours) >= 3, (scheme, colours)  # WCAG AA for large text


def test_given_a_phone_when_a_label_arrives_then_its_card_keeps_its_height(served, browser, cat_photos):
    rocket = REPO / "tests" / "fixtures" / "not-pets" / "rocket.jpg"
    metrics = {"width": 360, "height": 740, "deviceScaleFactor": 1, "mobile": True}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.get(served.url)
    browser.execute_script(HOLD_LABELS)

    choose_files(browser, cat_photos[0], rocket)
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(lambda driver: states(driver) == ["classifying"] * 2)
    classifying = [card.rect["height"] for card in browser.find_elements("css selector", ".card")]
    browser.execute_script("window.releaseLabels = true")
    labelled = [card.rect["height"] for card in wait_until_settled(browser, 2)]

    assert labelled == classifying


@pytest.mark.parametrize(("inference", "shown"), [(8.44, "8.4"), (123.4, "123")])
def test_given_a_label_when_shown_then_its_inference_time_reads_as_plain_milliseconds(
    served, browser, cat_photos, inference, shown
):
    browser.get(served.url)
    # the label as the API sends it, with the inference time of a slower machine
    browser.execute_script(
        """
        const realFetch = window.fetch;
        window.fetch = async (url, options) => {
            const response = await realFetch(url, options);
            if (!String(url).startsWith("api/labels") || !response.ok) return response;
            const label = await response.json();
            label.timing_ms.inference = arguments[0];
            return new Response(JSON.stringify(label), {status: 200});
        };
        """,
        inference,
    )

    choose_files(browser, cat_photos[0])
    (card,) = wait_until_settled(browser, 1)

    assert card.find_element("css selector", ".status").text.startswith(f"Labelled in {shown} ms by model v")


# The texts of a card that are cut short (an ellipsis): wider or taller than a box that hides its overflow,
# and the card itself if anything sticks out of it.
CLIPPED = """
    const card = arguments[0];
    const hidden = (e) => getComputedStyle(e).overflow !== "visible";  // "hidden" or "hidden visible"…
    const cut = (e) => e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight;
    return [...card.querySelectorAll(arguments[1])].filter((e) => e.offsetParent && hidden(e) && cut(e))
        .concat(cut(card) ? [card] : [])
        .map((e) => `${e.className}: ${e.textContent}`);
"""


def test_given_a_cat_a_dog_and_a_photo_without_a_pet_when_labelled_then_their_cards_are_as_tall_wide_or_phone(
    served, browser, cat_photos, dog_photos
):
    from selenium.webdriver.support.ui import WebDriverWait

    rocket = REPO / "tests" / "fixtures" / "not-pets" / "rocket.jpg"
    browser.set_window_size(1280, 900)
    browser.get(served.url)

    choose_files(browser, cat_photos[0], dog_photos[0], rocket)
    cards = wait_until_settled(browser, 3)

    assert [card.get_attribute("data-label") for card in cards] == ["cat", "dog", "neither"]
    for width in (1280, 390):
        browser.set_window_size(width, 900)
        resized = f"return innerWidth <= {width}"
        WebDriverWait(browser, 10).until(lambda driver, resized=resized: driver.execute_script(resized))
        columns = {card.rect["x"] for card in cards}
        assert len(columns) == (2 if width == 1280 else 1)  # a grid of two columns, or one on a phone
        assert len({card.rect["height"] for card in cards}) == 1, (width, [c.rect for c in cards])
        # on a phone the status and probability lines may end in "…" (docs/web.md), never the label
        lines = ".label" if width < 520 else ".body *"
        assert [browser.execute_script(CLIPPED, card, lines) for card in cards] == [[]] * 3, width
    neither = cards[2].find_element("css selector", ".label-name")
    assert neither.text == "Neither cat nor dog"


STORED = "return JSON.parse(sessionStorage.getItem('catdog.uploads.v1'))"


def shown(card) -> tuple:
    """What a card tells the user."""
    texts = [
        card.find_element("css selector", c).text for c in (".name", ".status", ".label", ".probabilities")
    ]
    return (card.get_attribute("data-state"), card.get_attribute("data-label"), *texts)


def test_given_labelled_photos_when_the_page_is_reloaded_then_their_cards_are_back_until_the_list_is_cleared(
    served, browser, cat_photos, dog_photos
):
    browser.get(served.url)
    choose_files(browser, cat_photos[0], dog_photos[0])
    labelled = [shown(card) for card in wait_until_settled(browser, 2)]

    browser.refresh()

    assert [shown(card) for card in browser.find_elements("css selector", ".card")] == labelled
    # the tab remembers the keys, names and labels the page received, not the photos
    assert [set(entry) for entry in browser.execute_script(STORED)] == [{"key", "name", "label"}] * 2
    browser.find_element("id", "clear").click()
    assert browser.find_elements("css selector", ".card") == []
    browser.refresh()
    assert browser.find_elements("css selector", ".card") == []
    assert browser.find_element("id", "empty").is_displayed()
    assert not browser.find_element("id", "clear").is_displayed()


def test_given_a_photo_awaiting_its_label_when_the_page_is_reloaded_then_it_waits_again_and_shows_the_label(
    served, browser, cat_photos
):
    from selenium.webdriver.support.ui import WebDriverWait

    # labels stay "pending" until released, on the first page and on the reloaded one alike
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOLD_LABELS})
    browser.get(served.url)
    choose_files(browser, cat_photos[0])
    WebDriverWait(browser, 30).until(lambda driver: states(driver) == ["classifying"])

    browser.refresh()

    assert states(browser) == ["classifying"], browser.find_element("css selector", ".card .status").text
    assert browser.find_element("css selector", ".card .name").text == cat_photos[0].name
    assert leaving_is_questioned(browser)  # still unsettled
    assert not browser.find_element("id", "clear").is_displayed()  # nothing settled to clear
    browser.execute_script("window.releaseLabels = true")
    (card,) = wait_until_settled(browser, 1)
    assert card.get_attribute("data-label") == "cat"
    assert card.find_element("css selector", ".label-name").text == "Cat"
    assert not leaving_is_questioned(browser)


def test_given_a_label_the_page_stopped_waiting_for_when_the_page_is_reloaded_then_it_asks_once_more(
    served, browser, cat_photos
):
    from selenium.webdriver.support.ui import WebDriverWait

    # GIVEN labels held back on the first page only, whose clock then jumps past the 90 s of waiting (a
    # phone in a tunnel)
    browser.get(served.url)
    browser.execute_script(
        HOLD_LABELS + "const realNow = Date.now; Date.now = () => realNow() + (window.jump || 0);"
    )
    choose_files(browser, cat_photos[0])
    WebDriverWait(browser, 30).until(lambda driver: states(driver) == ["classifying"])
    browser.execute_script("window.jump = 100000")
    (card,) = wait_until_settled(browser, 1)
    assert card.find_element("css selector", ".status").text.startswith("No label after 90 s")

    # WHEN the page is reloaded, the label being there by now
    browser.refresh()

    # THEN it asks again and shows it (it kept the error for good, with no way to ask)
    (card,) = wait_until_settled(browser, 1)
    assert card.get_attribute("data-label") == "cat", card.find_element("css selector", ".status").text
    assert [set(entry) for entry in browser.execute_script(STORED)] == [{"key", "name", "label"}]


@pytest.mark.parametrize(
    "broken_storage",
    [
        # disabled (blocked site data, some private modes): reading sessionStorage throws
        "Object.defineProperty(window, 'sessionStorage',"
        " {get: () => { throw new DOMException('', 'SecurityError'); }})",
        # full: every write throws
        'Storage.prototype.setItem = () => { throw new DOMException("full", "QuotaExceededError"); };',
    ],
    ids=["disabled", "full"],
)
def test_given_storage_disabled_or_full_when_photos_are_chosen_then_they_are_labelled_and_forgotten_on_reload(
    served, browser, cat_photos, broken_storage
):
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": broken_storage})
    browser.get(served.url)

    choose_files(browser, cat_photos[0])
    (card,) = wait_until_settled(browser, 1)
    assert card.get_attribute("data-label") == "cat"
    browser.refresh()
    assert browser.find_elements("css selector", ".card") == []
    choose_files(browser, cat_photos[1])
    (card,) = wait_until_settled(browser, 1)
    assert card.get_attribute("data-label") == "cat"


def test_given_a_script_slipped_into_the_page_when_it_is_inserted_then_the_pages_policy_stops_it(
    served, browser
):
    browser.get(served.url)
    browser.execute_script(
        "window.blocked = [];"
        "addEventListener('securitypolicyviolation', e => blocked.push(e.effectiveDirective), true);"
    )

    # as a file name shown unescaped would slip it in: an inline script and an inline handler
    browser.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.ran = true';"
        "document.body.append(s);"
        "document.body.insertAdjacentHTML('beforeend', '<img src=x onerror=\"window.ran = true\">');"
    )

    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: len(driver.execute_script("return blocked")) >= 2
    )
    assert browser.execute_script("return window.ran") is None
    assert set(browser.execute_script("return blocked")) == {"script-src-elem", "script-src-attr"}
