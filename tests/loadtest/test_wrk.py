import pytest

from loadtest.drivers.wrk import command, parse

RECORDED = """Running 2s test @ http://127.0.0.1:18082/plaintext
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.41ms    2.32ms  28.19ms   88.31%
    Req/Sec     3.78k   584.85     4.46k    76.19%
  7905 requests in 2.10s, 1.58MB read
Requests/sec:   3765.01
Transfer/sec:    768.44KB
BENCH 7905 2099596 0 0 7693 13305 18641
"""


def test_parses_the_summary_hook_line():
    result = parse(RECORDED)
    assert result.requests == 7905
    assert result.duration_s == pytest.approx(2.099596)
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (7.693, 13.305, 18.641)
    assert result.rps == pytest.approx(3765.01, rel=1e-3)  # what wrk itself printed


def test_non_2xx_responses_do_not_count_as_throughput():
    result = parse("BENCH 1000 1000000 3 400 1 2 3\n")
    assert result.rps == 600
    assert result.socket_errors == 3


def test_missing_summary_is_an_error():
    with pytest.raises(ValueError):
        parse("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_never_more_threads_than_connections():
    assert command("http://x/", 1, 4, 5, "s.lua")[1] == "-t1"
