"""Headless Chromium driven through Selenium, for the viewer's browser tests and its benchmark.

Only Debian's own `chromium` and `chromium-driver` are used: both paths are given to Selenium,
so Selenium Manager (which would download a browser and a driver) is never asked, and it is
told to stay offline should anything reach it. The viewer has to work offline; so do its tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

__all__ = [
    "BrowserMissing",
    "Chromium",
    "chromium_or_skip",
    "find_chromium",
    "headless_chromium",
    "screenshot_folder",
    "set_session",
]

WINDOW = (1280, 900)
MISSING_HINT = (
    "install Debian's packages `chromium` and `chromium-driver` "
    "(.ci/run installs them when it runs as root)"
)


class BrowserMissing(RuntimeError):
    """Chromium or its driver is not installed: the browser tests cannot run here."""


@dataclass(frozen=True, slots=True)
class Chromium:
    """Where the browser and its driver are."""

    browser: str
    driver: str


def _found(names: tuple[str, ...], fallback: str) -> str | None:
    """The first of `names` on PATH, else `fallback` when it exists."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return fallback if os.access(fallback, os.X_OK) else None


def find_chromium() -> Chromium:
    """Debian's Chromium and chromedriver, from PATH or /usr/bin; `BrowserMissing` naming what
    is absent otherwise."""
    browser = _found(("chromium", "chromium-browser"), "/usr/bin/chromium")
    driver = _found(("chromedriver",), "/usr/bin/chromedriver")
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver)) if path is None]
    if browser is None or driver is None:
        raise BrowserMissing(f"{' and '.join(missing)} not found: {MISSING_HINT}")
    return Chromium(browser, driver)


def chromium_or_skip() -> Chromium:
    """`find_chromium()`, or the calling test skipped with the reason."""
    import pytest

    try:
        return find_chromium()
    except BrowserMissing as missing:
        pytest.skip(str(missing))


def _options(chromium: Chromium, profile: Path, window: tuple[int, int]) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = chromium.browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={window[0]},{window[1]}",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(argument)
    # The page's console (CSP violations among it), read back with driver.get_log("browser").
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


@contextmanager
def headless_chromium(
    chromium: Chromium | None = None, *, window: tuple[int, int] = WINDOW
) -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile in a temporary folder, quit (and the profile
    removed) when the block ends."""
    chromium = chromium or find_chromium()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download anything
    with tempfile.TemporaryDirectory(prefix="prtrace-chromium-") as profile:
        service = Service(executable_path=chromium.driver, log_output=os.devnull)
        driver = webdriver.Chrome(service=service, options=_options(chromium, Path(profile), window))
        try:
            driver.set_window_size(*window)
            yield driver
        finally:
            driver.quit()


def screenshot_folder(fallback: Path) -> Path:
    """Where the tests save their screenshots: PRTRACE_SCREENSHOTS when set (scripts/screenshots
    sets docs/screenshots), else `fallback` (a test's own temporary folder)."""
    named = os.environ.get("PRTRACE_SCREENSHOTS")
    folder = Path(named) if named else fallback
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def set_session(driver: WebDriver, base_url: str, token: str) -> None:
    """Log `driver` in to the viewer at `base_url` with `token`, as the login form's answer
    would: the HttpOnly `prtrace_session` cookie (which script cannot set), through DevTools."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCookie", {
        "name": "prtrace_session", "value": token, "url": f"{base_url}/ui", "path": "/ui",
        "httpOnly": True, "sameSite": "Strict",
    })
