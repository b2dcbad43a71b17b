"""A real browser for the tests: Debian's Chromium, headless, driven by Playwright.

Playwright's own browser download needs a CDN this project cannot reach, so the browser is the
system's `chromium` (apt package, in the Makefile's list) and Playwright drives it through
`executable_path`. One Chromium serves a test module; every page gets its own context (no
shared cookies or storage) and records what a person would never see but a page must not do:
console errors, uncaught exceptions and Content-Security-Policy violations. Each page's screenshot
goes under the test output folder, so a run leaves pictures of what it saw.

    def test_something(pages):
        page = pages.open("http://127.0.0.1:8080/", "production")
        ...
        pages.assert_clean()
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from stack.servers import ROOT
from tests import commands

# Screenshots and other artifacts of the tests, one folder per stack and test (git-ignored).
OUTPUT = Path(os.environ.get("TEST_OUTPUT", ROOT / "test-output"))

# Nothing but the pages under test: no sandbox (tests run as root, where Chromium's sandbox
# refuses to start), no GPU (headless, none here), and none of the background traffic (updates,
# sync, field trials, QUIC probes) a fresh profile starts, which has no network to reach here.
# Playwright gives every launch a fresh temporary profile (--user-data-dir) and removes it after.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 800}


@dataclass
class LoggedPage:
    """A page and what it logged that a clean page never does."""

    name: str
    page: Page
    context: BrowserContext
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    # Every WebSocket the page opened, in order (URLs).
    websockets: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    @property
    def problems(self) -> list[str]:
        return ([f"console error: {text}" for text in self.console_errors]
                + [f"uncaught exception: {text}" for text in self.page_errors]
                + [f"CSP violation: {text}" for text in self.csp_violations])


# Runs before any script of every document, in the page's own world: the violation events are
# the browser's record of what the CSP blocked (the console message alone can be worded anyhow).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCspViolation(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || event.documentURI}:${event.lineNumber}`);
});
"""


class Pages:
    """Pages of one test: opened, logged, screenshotted into `folder`, closed at the end."""

    def __init__(self, browser: Browser, folder: Path):
        self.browser = browser
        self.folder = folder
        self.opened: list[LoggedPage] = []

    def open(self, url: str, name: str, viewport: dict[str, int] = DESKTOP,
             ignore_https_errors: bool = False) -> LoggedPage:
        """A new page in its own context, `url` loaded. `name` names its screenshot."""
        context = self.browser.new_context(viewport=viewport, ignore_https_errors=ignore_https_errors)
        violations: list[str] = []
        context.expose_binding("__reportCspViolation", lambda _source, text: violations.append(text))
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        logged = LoggedPage(name=name, page=context.new_page(), context=context, csp_violations=violations)
        logged.page.on("console", logged.on_console)
        logged.page.on("pageerror", lambda error: logged.page_errors.append(str(error)))
        logged.page.on("websocket", lambda socket: logged.websockets.append(socket.url))
        self.opened.append(logged)
        logged.page.goto(url, wait_until="load")
        return logged

    def screenshot(self, logged: LoggedPage, suffix: str = "") -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{safe_name(logged.name + suffix)}.png"
        logged.page.screenshot(path=path, full_page=True)
        return path

    def problems(self) -> list[str]:
        return [f"{logged.name}: {problem}" for logged in self.opened for problem in logged.problems]

    def assert_clean(self) -> None:
        problems = self.problems()
        assert not problems, "the browser logged:\n" + "\n".join(problems)

    def close(self) -> None:
        for logged in self.opened:
            if not logged.page.is_closed():
                self.screenshot(logged)
            logged.context.close()


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "page"


# Module scope, not session: while Playwright's sync API is started, its event loop counts as
# running in this thread, and every asyncio test (pytest-asyncio) after it would fail with
# "Runner.run() cannot be called from a running event loop".
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the tests of a module."""
    executable = commands.required("chromium", "chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def pages(browser, request) -> Iterator[Pages]:
    """Pages for this test; screenshots in test-output/<stack>/<test>/ (also on failure)."""
    stack = "containers" if os.environ.get("STACK") == "containers" else "host"
    opened = Pages(browser, OUTPUT / stack / safe_name(request.node.name))
    yield opened
    opened.close()
