"""`make docs` leaves the committed tree as it is: every generated region, and the reference
run's report and charts, match what their sources render."""

import subprocess
import sys

from tests.docs.facts import ROOT


def test_make_docs_would_change_nothing():
    done = subprocess.run([sys.executable, "-m", "loadtest.reporting.docs", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"run `make docs`, commit:\n{done.stdout}{done.stderr}"


def test_every_generated_region_is_filled():
    from loadtest.reporting.docs import DOCS, REGION
    empty = [f"{doc.relative_to(ROOT)}: {m.group(2)}" for doc in DOCS
             for m in REGION.finditer(doc.read_text()) if not m.group(3).strip()]
    assert not empty, f"regions with nothing in them: {empty}"


def test_full_regions_render_from_the_full_profile_run_beside_the_reference_run(tmp_path):
    """`full-...` regions come from <run>/full/, the others from <run>/ itself; without a full run
    they say how to make one instead of failing or keeping stale figures."""
    import json
    import shutil

    from loadtest.reporting.docs import FULL, Sources, render

    recorded = ROOT / "tests" / "loadtest" / "recorded" / "quick-all" / "results.json"
    shutil.copy(recorded, tmp_path / "results.json")
    text = "<!-- generated: run -->\n<!-- /generated -->\n<!-- generated: full-run -->\n<!-- /generated -->\n"
    doc = tmp_path / "page.md"
    assert "No full-profile run is committed" in render(text, Sources(tmp_path), doc)

    full = json.loads(recorded.read_text())
    full["meta"] |= {"profile": "full", "started": "2030-01-02T03:04:05+00:00", "commit": "abc123"}
    (tmp_path / FULL).mkdir()
    (tmp_path / FULL / "results.json").write_text(json.dumps(full))
    quick_line, full_line = render(text, Sources(tmp_path), doc).split("<!-- generated: full-run -->")
    assert "PROFILE=quick" in quick_line and "2030-01-02" not in quick_line
    assert "2030-01-02 03:04 UTC" in full_line and "abc123" in full_line
    assert f"PROFILE=full SCENARIOS={','.join(full['meta']['scenarios'])} RUNS=" in full_line
    assert f"]({FULL}/report.html)" in full_line
