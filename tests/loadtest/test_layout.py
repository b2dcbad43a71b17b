"""What the layout promises (loadtest/README.md, "Layout"): which parts import what."""

import subprocess
import sys

from stack.servers import ROOT

PURE = ("scenarios", "measuring", "reporting", "reference")


def imported_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                          cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    return set(done.stdout.split())


def test_the_pure_parts_import_no_locust_and_no_gevent():
    packages = [path for name in PURE for path in (ROOT / "loadtest" / name).glob("*.py")]
    modules = [f"loadtest.{p.parent.name}.{p.stem}" for p in packages if p.stem != "__init__"]
    loaded = imported_after("\n".join(f"import {module}" for module in modules))
    assert len(modules) > 20
    assert not {"locust", "gevent"} & loaded


def test_the_bench_imports_matplotlib_only_to_draw_the_report():
    loaded = imported_after("import loadtest.bench")
    assert "locust" in loaded and "matplotlib" not in loaded


def test_measuring_and_running_take_the_host_run_folder_from_their_caller():
    # They are given the host run's folder (the bench's, a test's own), never look it up themselves.
    packages = [path for name in ("measuring", "running") for path in (ROOT / "loadtest" / name).glob("*.py")]
    modules = [f"loadtest.{p.parent.name}.{p.stem}" for p in packages if p.stem != "__init__"]
    assert "stack.local" not in imported_after("\n".join(f"import {module}" for module in modules))
