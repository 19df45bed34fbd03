"""The dashboard, /docs and /flower/ in a real browser: Debian's headless Chromium, driven by
Selenium through Debian's chromedriver, against the private stack behind its Nginx."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.integration.client import Api
from tools.localstack.credentials import FLOWER_USER
from tools.localstack.stack import LocalStack

# Only bounds a broken run: each wait ends as soon as the page shows what it waits for.
PATIENCE = 60


def _system_binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(f"none of {names} is installed: run scripts/install.sh (apt packages)")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = _system_binary("chromium", "chromium-browser")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(_system_binary("chromedriver")), options=options)
    driver.set_page_load_timeout(PATIENCE)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: WebDriver) -> WebDriverWait:
    return WebDriverWait(driver, PATIENCE)


def _log_in(driver: WebDriver, base: str, key: str) -> None:
    driver.delete_all_cookies()
    driver.get(base + "/dashboard/jobs")
    # No session yet: the login form, which brings the browser back afterwards.
    _wait(driver).until(ready.presence_of_element_located((By.ID, "api_key")))
    assert "/dashboard/login" in driver.current_url
    driver.find_element(By.ID, "api_key").send_keys(key)
    driver.find_element(By.ID, "login").click()
    _wait(driver).until(ready.presence_of_element_located((By.ID, "filters")))
    assert driver.current_url.endswith("/dashboard/jobs")


def _basic_auth(driver: WebDriver, user: str, password: str) -> None:
    """Send Basic credentials on every request, as a browser does once its login prompt is
    answered (headless Chromium has no prompt to answer)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )


def _no_basic_auth(driver: WebDriver) -> None:
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})


def _row(driver: WebDriver, job_id: str) -> list:
    return driver.find_elements(By.CSS_SELECTOR, f'tr[data-job="{job_id}"]')


def test_dashboard_pages_load_after_login(browser: WebDriver, stack: LocalStack) -> None:
    base = stack.config.base_url
    _log_in(browser, base, stack.api_key())
    browser.get(base + "/dashboard")
    queues = _wait(browser).until(ready.presence_of_element_located((By.ID, "queues")))
    assert queues.find_elements(By.CSS_SELECTOR, 'tr[data-queue="jobs"]')
    states = browser.find_element(By.ID, "states").text
    assert "succeeded" in states and "failed" in states
    for path, element in [
        ("/dashboard/jobs", "jobs"),
        ("/dashboard/dead-letters", "jobs"),
        ("/dashboard/schedules", "schedules"),
        ("/dashboard/tickets", "agents"),
    ]:
        browser.get(base + path)
        _wait(browser).until(ready.presence_of_element_located((By.ID, element)))
        assert not browser.find_elements(By.ID, "error"), (path, browser.page_source)
    # The stylesheet loads under the dashboard's Content-Security-Policy.
    header = browser.find_element(By.TAG_NAME, "header")
    assert header.value_of_css_property("display") == "flex"


def test_a_filter_shows_only_the_jobs_it_names(
    browser: WebDriver, stack: LocalStack, api: Api
) -> None:
    base = stack.config.base_url
    failed = api.submit("sleep", {"seconds": 0, "fail_times": 9}, max_attempts=1)
    succeeded = api.submit("echo", {"value": 1})
    api.wait_status(failed["id"], "failed")
    api.wait_status(succeeded["id"], "succeeded")
    _log_in(browser, base, stack.api_key())
    Select(browser.find_element(By.ID, "state")).select_by_value("failed")
    browser.find_element(By.ID, "filter").click()
    _wait(browser).until(ready.url_contains("state=failed"))
    assert _row(browser, failed["id"]) and not _row(browser, succeeded["id"])
    assert {c.text for c in browser.find_elements(By.CSS_SELECTOR, "td.status")} == {"failed"}
    browser.find_element(By.ID, "type").send_keys("echo")
    Select(browser.find_element(By.ID, "state")).select_by_value("")
    browser.find_element(By.ID, "filter").click()
    _wait(browser).until(ready.url_contains("type=echo"))
    assert _row(browser, succeeded["id"]) and not _row(browser, failed["id"])


def _click_on_a_dead_job(
    browser: WebDriver,
    stack: LocalStack,
    api: Api,
    key: str,
    fail_times: int,
    button: str = "retry",
) -> dict[str, Any]:
    """A job failed for good (its first `fail_times` attempts fail), and its `button` on the
    dead-letter page clicked by a browser logged in with `key`."""
    base = stack.config.base_url
    job = api.submit("sleep", {"seconds": 0, "fail_times": fail_times}, max_attempts=1)
    api.wait_status(job["id"], "failed")
    _log_in(browser, base, key)
    browser.get(base + "/dashboard/dead-letters")
    row = _wait(browser).until(
        ready.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-job="{job["id"]}"]'))
    )
    row.find_element(By.CSS_SELECTOR, f"button.{button}").click()
    return job


def test_the_retry_button_retries_a_dead_job(
    browser: WebDriver, stack: LocalStack, api: Api
) -> None:
    job = _click_on_a_dead_job(browser, stack, api, stack.api_key(), fail_times=1)
    flash = _wait(browser).until(ready.presence_of_element_located((By.CSS_SELECTOR, ".flash")))
    assert f"job {job['id']} retried" in flash.text
    # Through the API: the job ran again (fail_times counts attempts, which start over, so its
    # second run fails the same way and leaves a second error).
    again = api.wait_job(job["id"], lambda j: j["status"] == "failed" and len(j["errors"]) == 2)
    assert again["attempts"] == 1


def test_the_cancel_button_dismisses_a_dead_job(
    browser: WebDriver, stack: LocalStack, api: Api
) -> None:
    job = _click_on_a_dead_job(browser, stack, api, stack.api_key(), 9, button="cancel")
    flash = _wait(browser).until(ready.presence_of_element_located((By.CSS_SELECTOR, ".flash")))
    assert f"job {job['id']}" in flash.text
    assert api.job(job["id"])["status"] == "cancelled"
    browser.get(stack.config.base_url + "/dashboard/dead-letters")
    assert not _row(browser, job["id"])


def test_a_read_only_key_sees_pages_but_its_buttons_are_refused(
    browser: WebDriver, stack: LocalStack, api: Api
) -> None:
    reader = api.with_new_key("jobs:read")
    assert reader.key is not None
    job = _click_on_a_dead_job(browser, stack, api, reader.key, fail_times=9)
    error = _wait(browser).until(ready.presence_of_element_located((By.ID, "error")))
    assert "jobs:write" in error.text
    assert api.job(job["id"])["status"] == "failed"


def test_docs_render_every_operation(browser: WebDriver, stack: LocalStack) -> None:
    base = stack.config.base_url
    _basic_auth(browser, "docs", stack.api_key())
    try:
        browser.get(base + "/docs")
        _wait(browser).until(
            ready.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path"))
        )
        paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        spec = Api(base, stack.api_key()).get("/openapi.json").json
        assert {p.replace("\u200b", "") for p in paths} >= set(spec["paths"])
        assert "Unable to render" not in browser.page_source
    finally:
        _no_basic_auth(browser)


def test_flower_loads_behind_its_login(browser: WebDriver, stack: LocalStack) -> None:
    base = stack.config.base_url
    # No login: refused with a Basic challenge (which headless Chromium leaves unanswered).
    assert Api(base).get("/flower/").status == 401
    browser.get(base + "/flower/")
    assert "Flower" not in browser.title and "celery@" not in browser.page_source
    _basic_auth(browser, FLOWER_USER, stack.api_key())
    try:
        browser.get(base + "/flower/")
        _wait(browser).until(ready.title_contains("Flower"))
        assert "celery@" in browser.page_source or "Workers" in browser.page_source
    finally:
        _no_basic_auth(browser)
