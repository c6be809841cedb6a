"""Does the course report of a graded class hold every section, and does a real browser show it whole?

Headless Chromium (Debian's chromium and chromium-driver, system-packages.txt) loads the page from disk;
the test reads the page as a person would see it, checks the browser logged no error and fetched
nothing, and keeps a screenshot in reports/ (the README's picture is a copy of it).
"""

import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from course.tools.cli import main
from course.tools.report import SECTIONS
from support import REPO

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1000"]
SCREENSHOT = REPO / "reports" / "course-report.png"


@pytest.fixture(scope="module")
def browser(graded_class):
    """The report of the graded class, open in headless Chromium."""
    if not shutil.which(CHROMIUM) or not shutil.which(CHROMEDRIVER):
        pytest.fail("Chromium is missing: run scripts/install-system-packages (Debian chromium, chromium-driver)")
    assert main(["--root", str(graded_class.root), "report"]) == 0
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in HEADLESS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get((graded_class.root / "reports" / "course-report.html").as_uri())
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


LATE_COLUMNS = ("student", "lms", "submitted", "marker", "extension", "days late", "penalty", "notes")


def table_cells(browser, selector: str) -> list[list[str]]:
    """The text of every body cell of the table(s) at ``selector``, row by row."""
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")]
            for row in browser.find_elements(By.CSS_SELECTOR, f"{selector} tbody tr")]


def section(browser, key: str) -> str:
    return browser.find_element(By.ID, key).text


def test_does_the_report_hold_every_section(browser):
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section > h2")]
    assert headings == list(SECTIONS.values())
    assert "4 submissions" in browser.find_element(By.ID, "summary").text


def test_are_the_plots_inline_and_drawn(browser):
    images = browser.find_elements(By.TAG_NAME, "img")
    assert all(i.get_attribute("src").startswith("data:image/png;base64,") for i in images)
    drawn = browser.execute_script("return [...document.images].map(i => i.complete && i.naturalWidth > 0)")
    assert drawn and all(drawn)
    per_section = {key: len(browser.find_elements(By.CSS_SELECTOR, f"#{key} img")) for key in SECTIONS}
    assert per_section["distributions"] == 4  # three notebooks and the total
    assert per_section["parts"] == 3 and per_section["operations"] == 1


def test_does_the_page_load_without_errors_or_fetching_anything(browser):
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
    assert browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name)") == []


def test_does_it_show_parts_failed_checks_and_item_analysis(browser):
    parts = section(browser, "parts")
    assert "conv2d_forward" in parts and "nearly everyone fails" in parts
    failed = browser.find_elements(By.CSS_SELECTOR, "#parts ul.checks li")
    assert any("hw2_cnn.conv2d_forward" in li.text for li in failed)
    assert any(li.text.startswith("3 ×") for li in failed)  # a check that three of the four students failed
    assert "item-rest r" in section(browser, "item-analysis")


def test_does_it_show_operations_and_manual_grading_progress(browser):
    text = section(browser, "operations")
    for heading in ("Grading time", "Kernel restarts", "Grader errors", "Unreadable files", "Manual grading"):
        assert heading in text
    progress = {cells[0]: cells for cells in table_cells(browser, "#operations table:last-of-type")}
    assert progress["hw2_cnn"][1:4] == ["1", "2", "2"]  # a TA graded ann's essay; ann's and ben's answers wait


def test_does_it_show_late_work_and_similar_pairs(browser):
    late = {cells[0]: dict(zip(LATE_COLUMNS, cells)) for cells in table_cells(browser, "#late-work")}
    assert late["ben"]["marker"] == "late" and float(late["ben"]["penalty"]) > 0 and "upper bound" in late["ben"]["notes"]
    assert late["ann"]["marker"] == "on time" and late["ann"]["submitted"] == "—" and late["ann"]["penalty"] == "0"
    assert late["cat"]["extension"] == "3" and late["cat"]["days late"] == "0" and late["cat"]["penalty"] == "0"
    summary = browser.find_element(By.CSS_SELECTOR, "#similarity details summary").text
    assert "ann and ben" in summary
    browser.execute_script("document.querySelector('#similarity details').open = true")
    assert browser.find_elements(By.CSS_SELECTOR, "#similarity details .side mark.copied")


def test_is_a_screenshot_kept_for_the_readme(browser):
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(height, 4000))
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT)) and SCREENSHOT.stat().st_size > 10_000
