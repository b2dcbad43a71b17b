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
