"""The open-loop HTTP client (its own process) against stand-in servers over real sockets: the
schedule is kept whatever the server does, the ramp stops where it should, and a rate the client
cannot tell from its own ceiling reads "at least"."""

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from loadtest.drivers import http_ramp
from loadtest.running import ceiling
from loadtest.scenarios.profiles import QUICK
from tests.loadtest.test_bench_end_to_end import FAKE_SERVER, _free_port, _wait_listening

SLOW = replace(QUICK.http_ramp, start_rps=40, factor=2, max_rps=2000, refine_steps=1, step_s=2.0,
               warmup_s=0.5, deadline_s=60)
# Generous: on a shared machine a scheduling hiccup of a few hundred ms can be the p99 of a short
# step, and these tests are about the ramp's rules, not about how fast the stand-in answers.
SLO_MS = 1000.0


@pytest.fixture
def fake(request):
    """A stand-in server named fake; the test's parameters are its options."""
    port = _free_port()
    options = getattr(request, "param", [])
    process = subprocess.Popen([sys.executable, FAKE_SERVER, "--port", str(port), "--name", "fake", *options])
    try:
        _wait_listening(port)
        yield f"http://127.0.0.1:{port}/plaintext"
    finally:
        process.kill()
        process.wait()


def ramp(url: str, settings, tmp_path: Path, slo_ms: float = SLO_MS, expected: str = "fake",
         threshold: float = 10.0):
    """(steps, closing summary). A threshold of 10 cores: on a busy machine the client may wait for a
    CPU, and these tests are about the server's side of the ramp."""
    command = http_ramp.client_command(url, settings, slo_ms, threshold, expected)
    steps, done, _ = http_ramp.run_client(command, tmp_path / "openloop.log", lambda step: None, 90)
    return steps, done


@pytest.mark.parametrize("fake", [["--stall-ms", "300", "--stall-every-s", "2"]], indirect=True)
def test_a_stalling_server_shows_its_stall_in_the_latencies(fake, tmp_path):
    # 100 requests a second on one connection, a 300 ms freeze every 2 s. Timed from when the
    # connection was free (a closed loop), only the one request in flight sees each freeze: 3 of 600,
    # below the p99. Timed from the schedule, all 30 due during a freeze wait for its end: 15 %.
    fixed = replace(SLOW, start_rps=100, max_rps=100, warmup_s=0, step_s=6.0, max_connections=1)
    steps, done = ramp(fake, fixed, tmp_path, slo_ms=10_000)
    (step,) = steps
    assert step.errors == 0 and step.late == 0 and step.scheduled == 600, step
    assert step.max_ms >= 250, step
    assert step.p99_ms >= 150, step
    assert step.p50_ms < 150, step  # most requests are not due during a freeze


@pytest.mark.parametrize("fake", [["--service-ms", "20"]], indirect=True)
def test_the_ramp_ends_where_the_server_falls_behind(fake, tmp_path):
    # 20 ms an answer, one at a time: 50 a second at most. On a fixed schedule 40 rps never queues;
    # at 80 the queue grows by 30 requests a second, and the step's last ones wait 1.8 s.
    settings = replace(SLOW, start_rps=10, refine_steps=0, step_s=3.0)
    steps, done = ramp(fake, settings, tmp_path)
    assert [s.offered_rps for s in steps] == [10, 20, 40, 80], steps
    assert [s.passed(SLO_MS) for s in steps] == [True, True, True, False]
    assert steps[-1].p99_ms > 1500, steps[-1]
    assert done["sustained_rps"] == 40
    assert done["stopped_because"].startswith("p99 ") and "at 80 rps" in done["stopped_because"], done
    found = http_ramp.verdict(steps, SLO_MS, ceiling_rps=2000)
    assert found == http_ramp.Verdict(40, "40", False)


def test_answers_from_another_server_are_errors_that_end_the_ramp(fake, tmp_path):
    steps, done = ramp(fake, SLOW, tmp_path, expected="gunicorn")
    assert len(steps) == 1 and steps[0].errors == steps[0].scheduled == 80
    assert done["sustained_rps"] == 0
    assert done["stopped_because"] == "80 errors at 40 rps (served by 'fake', not 'gunicorn' × 80)"


def test_a_server_as_fast_as_the_clients_ceiling_reads_at_least(fake, tmp_path):
    # Both reach the ramp's maximum: the client cannot tell the stand-in from the reference server.
    small = replace(SLOW, start_rps=30, max_rps=120)
    found = ceiling.measure_http(replace(QUICK, http_ramp=small), SLO_MS, "/plaintext",
                                 os.sched_getaffinity(0), tmp_path / "ceiling.log", lambda step: None)
    assert found["sustained_rps"] == 120 and found["at_maximum"], found
    assert found["stopped_because"] == "reached the profile's maximum of 120 rps"
    steps, done = ramp(fake, small, tmp_path)
    assert done["sustained_rps"] == 120, steps
    verdict = http_ramp.verdict(steps, SLO_MS, found["sustained_rps"])
    assert verdict == http_ramp.Verdict(120, "at least 120 (the load generator's ceiling: 120)", True)


def test_a_saturated_client_ends_the_ramp_as_a_lower_bound(fake, tmp_path):
    # With a threshold of 0 any demand at all counts as saturated: the first step ends the ramp.
    steps, done = ramp(fake, SLOW, tmp_path, threshold=0.0)
    assert len(steps) == 1 and steps[0].loadgen_bound is True
    assert done["sustained_rps"] == 0
    assert done["stopped_because"].startswith("load generator bound at 40 rps")
    lower_bound = http_ramp.Verdict(0, "at least 0 (load generator bound)", True)
    assert http_ramp.verdict(steps, SLO_MS, None) == lower_bound
