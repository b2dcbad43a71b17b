"""CPU accounting of a server's process tree, checked against a process that burns known CPU."""

import subprocess
import sys
import time

from loadtest.measuring.processes import process_tree, tree_cpu_seconds
from loadtest.measuring.server_cpu import CgroupMeter, ProcessTreeMeter

# A "master" that forks a worker burning ~0.6 s of CPU, reaps it, then idles: like a server
# whose worker is restarted inside the measured window.
MASTER = """
import subprocess, sys, time
worker = "import time\\nend = time.process_time() + 0.6\\nwhile time.process_time() < end: pass"
time.sleep(0.3)
subprocess.run([sys.executable, "-c", worker], check=True)
time.sleep(5)
"""

SPINNER = "import time\nend = time.monotonic() + 5\nwhile time.monotonic() < end: pass"


def test_counts_a_child_that_exited_inside_the_window():
    master = subprocess.Popen([sys.executable, "-c", MASTER])
    try:
        time.sleep(0.15)  # interpreter started; the worker not yet
        before = tree_cpu_seconds(master.pid)
        deadline = time.monotonic() + 10
        seen_worker = False
        while not (seen_worker and len(process_tree(master.pid)) == 1):  # the worker came and went
            seen_worker |= len(process_tree(master.pid)) > 1
            assert time.monotonic() < deadline, "the worker never ran"
            time.sleep(0.05)
        used = tree_cpu_seconds(master.pid) - before
        assert 0.5 <= used <= 1.0
    finally:
        master.kill()
        master.wait()


def test_counts_live_children_through_the_meter():
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {SPINNER!r}])"]
    )
    try:
        meter = ProcessTreeMeter(parent.pid, "test")
        time.sleep(0.3)
        before = meter.cpu_seconds()
        time.sleep(0.7)
        used = meter.cpu_seconds() - before
        assert len(meter.pids()) == 2
        assert 0.3 <= used <= 1.0  # the spinning child, whichever CPU it got
    finally:
        parent.kill()
        parent.wait()


def test_cgroup_counters_in_both_formats(tmp_path):
    v2 = tmp_path / "cpu.stat"
    v2.write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    v1 = tmp_path / "cpuacct.usage"
    v1.write_text("1500000000\n")
    assert CgroupMeter(v2, 1, "v2").cpu_seconds() == 2.5
    assert CgroupMeter(v1, 1, "v1").cpu_seconds() == 1.5
