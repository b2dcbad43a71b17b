"""`make bench` measures the stack that runs, or refuses with the command that starts one."""

import os
import subprocess
import sys

from tests.docs.facts import ROOT


def run(command: list[str], run_dir=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOCAL_RUN_DIR": str(run_dir)} if run_dir else None
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def test_make_bench_with_no_stack_refuses_and_names_the_commands(tmp_path):
    """An empty run folder: no host run; and this checkout's Compose stack is not up."""
    done = run(["make", "--no-print-directory", "bench"], tmp_path)
    assert done.returncode != 0
    assert "no stack answers" in done.stderr, done.stderr
    assert "`make local-up`" in done.stderr and "`make up`" in done.stderr
    assert "installing" not in done.stdout  # it asked before installing anything


def test_a_target_that_is_not_running_is_refused_with_its_command(tmp_path):
    done = run([sys.executable, "-m", "loadtest.where", "host"], tmp_path)
    assert done.returncode == 2 and "`make local-up`" in done.stderr
    assert run([sys.executable, "-m", "loadtest.where", "elsewhere"]).returncode == 2


def test_with_the_host_run_up_it_picks_host(stack):
    assert stack.name == "host", "the bench's tests run against the host run"
    done = run([sys.executable, "-m", "loadtest.where"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "host"
