"""The browser helper itself: what it records is what a broken page really does in Chromium."""

from tests.browser import PHONE


def test_a_broken_page_is_recorded_and_screenshotted(pages, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!DOCTYPE html><html><head>"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'self'\">"
        "</head><body><h1>broken</h1><script>inlineIsBlocked()</script>"
        "<img src=\"missing.png\" alt=\"\"></body></html>"
    )
    logged = pages.open(broken.as_uri(), "broken page", viewport=PHONE)
    logged.page.wait_for_function("document.images[0].complete")
    assert any("script-src" in violation and "inline" in violation for violation in logged.csp_violations)
    assert any("missing.png" in error for error in logged.console_errors)
    assert pages.problems()
    shot = pages.screenshot(logged)
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert logged.page.viewport_size == PHONE


def test_a_clean_page_has_no_problems(pages, tmp_path):
    clean = tmp_path / "clean.html"
    clean.write_text("<!DOCTYPE html><html><head><link rel=\"icon\" href=\"data:,\"></head>"
                     "<body><p>fine</p></body></html>")
    pages.open(clean.as_uri(), "clean page")
    pages.assert_clean()
