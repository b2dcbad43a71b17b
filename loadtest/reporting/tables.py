"""The report's tables, built once from the run summaries and rendered as Markdown and HTML."""

from __future__ import annotations

from dataclasses import dataclass

from loadtest.reporting.results import Summary
from loadtest.scenarios.catalog import SCENARIOS

SPECIAL_KINDS = {"ws_capacity", "ws_handshake"}  # their numbers are not rates; own tables


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def validity(summary: Summary) -> str:
    if summary.loadgen_bound:
        return "NO: load generator bound"
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


def scenario_table(name: str, summaries: list[Summary]) -> Table:
    repeated = any(s.runs > 1 for s in summaries)  # a spread column only when there is a spread
    rows = [
        [
            s.server,
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
            validity(s),
        ]
        for s in summaries
        if s.scenario == name
    ]
    description = next(sc.description for sc in SCENARIOS if sc.name == name)
    headers = ["server", "rps", *(["spread (min–max)"] if repeated else []), "p50 ms", "p95 ms", "p99 ms"]
    headers.append("failures")
    headers += ["server CPU s", "req / server CPU s", "stack CPU s", "loadgen CPU % (demand %)", "valid"]
    return Table(f"{name}: {description}", headers, rows)


def wrk_table(summaries: list[Summary]) -> Table | None:
    locust = {s.server: s for s in summaries if s.scenario == "plaintext"}
    rows = []
    for s in summaries:
        if s.scenario == "plaintext_wrk" and s.server in locust:
            ratio = s.rps / locust[s.server].rps if s.rps and locust[s.server].rps else None
            rows.append([s.server, fmt(locust[s.server].rps), fmt(s.rps), fmt(ratio, 2)])
    if not rows:
        return None
    note = "A ratio well above 1 means Locust, not the server, limited the plaintext rate."
    return Table("plaintext: Locust vs wrk", ["server", "Locust rps", "wrk rps", "wrk / Locust"], rows, note)


def chat_table(summaries: list[Summary]) -> Table | None:
    rows = [
        [
            s.server,
            fmt(s.extra.get("messages_sent")),
            fmt(s.extra.get("deliveries_expected")),
            fmt(s.extra.get("lost")),
            fmt(s.p95_ms, 1),
        ]
        for s in summaries
        if s.kind == "ws_chat"
    ]
    if not rows:
        return None
    headers = ["server", "messages sent", "deliveries expected", "lost", "delivery p95 ms"]
    return Table("chat fan-out: lost messages", headers, rows)


def capacity_table(summaries: list[Summary]) -> Table | None:
    rows = [
        [
            s.server,
            fmt(s.extra.get("clients_held")),
            fmt(s.p95_ms, 1),
            s.extra.get("stopped_because", ""),
            validity(s),
        ]
        for s in summaries
        if s.kind == "ws_capacity"
    ]
    if not rows:
        return None
    headers = ["server", "clients held", "broadcast p95 ms there", "ramp stopped because", "valid"]
    note = "Most clients in one room while a broadcast reaches all of them within the p95 bound."
    return Table("WebSocket connection capacity", headers, rows, note)


def handshake_table(summaries: list[Summary]) -> Table | None:
    rows = []
    for s in summaries:
        if s.kind == "ws_handshake":
            answers = "; ".join(f"{kind} × {count}" for kind, count in s.extra.get("answers", {}).items())
            rows.append([s.server, answers or "–"])
    if not rows:
        return None
    return Table("WebSocket handshake against WSGI servers", ["server", "answers (attempts)"], rows)


def all_tables(summaries: list[Summary]) -> list[Table]:
    tables = [
        scenario_table(name, summaries)
        for name in scenario_order(summaries)
        if next(s.kind for s in summaries if s.scenario == name) not in SPECIAL_KINDS
    ]
    extras = (
        wrk_table(summaries),
        chat_table(summaries),
        capacity_table(summaries),
        handshake_table(summaries),
    )
    return tables + [table for table in extras if table is not None]
