"""The compiled capacity client (its own process) against the reference broadcast server."""

import json
import os
import resource
import socket
import subprocess
import sys
from dataclasses import replace

import pytest

from loadtest.drivers import capacity
from loadtest.running import ceiling
from loadtest.scenarios.profiles import QUICK
from stack.servers import ROOT

SMALL = replace(QUICK, capacity_step=20, capacity_max_clients=60, capacity_broadcasts=3,
                capacity_deadline_s=30)


def test_the_ceiling_ramp_reaches_the_maximum_against_the_reference_server(tmp_path):
    seen = []
    # A threshold no demand reaches: on a busy machine the client may well wait for a CPU.
    result = ceiling.measure(SMALL, 10.0, os.sched_getaffinity(0), tmp_path / "wsload.log", seen.append)
    assert [step.clients for step in seen] == [20, 40, 60]
    assert all(step.lost == 0 and step.handshake_failures == 0 and step.broadcasts == 3 for step in seen)
    assert all(step.loadgen_demand_pct is not None for step in seen)
    assert result["clients_held"] == 60 and result["held"] == "60"
    assert result["stopped_because"] == "reached the profile's maximum of 60 clients"


def test_a_saturated_step_ends_the_ramp_as_load_generator_bound(tmp_path):
    # With a threshold of 0 any demand at all counts as saturated: the first step ends the ramp.
    result = ceiling.measure(SMALL, 0.0, os.sched_getaffinity(0), tmp_path / "wsload.log", lambda step: None)
    steps = [capacity.Step.from_dict(step) for step in result["steps"]]
    assert len(steps) == 1 and steps[0].loadgen_bound is True
    assert result["held"] == "at least 0 (load generator bound)"
    assert result["stopped_because"].startswith("load generator bound at 20 clients")


def test_too_low_a_file_limit_fails_loudly_before_connecting():
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    done = subprocess.run(
        [sys.executable, "-m", "loadtest.drivers.wsload", "--url", "ws://127.0.0.1:9/",
         "--max-clients", "5000"],
        cwd=ROOT, capture_output=True, text=True, timeout=30, preexec_fn=low_limit,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "hard limit on open files is 256, the ramp needs 5064" in done.stderr


@pytest.fixture
def reference_room():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "loadtest.reference.broadcast_server", "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().startswith("listening")
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait(timeout=10)


def fanout(url: str, expected_server: str) -> tuple[list[dict], dict]:
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.drivers.wsload", "--mode", "fanout", "--url", url, "--members", "5",
         "--warmup-s", "0.3", "--measure-s", "1", "--grace-s", "0.5", "--expect-server", expected_server],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=True,
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    return events[:-1], events[-1]


def test_fanout_marks_its_window_and_counts_every_delivery(reference_room):
    window, done = fanout(reference_room, "broadcast-reference")
    assert [event["event"] for event in window] == ["measure", "measured"]
    assert done["messages_sent"] >= 10 and done["failures"] == {} and done["lost"] == 0
    assert done["deliveries_expected"] == 5 * done["messages_sent"] == done["delivered"]
    assert len(done["samples"]) == done["delivered"]
    assert all(0 < sample < 2000 for sample in done["samples"])


def test_fanout_counts_a_broadcast_from_another_server_as_a_failure(reference_room):
    _, done = fanout(reference_room, "uvicorn")
    assert done["delivered"] == 0 and done["failures"]["broadcast from 'broadcast-reference'"] > 0
