"""Headless Chromium (Debian's package) driven by Playwright, at a phone's width.

Set BEACON_SCREENSHOTS=docs/screenshots to keep a PNG of every page a test visits.
"""

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# page actions are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("BEACON_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 360, "height": 740}
# No background traffic: this machine's network reaches nothing but the test server.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: make test installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Every policy violation on every page is said on the console, where the test hears it.
REPORT_VIOLATIONS = (
    "document.addEventListener('securitypolicyviolation', function (e) {"
    " console.error('Content Security Policy refused ' + e.violatedDirective + ' '"
    " + (e.blockedURI || 'inline') + ' at ' + e.documentURI); });"
)


def phone_context(chromium):
    """Return a 360 px browser context and the list the Content-Security-Policy's refusals on
    any of its pages land in (a test asserts it stays empty)."""
    context = chromium.new_context(viewport=PHONE, locale="en-US")
    context.add_init_script(REPORT_VIOLATIONS)
    refused: list[str] = []
    context.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    # Generous: CI's machine may be busy, and a wait returns as soon as its condition holds.
    context.set_default_timeout(30_000)
    return context, refused


@pytest.fixture
def phone(chromium):
    """A fresh browser context the size of a 360 px phone, speaking English."""
    context, refused = phone_context(chromium)
    page = context.new_page()
    yield page
    context.close()
    # Anything the Content-Security-Policy blocked is a page that does not work as written.
    assert refused == [], refused


@pytest.fixture
def shoot():
    """Return a function that saves a full-page screenshot when BEACON_SCREENSHOTS is set."""
    target = os.environ.get("BEACON_SCREENSHOTS")

    def save(page, name: str) -> None:
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)

    return save


# A basic accessibility check run in the page: every visible control has a label, every touch
# target is at least 44 px tall (a checkbox counts through its label), and text on buttons and
# links contrasts with its background at least 4.5:1 (WCAG AA for normal text).
A11Y_SCRIPT = (Path(__file__).parent / "a11y.js").read_text()


def a11y_problems(page) -> list[str]:
    """Return what the basic accessibility check finds wrong on the current page."""
    return page.evaluate(A11Y_SCRIPT)
