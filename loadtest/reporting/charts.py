"""The report's charts, drawn with matplotlib: each saved as PNG and returned as inline SVG.

Servers keep one colour across every chart, and a cell flagged load-generator-bound is drawn
hatched and pale, so an invalid number is never read as a result.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a server

import matplotlib.pyplot as plt  # noqa: E402

from loadtest.reporting.results import Summary  # noqa: E402
from loadtest.reporting.tables import SPECIAL_KINDS, scenario_order  # noqa: E402
from loadtest.scenarios.catalog import DISTRIBUTION_SCENARIOS  # noqa: E402

COLUMNS = 3


def colours(servers: list[str]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {server: cycle[i % len(cycle)] for i, server in enumerate(servers)}


def _grid(count: int, height: float = 2.6):
    rows = max(1, math.ceil(count / COLUMNS))
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(4.2 * COLUMNS, height * rows), squeeze=False)
    flat = list(axes.flat)
    for unused in flat[count:]:
        unused.set_visible(False)
    return figure, flat


def _rate_scenarios(summaries: list[Summary]) -> list[str]:
    kinds = {s.scenario: s.kind for s in summaries}
    return [name for name in scenario_order(summaries) if kinds[name] not in SPECIAL_KINDS]


def _bars(summaries: list[Summary], servers: list[str], value, title: str, unit: str):
    """One small chart per scenario: a bar per server, whiskers for min..max over runs."""
    names = _rate_scenarios(summaries)
    if not names:
        return None
    palette = colours(servers)
    figure, axes = _grid(len(names))
    for ax, name in zip(axes, names, strict=False):
        rows = [s for s in summaries if s.scenario == name]
        for y, s in enumerate(rows):
            number = value(s)
            if number is None:
                continue
            ax.barh(
                y,
                number,
                color=palette[s.server],
                alpha=0.35 if not s.valid else 1.0,
                hatch="//" if not s.valid else None,
                edgecolor="black" if not s.valid else None,
            )
            if value is _rps and s.runs > 1 and s.rps_min is not None:
                ax.errorbar(
                    number, y, xerr=[[number - s.rps_min], [s.rps_max - number]], color="black", capsize=3
                )
        ax.set_yticks(range(len(rows)), [s.server for s in rows])
        ax.invert_yaxis()
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(unit, fontsize=8)
        ax.tick_params(labelsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _rps(summary: Summary) -> float | None:
    return summary.rps


def rps_chart(summaries: list[Summary], servers: list[str]):
    return _bars(summaries, servers, _rps, "Successful requests per second (hatched: invalid)", "rps")


def efficiency_chart(summaries: list[Summary], servers: list[str]):
    title = "Requests per server CPU second (hatched: invalid)"
    return _bars(summaries, servers, lambda s: s.req_per_server_cpu_s, title, "requests / CPU s")


def latency_chart(summaries: list[Summary], servers: list[str]):
    """p50 / p95 / p99 side by side for each server, per scenario."""
    names = _rate_scenarios(summaries)
    if not names:
        return None
    palette = colours(servers)
    figure, axes = _grid(len(names))
    width = 0.8 / 3
    for ax, name in zip(axes, names, strict=False):
        rows = [s for s in summaries if s.scenario == name]
        for x, s in enumerate(rows):
            for i, (field, alpha) in enumerate((("p50_ms", 1.0), ("p95_ms", 0.65), ("p99_ms", 0.35))):
                number = getattr(s, field)
                if number is not None:
                    ax.bar(
                        x + (i - 1) * width,
                        number,
                        width,
                        color=palette[s.server],
                        alpha=alpha,
                        hatch="//" if not s.valid else None,
                    )
        ax.set_xticks(range(len(rows)), [s.server for s in rows], fontsize=8, rotation=30, ha="right")
        ax.set_title(f"{name} (p50 / p95 / p99)", fontsize=10)
        ax.set_ylabel("ms", fontsize=8)
        ax.tick_params(labelsize=8)
    figure.suptitle("Latency percentiles (bars: p50, p95, p99 per server)")
    figure.tight_layout()
    return figure


def distribution_chart(samples: dict[str, dict[str, list[float]]], servers: list[str]):
    """Cumulative distribution of WebSocket latencies (echo round trip, chat delivery) per server."""
    names = [name for name in DISTRIBUTION_SCENARIOS if samples.get(name)]
    if not names:
        return None
    palette = colours(servers)
    figure, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=True):
        for server, values in samples[name].items():
            if not values:
                continue
            ordered = sorted(values)
            fractions = [(i + 1) / len(ordered) for i in range(len(ordered))]
            ax.step(ordered, fractions, where="post", label=server, color=palette.get(server))
        ax.set_xscale("log")
        ax.set_xlabel("ms (log)")
        ax.set_ylabel("fraction of messages")
        ax.set_title({"ws_echo": "echo round trip", "ws_chat": "chat delivery latency"}[name])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def capacity_chart(summaries: list[Summary], servers: list[str]):
    """Broadcast p95 against clients connected, with the bound that ends the ramp."""
    ramps = [s for s in summaries if s.kind == "ws_capacity" and s.extra.get("steps")]
    if not ramps:
        return None
    palette = colours(servers)
    figure, ax = plt.subplots(figsize=(8, 4))
    for s in ramps:
        steps = [step for step in s.extra["steps"] if step["p95_ms"] is not None]
        ax.plot(
            [step["clients"] for step in steps],
            [step["p95_ms"] for step in steps],
            marker="o",
            color=palette.get(s.server),
            label=f"{s.server} (held {s.extra.get('clients_held', 0)})",
        )
    bound = ramps[0].extra.get("bound_ms")
    if bound:
        ax.axhline(bound, color="red", linestyle="--", label=f"bound {bound:.0f} ms")
    ax.set_xlabel("clients connected in one room")
    ax.set_ylabel("broadcast p95 ms (to the last member)")
    ax.set_title("Clients held")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def save(figure, name: str, directory: Path) -> str:
    """Write name.png into directory and return the chart as an SVG string for inlining."""
    directory.mkdir(parents=True, exist_ok=True)
    figure.savefig(directory / f"{name}.png", dpi=110)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prolog and doctype: it is embedded in HTML


def draw_all(summaries, samples, servers, directory: Path) -> dict[str, str]:
    """{chart name: inline SVG} of every chart that has data."""
    makers = {
        "rps": lambda: rps_chart(summaries, servers),
        "latency": lambda: latency_chart(summaries, servers),
        "cpu_efficiency": lambda: efficiency_chart(summaries, servers),
        "ws_latency_distribution": lambda: distribution_chart(samples, servers),
        "clients_held": lambda: capacity_chart(summaries, servers),
    }
    charts = {}
    for name, make in makers.items():
        figure = make()
        if figure is not None:
            charts[name] = save(figure, name, directory)
    return charts
