"""CPU accounting of a server's process tree, checked against processes that burn known CPU.

The processes burn a fixed amount of CPU time (time.process_time), not of wall time, and say
on stdout when they are ready and when they are done: on a busy machine a burn takes longer but
costs the same, so what is counted does not depend on how much CPU the test got.
"""

import contextlib
import select
import subprocess
import sys

from loadtest.measuring.processes import process_tree, tree_cpu_seconds
from loadtest.measuring.server_cpu import CgroupMeter, ProcessTreeMeter

BURN = "end = time.process_time() + {seconds}\nwhile time.process_time() < end: pass"

# A "master" that forks a worker burning 0.6 s of CPU and reaps it: like a server whose worker
# is restarted inside the measured window. Then it idles until its stdin closes.
MASTER = f"""
import subprocess, sys
worker = "import time\\n" + {BURN.format(seconds=0.6)!r}
print("ready", flush=True)
sys.stdin.readline()
subprocess.run([sys.executable, "-c", worker], check=True)
print("reaped", flush=True)
sys.stdin.readline()
"""

# A parent whose child (sharing its stdin and stdout) burns 0.5 s of CPU when told, then idles.
CHILD = f"""
import sys, time
print("ready", flush=True)
sys.stdin.readline()
{BURN.format(seconds=0.5)}
print("burnt", flush=True)
sys.stdin.readline()
"""
PARENT = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {CHILD!r}])"


@contextlib.contextmanager
def spawned(script: str):
    """A Python process running `script`, with pipes to talk to it; closing its stdin ends it."""
    process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, bufsize=0)
    try:
        yield process
    finally:
        process.stdin.close()  # each script's last readline returns: the whole tree exits
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def said(process: subprocess.Popen, timeout: float = 60) -> str:
    """The next line the process tree printed, waited for at most `timeout` seconds."""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"pid {process.pid} said nothing within {timeout} s"
    return process.stdout.readline().decode().strip()


def tell(process: subprocess.Popen) -> None:
    process.stdin.write(b"go\n")


def test_counts_a_child_that_exited_inside_the_window():
    with spawned(MASTER) as master:
        assert said(master) == "ready"  # the master's own start-up is behind us
        before = tree_cpu_seconds(master.pid)
        tell(master)
        assert said(master) == "reaped"
        assert process_tree(master.pid) == [master.pid]  # the worker came and went
        used = tree_cpu_seconds(master.pid) - before
    assert 0.55 <= used <= 1.0, used  # the worker's 0.6 s, its start-up and the fork


def test_counts_live_children_through_the_meter():
    with spawned(PARENT) as parent:
        meter = ProcessTreeMeter(parent.pid, "test")
        assert said(parent) == "ready"  # the child runs
        assert len(meter.pids()) == 2
        before = meter.cpu_seconds()
        tell(parent)
        assert said(parent) == "burnt"
        used = meter.cpu_seconds() - before
        assert len(meter.pids()) == 2  # counted live, not as a reaped child
    assert 0.45 <= used <= 0.8, used  # the child's 0.5 s, to the kernel's accounting


def test_cgroup_counters_in_both_formats(tmp_path):
    v2 = tmp_path / "cpu.stat"
    v2.write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    v1 = tmp_path / "cpuacct.usage"
    v1.write_text("1500000000\n")
    assert CgroupMeter(v2, 1, "v2").cpu_seconds() == 2.5
    assert CgroupMeter(v1, 1, "v1").cpu_seconds() == 1.5
