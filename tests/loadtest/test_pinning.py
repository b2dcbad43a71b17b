"""Pinning the server side and giving the CPUs back: a real process tree, and docker faked."""

import contextlib
import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from loadtest.measuring.processes import process_tree
from loadtest.running import pinning


def test_cpu_lists_round_trip():
    assert pinning.parse_cpus("0,2-3,7") == {0, 2, 3, 7}
    assert pinning.format_cpus({0, 2, 3, 7}) == "0,2-3,7"
    assert pinning.format_cpus({1}) == "1"
    assert pinning.format_cpus(set(range(8))) == "0-7"


def test_server_cpus_default_to_all_but_the_load_generators():
    assert pinning.choose_cpus("0", None, {0, 1, 2, 3}) == ({0}, {1, 2, 3})
    assert pinning.choose_cpus("0-1", "2", {0, 1, 2, 3}) == ({0, 1}, {2})
    with pytest.raises(ValueError, match="overlap"):
        pinning.choose_cpus("0", "0-1", {0, 1})
    with pytest.raises(ValueError, match="not available"):
        pinning.choose_cpus("0", "5", {0, 1})
    with pytest.raises(ValueError, match="need CPUs"):
        pinning.choose_cpus("0", None, {0})


# A master with a second thread and one worker; each line on stdin forks another worker.
MASTER = textwrap.dedent("""
    import subprocess, sys, threading, time
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    workers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])]
    print("ready", flush=True)
    for line in sys.stdin:
        workers.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        print("forked", flush=True)
""")


@pytest.fixture
def master():
    process = subprocess.Popen([sys.executable, "-c", MASTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "ready"
    yield process
    for pid in reversed(process_tree(process.pid)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    process.wait()


def every_thread(root: int) -> dict[int, set[int]]:
    return {tid: os.sched_getaffinity(tid) for pid in process_tree(root) for tid in pinning.task_ids(pid)}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_host_pinning_pins_every_thread_new_workers_inherit_and_restore_undoes_it(master):
    original = every_thread(master.pid)
    assert len(original) >= 3  # master, its thread, the worker
    target = {min(os.sched_getaffinity(0))}
    pins = pinning.HostPinning(master.pid, target)
    note = pins.apply()
    assert "pinned to CPUs" in note and not pins.failed
    assert all(cpus == target for cpus in every_thread(master.pid).values())

    master.stdin.write("fork\n")
    master.stdin.flush()
    assert master.stdout.readline().strip() == "forked"
    time.sleep(0.1)
    pinned = every_thread(master.pid)
    assert len(pinned) == len(original) + 1 and all(cpus == target for cpus in pinned.values())

    assert "restored" in pins.restore() and pins.restored
    restored = every_thread(master.pid)
    assert all(restored[tid] == cpus for tid, cpus in original.items())
    assert all(cpus == os.sched_getaffinity(master.pid) for cpus in restored.values())  # the new one too


def test_unpin_puts_a_left_pinned_tree_on_every_cpu(master):
    first = min(os.sched_getaffinity(0))
    pinning.HostPinning(master.pid, {first}).apply()
    assert pinning.unpin_host(master.pid) >= 3
    assert all(cpus == pinning.online_cpus() for cpus in every_thread(master.pid).values())


FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "{log}"
case "$*" in
  "ps -q --filter label=com.docker.compose.service=gunicorn") echo c-gunicorn ;;
  "inspect -f"*) echo stackproject ;;
  "ps -q --filter label=com.docker.compose.project=stackproject") printf 'c-gunicorn\\nc-nginx\\nc-db\\n' ;;
  "inspect c-db") echo '[{{"HostConfig": {{"CpusetCpus": "0"}}}}]' ;;
  "inspect "*) echo '[{{"HostConfig": {{"CpusetCpus": ""}}}}]' ;;
esac
"""


def test_container_pinning_updates_the_whole_project_and_restores_it(tmp_path, monkeypatch):
    log = tmp_path / "docker.log"
    docker = tmp_path / "docker"
    docker.write_text(FAKE_DOCKER.format(log=log))
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")

    pins = pinning.ContainerPinning("gunicorn", {1})
    note = pins.apply()
    assert "3 containers of Compose project stackproject" in note
    assert "update --cpuset-cpus 1 c-gunicorn c-nginx c-db" in log.read_text()
    log.write_text("")
    assert "3 containers" in pins.restore()
    updates = sorted(line for line in log.read_text().splitlines() if line.startswith("update"))
    everything = pinning.format_cpus(pinning.online_cpus())
    expected = [f"update --cpuset-cpus {everything} c-gunicorn c-nginx", "update --cpuset-cpus 0 c-db"]
    assert updates == sorted(expected)
