"""report.html as a reader opens it: Chromium, from disk, at a desktop's and a phone's width."""

import json
import shutil
import statistics

import pytest

from loadtest.reporting import report
from tests.browser import DESKTOP, PHONE

RECORDED = "quick-wc2"  # a real quick run: three servers, two runs a cell, one invalid cell


@pytest.fixture(scope="module")
def recorded_report(tmp_path_factory):
    from tests.loadtest.test_compare import RECORDED as FOLDER

    directory = tmp_path_factory.mktemp("report")
    for name in ("results.json", "samples.json"):
        shutil.copy(FOLDER / RECORDED / name, directory / name)
    report.write(directory)
    return directory


def best_by_efficiency(directory, scenario: str) -> str:
    """From the recorded cells alone: the server whose every run is valid with the highest median
    requests per server CPU second."""
    runs: dict[str, list[dict]] = {}
    for cell in json.loads((directory / "results.json").read_text())["cells"]:
        if cell["scenario"] == scenario:
            runs.setdefault(cell["server"], []).append(cell)
    valid = {server: cells for server, cells in runs.items() if all(c["valid"] for c in cells)}
    return max(valid, key=lambda server: statistics.median(c["req_per_server_cpu_s"] for c in valid[server]))


def test_the_report_opens_clean_with_the_finding_and_the_heat_map_first(pages, recorded_report):
    logged = pages.open((recorded_report / "report.html").as_uri(), "report desktop", viewport=DESKTOP)
    page = logged.page
    pages.folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=pages.folder / "report-first-screen.png")
    pages.assert_clean()  # no console errors, uncaught exceptions or CSP violations

    charts = page.evaluate("""Array.from(document.querySelectorAll('svg')).map(svg => {
        const box = svg.getBoundingClientRect(); return box.width > 100 && box.height > 50; })""")
    assert len(charts) >= 8 and all(charts)  # heat map + a chart per scenario, each drawn
    broken = "Array.from(document.images).filter(i => !i.complete || !i.naturalWidth).length"
    assert page.evaluate(broken) == 0

    sync = page.locator("#findings li", has_text="Sync work").inner_text()
    best = best_by_efficiency(recorded_report, "plaintext")
    ranked_first = sync.split("): ")[1].startswith(best)
    assert f"{best} best in plaintext" in sync or (ranked_first and "best in" in sync)
    invalid = page.locator("#trust li", has_text="Not results").inner_text()
    assert "plaintext @ granian-wsgi (load generator bound)" in invalid  # run 1 of that cell was

    # Above the fold: the findings and the whole heat map.
    heat = page.locator("#heatmap svg").bounding_box()
    assert heat["y"] + heat["height"] <= DESKTOP["height"], heat
    assert page.locator("details").evaluate("d => d.open") is False  # the run's details start folded


def test_the_report_reads_at_a_phones_width(pages, recorded_report):
    logged = pages.open((recorded_report / "report.html").as_uri(), "report phone", viewport=PHONE)
    page = logged.page
    pages.assert_clean()
    # Nothing makes the page itself scroll sideways: wide tables and the heat map scroll in their box.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    size = page.locator("#findings li").first.evaluate("li => parseFloat(getComputedStyle(li).fontSize)")
    assert size >= 14
    heat = page.locator("#heatmap svg").bounding_box()
    assert heat["width"] >= 500  # legible: scrolls in its box rather than shrinking to the phone's width
