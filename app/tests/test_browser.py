"""The sample's page in a real browser (Debian's headless Chromium), through the stack on both
backends: its assets load from nginx, its script asks the app, and with ws/ its live part talks
to the app over a WebSocket. A fork replaces it with its own."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.stack import APP_SETTINGS, BACKENDS, ROOT, Stack, running_stack, unavailable

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "test-results" / "browser"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        unavailable(
            "chromium",
            f"needs {CHROMIUM} and {CHROMEDRIVER}: Debian's chromium and chromium-driver (host/provision-browser)",
        )
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Flags for a closed network: without the background-networking ones Chromium keeps trying
    # to reach Google's services.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1024,700",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_page_loads_its_assets_and_shows_which_server_answered(app_stack: Stack, browser: webdriver.Chrome) -> None:
    stack = app_stack
    browser.get(stack.url("/"))
    try:
        WebDriverWait(browser, 15).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-server"))
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / f"index-{stack.backend}.png"))

    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-server") == stack.backend
    assert browser.find_element(By.ID, "status").text == f"Served by {stack.backend}."
    assert browser.find_element(By.CSS_SELECTOR, 'dd[data-field="server"]').text == stack.backend

    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => [new URL(e.name).pathname, e.responseStatus])"
    )
    assert sorted(map(tuple, loaded)) == [
        ("/api/whoami", 200),
        ("/static/css/app.css", 200),
        ("/static/js/app.js", 200),
    ]
    # The stylesheet was applied, not just fetched: main is 40rem wide.
    assert browser.execute_script("return getComputedStyle(document.querySelector('main')).maxWidth") == "640px"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


@pytest.mark.skipif(not (ROOT / "ws").is_dir(), reason="the WebSockets feature is not there (ws/ deleted)")
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_live_part_talks_to_the_app_over_a_websocket(
    backend: str, app_images: None, browser: webdriver.Chrome
) -> None:
    with running_stack(
        backend, (ROOT / "ws" / "compose.yaml",), APP_DIR=APP_SETTINGS["APP_DIR"], IMAGE_TAG=APP_SETTINGS["IMAGE_TAG"]
    ) as stack:
        browser.get(stack.url("/"))
        live = browser.find_element(By.ID, "live")
        heard = browser.find_element(By.ID, "heard")
        try:
            # The page says hello once its socket opens; the answer comes from the ws service.
            WebDriverWait(browser, 15).until(lambda _: live.get_attribute("data-state") == "open")
            assert heard.text == f'{backend} heard "hello" (1 open on its worker).'
            browser.find_element(By.NAME, "text").send_keys("from the browser")
            browser.find_element(By.CSS_SELECTOR, "#say button").click()
            WebDriverWait(browser, 15).until(lambda _: "from the browser" in heard.text)
        finally:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(SCREENSHOTS / f"live-{backend}.png"))
        assert heard.text == f'{backend} heard "from the browser" (1 open on its worker).'
        assert live.get_attribute("data-state") == "open"
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
