"""The report's tables, built once from the run summaries and rendered as Markdown and HTML."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from loadtest.model.results import Summary
from loadtest.scenarios.catalog import KINDS, SCENARIOS, of_kind


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    best: set[tuple[int, int]] = field(default_factory=set)  # (row, column) of each column's best value
    key: str = ""  # the scenario it shows, if it shows one


# Columns with a better direction, and which: the best valid value in each is marked.
HIGHER_IS_BETTER = {
    "rps": True, "p50 ms": False, "p95 ms": False, "p99 ms": False, "req / server CPU s": True,
}


def mark_best(
    headers: list[str], summaries: list[Summary], values: dict[str, Callable[[Summary], float | None]]
) -> set[tuple[int, int]]:
    """(row, column) of the best value among the valid rows, for each column with a direction."""
    marked = set()
    for column, header in enumerate(headers):
        if header not in HIGHER_IS_BETTER:
            continue
        candidates = [(row, values[header](s)) for row, s in enumerate(summaries) if s.valid]
        candidates = [(row, v) for row, v in candidates if v is not None]
        if len(candidates) < 2:
            continue
        pick = max if HIGHER_IS_BETTER[header] else min
        best = pick(v for _, v in candidates)
        marked |= {(row, column) for row, v in candidates if v == best}
    return marked


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def validity(summary: Summary) -> str:
    if summary.loadgen_bound:
        return "NO: load generator bound"
    if summary.loadgen_bound is None:
        return "NO: load generator demand unknown"
    if not summary.valid:
        return "NO: cell failed"
    return "yes"


def _spread(summary: Summary) -> str:
    if summary.runs < 2 or summary.spread_pct is None:
        return ""
    return f"{fmt(summary.rps_min)}–{fmt(summary.rps_max)} ({summary.spread_pct:.0f} %)"


def scenario_order(summaries: list[Summary]) -> list[str]:
    present = {s.scenario for s in summaries}
    return [scenario.name for scenario in SCENARIOS if scenario.name in present]


def scenario_table(name: str, summaries: list[Summary], order: list[str] | None = None) -> Table:
    """order: the servers' order in the report (by protocol group); default as measured."""
    summaries = [s for s in summaries if s.scenario == name]
    if order:
        summaries.sort(key=lambda s: order.index(s.server) if s.server in order else len(order))
    repeated = any(s.runs > 1 for s in summaries)  # a spread column only when there is a spread
    rows = [
        [
            s.server,
            validity(s),  # second: a reader must see it before any of the row's numbers
            fmt(s.rps),
            *([_spread(s)] if repeated else []),
            fmt(s.p50_ms, 1),
            fmt(s.p95_ms, 1),
            fmt(s.p99_ms, 1),
            fmt(s.failures),
            fmt(s.server_cpu_s, 2),
            fmt(s.req_per_server_cpu_s),
            fmt(s.stack_cpu_s, 2),
            f"{fmt(s.loadgen_cpu_pct)} ({fmt(s.loadgen_demand_pct)})",
        ]
        for s in summaries
    ]
    description = next((sc.description for sc in SCENARIOS if sc.name == name), "")
    headers = ["server", "valid", "rps", *(["spread (min–max)"] if repeated else []), "p50 ms", "p95 ms"]
    headers += ["p99 ms", "failures", "server CPU s", "req / server CPU s", "stack CPU s"]
    headers.append("loadgen CPU % (demand %)")
    values = {
        "rps": lambda s: s.rps,
        "p50 ms": lambda s: s.p50_ms,
        "p95 ms": lambda s: s.p95_ms,
        "p99 ms": lambda s: s.p99_ms,
        "req / server CPU s": lambda s: s.req_per_server_cpu_s,
    }
    best = mark_best(headers, summaries, values)
    return Table(f"{name}: {description}", headers, rows, best=best, key=name)


def wrk_table(summaries: list[Summary]) -> Table | None:
    locust = {s.server: s for s in summaries if s.scenario == "plaintext"}
    rows = []
    for s in summaries:
        if s.scenario == "plaintext_wrk" and s.server in locust:
            ratio = s.rps / locust[s.server].rps if s.rps and locust[s.server].rps else None
            rows.append([s.server, fmt(locust[s.server].rps), fmt(s.rps), fmt(ratio, 2), wrk_reading(ratio)])
    if not rows:
        return None
    note = ("A ratio well above 1 means Locust, not the server, limited the plaintext rate: that server's "
            "Locust rps is a floor, while requests per server CPU second holds either way.")
    headers = ["server", "Locust rps", "wrk rps", "wrk / Locust", "reading"]
    return Table("plaintext: Locust vs wrk", headers, rows, note)


LOCUST_BOUND_RATIO = 1.25  # single runs of either generator vary by up to ~20 % on a quiet machine


def wrk_reading(ratio: float | None) -> str:
    if ratio is None:
        return "–"
    if ratio > LOCUST_BOUND_RATIO:
        return "the server outran Locust: Locust's rps is a floor"
    return "Locust measured the server"


def chat_table(summaries: list[Summary]) -> Table | None:
    rows = [
        [
            s.server,
            fmt(s.extra.get("messages_sent")),
            fmt(s.extra.get("deliveries_expected")),
            fmt(s.extra.get("lost")),
            fmt(s.p95_ms, 1),
        ]
        for s in of_kind(summaries, "ws_chat")
    ]
    if not rows:
        return None
    headers = ["server", "messages sent", "deliveries expected", "lost", "delivery p95 ms"]
    return Table("chat fan-out: lost messages", headers, rows)


def ceiling_sentence(ceiling: dict | None) -> str:
    """The ceiling as the report states it."""
    if not ceiling:
        return ("WebSocket load client's own ceiling: not measured in this run (it is measured with "
                "every ws_capacity ramp)")
    if "error" in ceiling:
        return f"WebSocket load client's own ceiling: could not be measured ({ceiling['error']})"
    held = ceiling["held"]
    if ceiling["clients_held"] >= ceiling["max_clients"]:
        # The ramp ran out of steps before the client ran out of time.
        held = f"at least {held} (the ramp's maximum)"
    return (f"WebSocket load client's own ceiling on this machine: {held} members at broadcast "
            f"p95 <= {ceiling['bound_ms']:.0f} ms, against a broadcast server with no Django on CPUs "
            f"{ceiling['server_cpus']} ({ceiling['stopped_because']})")


def capacity_table(summaries: list[Summary], ceiling: dict | None = None) -> Table | None:
    rows = [
        [
            s.server,
            s.extra.get("held") or fmt(s.extra.get("clients_held")),
            fmt(s.extra.get("per_core")),
            f"{fmt(s.extra.get('server_cpus'))} / {fmt(s.extra.get('server_processes'))}",
            fmt(s.p95_ms, 1),
            s.extra.get("stopped_because", ""),
            validity(s),
        ]
        for s in of_kind(summaries, "ws_capacity")
    ]
    if not rows:
        return None
    headers = ["server", "clients held", "per server CPU", "server CPUs / processes",
               "broadcast p95 ms there", "ramp stopped because", "valid"]
    note = ("Most clients in one room while a broadcast reaches all of them within the p95 bound. Per "
            "server CPU: divided by the CPUs the server's processes could run on, which they shared with "
            "nginx, Redis and PostgreSQL (the whole server side is pinned there); its processes are all of "
            f"the server's, its master and helpers too. {ceiling_sentence(ceiling)}.")
    return Table("WebSocket connection capacity", headers, rows, note)


def capacity_steps_table(summaries: list[Summary]) -> Table | None:
    """Every step of every ramp: where the latency went, and whether the client kept up."""
    rows = [
        [
            s.server,
            fmt(step["clients"]),
            fmt(step["p50_ms"], 1),
            fmt(step["p95_ms"], 1),
            fmt(step["handshake_failures"]),
            fmt(step["lost"]),
            fmt(step.get("loadgen_demand_pct")),
            {True: "NO: load generator bound", None: "unknown"}.get(step.get("loadgen_bound"), "yes"),
        ]
        for s in of_kind(summaries, "ws_capacity")
        for step in s.extra.get("steps", [])
    ]
    if not rows:
        return None
    headers = ["server", "clients", "broadcast p50 ms", "p95 ms", "handshakes failed", "lost",
               "client demand % (broadcasts)", "client kept up"]
    note = ("The client's demand is its thread on a CPU or waiting for one while the step's broadcasts "
            "were in flight; past the threshold the step measured the client and ends the ramp.")
    return Table("Capacity ramps, step by step", headers, rows, note)


def http_ceiling_sentence(ceiling: dict | None) -> str:
    """The open-loop client's own ceiling as the report states it."""
    if not ceiling:
        return ("open-loop HTTP client's own ceiling: not measured in this run (it is measured with every "
                "http_capacity ramp)")
    if "error" in ceiling:
        return f"open-loop HTTP client's own ceiling: could not be measured ({ceiling['error']})"
    held = f"{ceiling['sustained_rps']:,.0f} rps"
    if ceiling["at_maximum"]:
        held = f"at least {held} (the ramp's maximum)"
    return (f"open-loop HTTP client's own ceiling on this machine: {held} at p99 <= "
            f"{ceiling['slo_ms']:.0f} ms, "
            f"against an HTTP server with no Django on CPUs {ceiling['server_cpus']} "
            f"({ceiling['stopped_because']})")


def http_capacity_table(summaries: list[Summary], ceiling: dict | None = None) -> Table | None:
    ramps = of_kind(summaries, "http_capacity")
    rows = [
        [
            s.server,
            s.extra.get("held") or fmt(s.extra.get("sustained_rps")),
            fmt(s.p50_ms, 1),
            fmt(s.p99_ms, 1),
            s.extra.get("stopped_because", ""),
            validity(s),
        ]
        for s in ramps
    ]
    if not rows:
        return None
    slo = ramps[0].extra.get("slo_ms")
    headers = ["server", "sustained rps", "p50 ms there", "p99 ms there", "ramp stopped because", "valid"]
    note = (f"The highest offered rate whose p99 stayed within {fmt(slo)} ms with no error and nothing left "
            "unanswered, requests on a fixed schedule and timed from it (open loop). "
            f"The {http_ceiling_sentence(ceiling)}.")
    return Table("Sustained rate at the latency SLO", headers, rows, note)


def http_steps_table(summaries: list[Summary]) -> Table | None:
    """Every step of every open-loop ramp, in the order offered."""
    rows = [
        [
            s.server,
            fmt(step["offered_rps"]),
            fmt(step["p50_ms"], 1),
            fmt(step["p99_ms"], 1),
            fmt(step["max_ms"], 1),
            fmt(step["errors"]),
            fmt(step["late"]),
            fmt(step["connections"]),
            fmt(step.get("loadgen_demand_pct")),
            {True: "NO: load generator bound", None: "unknown"}.get(step.get("loadgen_bound"), "yes"),
        ]
        for s in of_kind(summaries, "http_capacity")
        for step in s.extra.get("steps", [])
    ]
    if not rows:
        return None
    headers = ["server", "offered rps", "p50 ms", "p99 ms", "max ms", "errors", "unanswered", "connections",
               "client demand %", "client kept up"]
    note = ("Latency from each request's scheduled start. Unanswered: still out when the step's drain "
            "ended (the server fell behind the schedule). After the first step not held, the ramp halves "
            "the gap between the last rate held and it.")
    return Table("Open-loop ramps, step by step", headers, rows, note)


def handshake_table(summaries: list[Summary]) -> Table | None:
    rows = []
    for s in of_kind(summaries, "ws_handshake"):
        answers = "; ".join(f"{kind} × {count}" for kind, count in s.extra.get("answers", {}).items())
        rows.append([s.server, answers or "–"])
    if not rows:
        return None
    return Table("WebSocket handshake against WSGI servers", ["server", "answers (attempts)"], rows)


def section_tables(summaries: list[Summary], order: list[str] | None = None,
                   ceiling: dict | None = None, http_ceiling: dict | None = None) -> dict[str, list[Table]]:
    """Each scenario's tables, in scenario order: its own, and the check that reads it."""
    sections = {
        name: [scenario_table(name, summaries, order)]
        for name in scenario_order(summaries)
        # A ramp's figure and a check's answers are not rates: their own tables only.
        if (kind := KINDS[next(s.kind for s in summaries if s.scenario == name)]).rated and not kind.figure
    }
    extras = [
        ("plaintext_wrk", wrk_table(summaries)),
        ("ws_chat", chat_table(summaries)),
        ("ws_capacity", capacity_table(summaries, ceiling)),
        ("ws_capacity", capacity_steps_table(summaries)),
        ("ws_handshake", handshake_table(summaries)),
        ("http_capacity", http_capacity_table(summaries, http_ceiling)),
        ("http_capacity", http_steps_table(summaries)),
    ]
    for name, table in extras:
        if table is not None:
            sections.setdefault(name, []).append(table)
    return {name: sections[name] for name in scenario_order(summaries) if name in sections}
