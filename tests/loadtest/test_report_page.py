"""report.html as a reader opens it: Chromium, from disk, at a desktop's and a phone's width."""

import json
import shutil
import statistics
from pathlib import Path

import pytest

from loadtest.reporting import report
from tests.browser import DESKTOP, PHONE

RECORDED = Path(__file__).with_name("recorded")


def write_report(directory: Path, run: str) -> Path:
    for name in ("results.json", "samples.json"):
        shutil.copy(RECORDED / run / name, directory / name)
    report.write(directory)
    return directory


@pytest.fixture(scope="module")
def recorded_report(tmp_path_factory):
    """`make bench` as it comes: all eight servers (uvicorn-stock too), one run a cell."""
    return write_report(tmp_path_factory.mktemp("report"), "quick-all")


@pytest.fixture(scope="module")
def repeated_report(tmp_path_factory):
    """Three servers, two runs a cell, one of them load generator bound."""
    return write_report(tmp_path_factory.mktemp("report"), "quick-wc2")


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
    cells = json.loads((recorded_report / "results.json").read_text())["cells"]
    invalid = {f"{cell['scenario']} @ {cell['server']}" for cell in cells if not cell["valid"]}
    named = page.locator("#trust li", has_text="Not results").inner_text()
    assert invalid and all(f"{cell} (" in named for cell in invalid)
    groups = page.locator("#findings li", has_text="Tuned vs stock Django")  # uvicorn-stock ran
    assert groups.count() == 1

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


def test_an_invalid_cell_is_named_and_hatched(pages, repeated_report):
    page = pages.open((repeated_report / "report.html").as_uri(), "report with an invalid cell").page
    pages.assert_clean()
    invalid = page.locator("#trust li", has_text="Not results").inner_text()
    assert "plaintext @ granian-wsgi (load generator bound)" in invalid  # its first run was
    assert page.locator("#s-plaintext tr.invalid th", has_text="granian-wsgi").count() == 1
    sync = page.locator("#findings li", has_text="Sync work").inner_text()
    best = best_by_efficiency(repeated_report, "plaintext")
    assert f"{best} best in plaintext" in sync  # not the invalid cell's server, whose figure is higher
