"""The container stack's phase timings, at the end of `make test-containers`."""

from tests.stacks import ComposeRun


def pytest_terminal_summary(terminalreporter):
    if not ComposeRun.timings:
        return
    terminalreporter.write_sep("-", "container stack: up() phases")
    for phase, seconds in ComposeRun.timings.items():
        terminalreporter.write_line(f"  {phase:<12} {seconds:7.1f} s")
