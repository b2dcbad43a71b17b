"""The one list of load scenarios: the Locust UI, the headless bench and the tests all read it.

A scenario is data: what to request, which server protocols it applies to, and whether it is
part of the quick profile. loadtest.drivers.users turns a scenario into Locust user classes; this
module imports no Locust so that it can be read without gevent's monkey-patching.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

BOTH = frozenset({"wsgi", "asgi"})
ASGI = frozenset({"asgi"})
WSGI = frozenset({"wsgi"})

# The report's summary tells one story per family, each measured by what matters for it.
FAMILIES = {
    "sync": "sync work",
    "async": "async views",
    "waiting": "waiting",
    "websocket": "WebSockets",
    "capacity": "capacity",
    "rate": "rate at a latency SLO",
    "check": "checks of the bench itself",
}


@dataclass(frozen=True)
class Kind:
    """What a scenario's kind means to every part of the harness, stated once: running/cells.py
    picks its runner by name, and the rest reads these."""

    name: str
    family: str  # its scenarios' story in the summary, unless a scenario says otherwise
    users: str  # which of the profile's user counts it gets: http_users, ws_users or chat_members
    # A ramp reports one figure (extra[figure]) and has its own tables and chart instead of a rate's;
    # its length is its profile's deadline (ramp_deadline reads it), not the measured window.
    figure: str | None = None
    figure_label: str = ""
    ramp_deadline: Callable[[Any], float] | None = None
    rated: bool = True  # its numbers are measurements (not a check's record of answers)
    distributable: bool = False  # can run on Locust workers (no state shared in this process)


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    # FastHttpUser GETs the path in a closed loop
    Kind("http", "sync", "http_users", distributable=True),
    # FastHttpUser reads a whole event stream and checks the event count
    Kind("sse", "waiting", "http_users", distributable=True),
    # wrk drives the path, as a check that Locust is not what limits the rate
    Kind("wrk", "check", "http_users"),
    # WebSocket round trips on /ws/echo/
    Kind("ws_echo", "websocket", "ws_users"),
    # chat room fan-out: one sender, every member measures delivery latency
    Kind("ws_chat", "websocket", "chat_members"),
    # clients added to a room until handshakes fail or broadcast p95 passes a bound
    Kind("ws_capacity", "capacity", "ws_users", figure="clients_held", figure_label="clients held",
         ramp_deadline=lambda profile: profile.capacity_deadline_s),
    # WebSocket handshake against a WSGI server, recording how it refuses
    Kind("ws_handshake", "check", "ws_users", rated=False),
    # open loop: requests on a fixed schedule, rates up until the p99 SLO is missed
    Kind("http_capacity", "rate", "http_users", figure="sustained_rps", figure_label="sustained rps",
         ramp_deadline=lambda profile: profile.http_ramp.deadline_s),
)}

T = TypeVar("T")


def _known(name: str) -> str:
    # A misspelt name would match no item and quietly drop a table, a chart or a runner.
    if name not in KINDS:
        raise KeyError(f"unknown kind {name!r}; known: {list(KINDS)}")
    return name


def is_kind(item: Any, name: str) -> bool:
    """Whether item (a scenario, a cell's result, a summary: anything with a kind) is of kind name."""
    return item.kind == _known(name)


def of_kind(items: Iterable[T], name: str) -> list[T]:
    """The items of kind name, in their order; name is checked even when there are none."""
    name = _known(name)
    return [item for item in items if item.kind == name]


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str
    path: str
    protocols: frozenset[str]
    quick: bool  # part of the <= 5 min quick profile; otherwise full profile only
    description: str
    users: int | None = None  # fixed concurrency instead of the profile's default
    duration_s: float | None = None  # fixed measured window, for probes that need no more
    params: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Which story of the report's summary it tells: one of FAMILIES; the kind's, unless set.
    family: str = ""
    # The scenario whose baseline figure this one's ratios are taken to (an async view against its
    # sync twin on the WSGI baseline); its own, unless set.
    compared_with: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"scenario {self.name}: unknown kind {self.kind!r}")
        if not self.family:
            object.__setattr__(self, "family", KINDS[self.kind].family)
        if self.family not in FAMILIES:
            raise ValueError(f"scenario {self.name}: unknown family {self.family!r}")
        if not self.compared_with:
            object.__setattr__(self, "compared_with", self.name)

    def settings(self) -> dict[str, Any]:
        """What a run's numbers depend on besides the server: two runs compare only if these match."""
        return {"kind": self.kind, "path": self.path, "users": self.users, "duration_s": self.duration_s,
                "params": dict(self.params)}

    @property
    def kind_of(self) -> Kind:
        return KINDS[self.kind]

    def applies_to(self, protocol: str) -> bool:
        return protocol in self.protocols


def _params(**values: Any) -> MappingProxyType[str, Any]:
    return MappingProxyType(values)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("plaintext", "http", "/plaintext", BOTH, True, "fixed text: the server's own overhead"),
    # The same answers from async views: on an ASGI server they skip Django's thread hops, the
    # server at its best. ASGI only: a WSGI server runs an async view in an event loop of its own
    # per request, which tells nothing about the server. Full profile only: six more cells take the
    # quick plan of eleven servers past its 300 s (test_profiles).
    Scenario("plaintext_async", "http", "/plaintext/async", ASGI, False, "fixed text from an async view",
             family="async", compared_with="plaintext"),
    Scenario("plaintext_wrk", "wrk", "/plaintext", BOTH, True, "plaintext driven by wrk, same connections"),
    # Full profile only: with ten and more servers the quick one cannot afford a cell that tells
    # plaintext's story again (every server's json rps is within a few % of its plaintext rps).
    Scenario("json", "http", "/json", BOTH, False, "small JSON serialization"),
    Scenario("json_async", "http", "/json/async", ASGI, False, "small JSON serialization from an async view",
             family="async", compared_with="json"),
    Scenario("db", "http", "/db", BOTH, True, "one random row read"),
    Scenario("queries", "http", "/queries?queries=20", BOTH, False, "20 row reads per request"),
    Scenario("fortunes", "http", "/fortunes", BOTH, False, "all rows plus one, sorted, HTML template"),
    Scenario("updates", "http", "/updates?queries=5", BOTH, False, "5 row reads and updates"),
    # A 100 ms upstream wait: thread-bound servers are capped at workers/0.1 s, event loops are
    # not, so these need more users than there are workers to show the difference.
    Scenario(
        "wait_sync", "http", "/wait/sync?ms=100", BOTH, True, "time.sleep(0.1) in a sync view", users=100,
        family="waiting",
    ),
    Scenario(
        "wait_async",
        "http",
        "/wait/async?ms=100",
        BOTH,
        True,
        "asyncio.sleep(0.1) in an async view",
        users=100,
        family="waiting",
    ),
    Scenario("db_sync", "http", "/db/sync", BOTH, False, "one row read through the sync ORM"),
    Scenario("db_async", "http", "/db/async", BOTH, False, "one row read through the async ORM"),
    Scenario(
        "sse_sync",
        "sse",
        "/sse/sync?events=5&interval_ms=20",
        BOTH,
        False,
        "5-event stream from a sync generator (holds a worker for 100 ms)",
        users=50,
        params=_params(events=5),
    ),
    Scenario(
        "sse_async",
        "sse",
        "/sse/async?events=5&interval_ms=20",
        BOTH,
        False,
        "5-event stream from an async generator",
        users=50,
        params=_params(events=5),
    ),
    Scenario(
        "ws_echo",
        "ws_echo",
        "/ws/echo/",
        ASGI,
        True,
        "client-timed echo round trips, each client paced to 50 per second",
        # Paced, so every server gets the same offered load (1,600 round trips/s with 32 users)
        # and the latencies compare: unpaced, the fastest server outruns a one-core load
        # generator, and the cell measures the load generator instead.
        params=_params(payload_bytes=64, pacing_s=0.02),
    ),
    Scenario(
        "ws_chat",
        "ws_chat",
        "/ws/chat/{room}/",
        ASGI,
        True,
        "one sender, every member times each broadcast through Redis; lost messages counted",
        params=_params(send_interval_s=0.05, grace_s=2.0),
    ),
    Scenario(
        "ws_capacity",
        "ws_capacity",
        "/ws/chat/{room}/",
        ASGI,
        False,
        "most clients held while broadcast p95 stays under the bound (websocket-shootout method)",
    ),
    Scenario(
        "http_capacity",
        "http_capacity",
        "/plaintext",
        BOTH,
        False,
        "highest rate held at p99 <= the SLO, requests on a fixed schedule (open loop)",
        # 50 ms: a plaintext answer costs a server about a millisecond; fifty of them is queueing.
        params=_params(slo_ms=50.0),
    ),
    Scenario(
        "ws_handshake",
        "ws_handshake",
        "/ws/echo/",
        WSGI,
        True,
        "WebSocket handshake against a WSGI server: how it refuses",
        users=1,
        duration_s=2.0,
    ),
)


# Whose raw latency samples a bench keeps, for the report's distribution chart.
DISTRIBUTION_SCENARIOS = ("ws_echo", "ws_chat")


def by_name(names: list[str] | None = None) -> list[Scenario]:
    """The scenarios called names, in list order; all when names is None."""
    if names is None:
        return list(SCENARIOS)
    known = {scenario.name: scenario for scenario in SCENARIOS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise KeyError(f"unknown scenarios {unknown}; known: {list(known)}")
    return [scenario for scenario in SCENARIOS if scenario.name in names]
