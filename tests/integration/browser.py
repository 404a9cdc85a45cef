"""
Open a local HTML file in Debian's headless Chromium through Selenium and its chromedriver (never
a downloaded driver): the browser's console messages, a screenshot, and what the DOM lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return "no Debian chromium and chromium-driver (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@dataclass(frozen=True)
class Page:
    severe: list[str]
    """The console messages at level SEVERE (errors)."""
    lanes: list[str]
    host_rows: list[str]
    verify_hosts: list[str]
    step_rows: list[str]
    bars: list[str]
    audit_head: str


def open_page(path: Path, screenshot: Path) -> Page:
    """Load ``path`` (``file://``), save a screenshot of the first 1400x2400 pixels, read the DOM."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,2400"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(path.resolve().as_uri())
        logs = driver.get_log("browser")
        assert driver.save_screenshot(str(screenshot))

        def attribute(selector: str, name: str) -> list[str]:
            return [str(e.get_attribute(name)) for e in driver.find_elements(By.CSS_SELECTOR, selector)]

        return Page(
            severe=[f"{entry['level']}: {entry['message']}" for entry in logs if entry["level"] == "SEVERE"],
            lanes=attribute("[data-lane]", "data-lane"),
            host_rows=attribute("#hosts tr[data-host]", "data-host"),
            verify_hosts=attribute("th[data-verify-host]", "data-verify-host"),
            step_rows=attribute("#steps tr[data-step]", "data-step"),
            bars=attribute("#timeline [data-bar]", "data-bar"),
            audit_head=driver.find_element(By.ID, "audit-head").text.strip(),
        )
    finally:
        driver.quit()
