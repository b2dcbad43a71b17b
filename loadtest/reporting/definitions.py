"""What each figure of a run means, stated once: docs/benchmarks.md renders this list (`make docs`)
and every report's "How to read" shows it, so the definitions cannot drift apart.
"""

from __future__ import annotations

# Where the definitions are rendered, relative to the repository's root: the report links here.
PAGE = "docs/benchmarks.md#metrics"

# (term, meaning): in the order a reader meets the columns.
METRICS = [
    ("rps", "successful responses per second of the measured window, warm-up excluded (WebSocket "
     "scenarios: echo round trips, or chat deliveries, per second). The load is a closed loop of N "
     "users, so rps ≈ N / latency once the server is saturated: compare at equal users."),
    ("p50 / p95 / p99 ms", "exact percentiles of the client-side samples (up to 100,000 per cell), the "
     "wait in nginx's queue included. A closed loop slows down with the server, so it understates "
     "tails under overload: read them together with rps, at equal users."),
    ("failures", "non-200 answers, a wrong `X-Served-By`, broken connections, lost chat messages. Only "
     "successful responses that name the right server count towards rps."),
    ("server CPU s", "CPU seconds of the server's own process tree over the window (nginx, PostgreSQL "
     "and Redis not included)."),
    ("req / server CPU s", "requests per server CPU second: the efficiency that rps alone hides. It "
     "compares servers even where one saturated and another did not, and predicts how they scale "
     "with cores."),
    ("stack CPU s", "the whole server side over the window: the server plus nginx, PostgreSQL, Redis "
     "and (host run) supervisord relaying every log line; all of it shares the server CPUs. Close to "
     "window × server CPUs means the budget was saturated."),
    ("loadgen CPU % (demand %)", "the load generator's on-CPU time in percent of one core, and its "
     "busiest thread's time on a CPU plus waiting for one (`/proc/<pid>/task/*/schedstat`). With "
     "Locust workers: every process's CPU added up, and the busiest thread of any of them."),
    ("valid", "`NO: load generator bound` when that demand passed the bound threshold (80 % of a core "
     "by default): the generator, not the server, set the pace, so the cell is drawn hatched and is "
     "not a result. `NO: cell failed` when the cell could not run."),
    ("wrk / Locust", "the same plaintext path and connections from wrk. Near 1: Locust measured the "
     "server. Well above 1: Locust was the limit, and that server's Locust rps is a floor (requests "
     "per server CPU second holds either way)."),
    ("spread", "with several runs per cell: min–max rps and (max − min) / median. A difference smaller "
     "than both cells' spread is noise. The pick judges a margin by the spread of the figure it "
     "compares: requests per server CPU second where that is the measure (a paced WebSocket cell's "
     "rps never varies)."),
    ("clients held", "capacity cells: the most members one chat room held while a broadcast reached "
     "the last of them within the bound (p95), with the load client's own ceiling measured beside it."),
    ("sustained rps", "`http_capacity` cells: the highest offered rate a server held on a fixed "
     "schedule (open loop: each request timed from its scheduled start) with p99 within the SLO, no "
     "error and nothing left behind the schedule; beside it the generator's own ceiling against a "
     "server with no Django. A rate at that ceiling reads \"at least\" and is not a result."),
    ("bold on a tint", "in every table of a report, the best valid value of a column; an invalid row is "
     "greyed."),
]


def reading_notes() -> list[str]:
    """The report's "How to read": every definition, then where they live."""
    return [f"{term}: {meaning}" for term, meaning in METRICS] + [
        f"These definitions are the project's {PAGE} (one place; the report restates none of them)."
    ]
