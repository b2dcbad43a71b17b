"""What one cell measured, and the median and spread of a cell's repeated runs.

Pure data and arithmetic: the report is rebuilt from results.json by this module alone.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field, fields

from loadtest.scenarios.catalog import KINDS


@dataclass
class CellResult:
    server: str
    scenario: str
    kind: str
    run: int
    users: int | None = None
    window_s: float | None = None
    requests: int = 0  # successful ones in the window (round trips, deliveries for WS)
    rps: float | None = None  # successful per second: failing fast must not look fast
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    failures: int = 0
    failure_kinds: dict[str, int] = field(default_factory=dict)
    server_cpu_s: float | None = None
    req_per_server_cpu_s: float | None = None
    # The whole server side over the window (host run: app server, nginx, PostgreSQL, Redis,
    # supervisord relaying the logs); all of it runs on the server CPUs.
    stack_cpu_s: float | None = None
    loadgen_cpu_pct: float | None = None
    loadgen_demand_pct: float | None = None  # busiest thread on CPU + waiting for one; what the flag reads
    loadgen_bound: bool | None = False  # None: the generator's demand could not be read
    extra: dict = field(default_factory=dict)
    error: str | None = None  # the cell could not run at all

    @property
    def valid(self) -> bool:
        return self.error is None and self.loadgen_bound is False

    def as_dict(self) -> dict:
        return {**asdict(self), "valid": self.valid}

    @classmethod
    def from_dict(cls, data: dict) -> CellResult:
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def per_cpu_second(requests: int, server_cpu_s: float | None) -> float | None:
    """Requests per server CPU second: the efficiency that raw rps hides when servers use more cores."""
    if not server_cpu_s or server_cpu_s <= 0:
        return None
    return requests / server_cpu_s


def _median(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _figure(cell: CellResult) -> float:
    """What orders a cell's runs: its rate, or a ramp's one figure (clients held, sustained rps)."""
    figure = KINDS[cell.kind].figure if cell.kind in KINDS else None
    return (cell.extra.get(figure) if figure else cell.rps) or 0


def _any_bound(flags: list[bool | None]) -> bool | None:
    if any(flags):
        return True
    return None if None in flags else False


@dataclass
class Summary:
    """One scenario x server over its runs: medians, with the spread of rps and of requests per
    server CPU second as min..max."""

    scenario: str
    server: str
    kind: str
    runs: int
    rps: float | None
    rps_min: float | None
    rps_max: float | None
    # A paced cell (the WebSocket ones) offers the same rate every run: its rps cannot show the
    # noise in what it is judged by, the server CPU it took.
    per_cpu_min: float | None
    per_cpu_max: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    failures: int
    server_cpu_s: float | None
    req_per_server_cpu_s: float | None
    stack_cpu_s: float | None
    loadgen_cpu_pct: float | None
    loadgen_demand_pct: float | None
    loadgen_bound: bool | None  # in any run; None when some run's demand is unknown and none was bound
    valid: bool  # every run valid
    extra: dict

    @property
    def spread_pct(self) -> float | None:
        """(max - min) / median of rps, in percent: how far to trust a difference between servers."""
        return _spread(self.rps, self.rps_min, self.rps_max)

    @property
    def per_cpu_spread_pct(self) -> float | None:
        """(max - min) / median of requests per server CPU second, in percent."""
        return _spread(self.req_per_server_cpu_s, self.per_cpu_min, self.per_cpu_max)


def _spread(median: float | None, low: float | None, high: float | None) -> float | None:
    if not median or low is None or high is None:
        return None
    return 100 * (high - low) / median


MEDIAN_FIELDS = (
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "server_cpu_s",
    "req_per_server_cpu_s",
    "stack_cpu_s",
    "loadgen_cpu_pct",
    "loadgen_demand_pct",
)


def summarize_runs(cells: list[CellResult]) -> list[Summary]:
    """Summaries in first-seen order of (scenario, server)."""
    groups: dict[tuple[str, str], list[CellResult]] = {}
    for cell in cells:
        groups.setdefault((cell.scenario, cell.server), []).append(cell)
    summaries = []
    for (scenario, server), runs in groups.items():
        rates = [c.rps for c in runs if c.rps is not None]
        per_cpu = [c.req_per_server_cpu_s for c in runs if c.req_per_server_cpu_s is not None]
        summaries.append(
            Summary(
                scenario=scenario,
                server=server,
                kind=runs[0].kind,
                runs=len(runs),
                rps=_median(rates),
                rps_min=min(rates) if rates else None,
                rps_max=max(rates) if rates else None,
                per_cpu_min=min(per_cpu) if per_cpu else None,
                per_cpu_max=max(per_cpu) if per_cpu else None,
                failures=sum(c.failures for c in runs),
                loadgen_bound=_any_bound([c.loadgen_bound for c in runs]),
                valid=all(c.valid for c in runs),
                # Per-scenario extras (lost messages, clients held, refusal): the median run's, by rps
                # or, for a ramp, by its one figure.
                extra=sorted(runs, key=_figure)[len(runs) // 2].extra,
                **{name: _median([getattr(c, name) for c in runs]) for name in MEDIAN_FIELDS},
            )
        )
    return summaries
