"""The page in a real browser (headless Chromium, tests/browser.py), on every port of the stack.

What a person meets: the chat across every ASGI server, the explanation on a WSGI port, what a
lost connection says, a phone's width; and what they never should: console errors, CSP
violations. Each page's screenshot is kept under test-output/.
"""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser import DESKTOP, PHONE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stack")]

# Seconds for what the page does over the network (a connect, a message across servers).
WAIT_MS = 10_000
# The page's first reconnect comes after 0.5 s: a page quiet for longer never started one.
RETRY_WINDOW_MS = 2_000


def chat_page(pages, port: int, room: str, viewport=DESKTOP):
    logged = pages.open(f"http://127.0.0.1:{port}/?room={room}", f"{port}-{room.split('-')[0]}", viewport)
    expect(logged.page.locator("#status")).to_contain_text("connected to room", timeout=WAIT_MS)
    return logged


def send(logged, text: str) -> None:
    logged.page.fill("#message", text)
    logged.page.click("#send button")


def test_a_message_typed_on_any_chat_port_reaches_every_other_naming_its_server(pages, topology):
    room = f"browser-{uuid.uuid4().hex[:12]}"
    members = {port: (name, chat_page(pages, port, room)) for port, name in topology.websocket_ports()}
    for port, (name, sender) in members.items():
        text = f"hello from port {port} {uuid.uuid4().hex[:6]}"
        send(sender, text)
        for other_port, (_, member) in members.items():
            expect(member.page.locator("#messages li", has_text=text),
                   f"port {other_port} never showed the message sent on {port}").to_have_text(
                re.compile(rf"{re.escape(text)} \(via {re.escape(name)}, \d+ ms\)"), timeout=WAIT_MS)
    pages.assert_clean()


def test_a_wsgi_port_explains_itself_and_never_tries_a_websocket(pages, topology):
    wsgi = [server for server in topology.servers if not server.websocket]
    assert wsgi, "servers.toml has no WSGI server to check"
    for server in wsgi:
        logged = pages.open(f"http://127.0.0.1:{server.port}/", f"{server.port}-{server.name}")
        notice = logged.page.locator("#no-websocket")
        expect(notice).to_contain_text(f"{server.name} speaks WSGI")
        expect(notice).to_contain_text("cannot hold a WebSocket")
        production = notice.locator(f'a[href$=":{topology.production.port}/"]')
        expect(production).to_be_visible()
        for port, _ in topology.websocket_ports()[1:]:
            expect(notice.locator(f'a[href$=":{port}/"]')).to_have_count(1)
        logged.page.wait_for_timeout(RETRY_WINDOW_MS)
        assert logged.websockets == [], f"{server.name}: the page opened {logged.websockets}"
        assert logged.page.locator("#status, #send").count() == 0
    pages.assert_clean()


def test_a_closed_chat_says_why_and_reconnects(pages, topology):
    """Over the rate limit the server closes with 1008 (4008 on Daphne): the page names the reason."""
    for port, name in topology.websocket_ports():
        logged = chat_page(pages, port, f"flood-{uuid.uuid4().hex[:12]}")
        # Faster than any person types: the burst allowance runs out within one task.
        logged.page.evaluate("""() => {
            const input = document.getElementById("message");
            const form = document.getElementById("send");
            for (let i = 0; i < 400; i++) { input.value = `flood ${i}`; form.requestSubmit(); }
        }""")
        closed = logged.page.locator("#messages li.error").first
        expect(closed, f"{name}: no close shown").to_contain_text("a rule was broken", timeout=WAIT_MS)
        # The page's own words carry the meaning: Daphne drops the close reason the app gives
        # (https://github.com/django/daphne/issues/374), the other servers pass it on.
        code = 4008 if "close-codes-4xxx" in topology[name].quirks else 1008
        expect(closed).to_contain_text(re.compile(rf"\({code}(: over .* messages a second)?\)$"))
        expect(logged.page.locator("#status")).to_contain_text("connected to room", timeout=WAIT_MS)
        pages.screenshot(logged, "-after-reconnect")
    pages.assert_clean()


def test_the_page_is_usable_at_a_phone_width(pages, topology):
    room = f"phone-{uuid.uuid4().hex[:12]}"
    wsgi_port = next(server.port for server in topology.servers if not server.websocket)
    explained = pages.open(f"http://127.0.0.1:{wsgi_port}/", f"phone-{wsgi_port}", viewport=PHONE)
    logged = chat_page(pages, topology.production.port, room, viewport=PHONE)
    for page in (logged.page, explained.page):
        overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"{page.url}: {overflow} px wider than a phone"
    for control in ("#message", "#send button"):
        box = logged.page.locator(control).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (control, box)
        assert box["height"] >= 24, f"{control} too small to tap: {box}"
    send(logged, "from a phone")
    expect(logged.page.locator("#messages li", has_text="from a phone")).to_be_visible(timeout=WAIT_MS)
    pages.assert_clean()
