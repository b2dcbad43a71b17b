"""The report's charts, drawn with matplotlib: each saved as PNG and returned as inline SVG.

A server keeps one colour across every chart, a shade of its protocol group's (loadtest.lineup),
and a cell flagged load-generator-bound is drawn hatched and pale, so an invalid number is never
read as a result.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a server

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from loadtest.model.results import Summary  # noqa: E402
from loadtest.scenarios.catalog import of_kind  # noqa: E402

PANEL_HEIGHT = 0.5  # inches per server row


def _bar_panel(ax, rows: list[Summary], colours: dict[str, str], value, title: str) -> None:
    for y, s in enumerate(rows):
        number = value(s)
        if number is None:
            continue
        ax.barh(y, number, color=colours[s.server], alpha=0.35 if not s.valid else 1.0,
                hatch="//" if not s.valid else None, edgecolor="black" if not s.valid else None)
        if value is _rps and s.runs > 1 and s.rps_min is not None:
            whisker = [[number - s.rps_min], [s.rps_max - number]]
            ax.errorbar(number, y, xerr=whisker, color="black", capsize=3)
        end = s.rps_max if value is _rps and s.runs > 1 and s.rps_max is not None else number
        ax.text(end, y, f"  {number:,.0f}", va="center", fontsize=7)  # past the whisker, not on it
    ax.set_yticks(range(len(rows)), [s.server for s in rows])
    ax.invert_yaxis()
    ax.set_title(title, fontsize=9, loc="left")
    ax.margins(x=0.18)
    ax.tick_params(labelsize=8)


def _latency_panel(ax, rows: list[Summary], colours: dict[str, str]) -> None:
    height = 0.8 / 3
    for y, s in enumerate(rows):
        for i, (field, alpha) in enumerate((("p50_ms", 1.0), ("p95_ms", 0.6), ("p99_ms", 0.3))):
            number = getattr(s, field)
            if number is not None:
                ax.barh(y + (i - 1) * height, number, height, color=colours[s.server], alpha=alpha,
                        hatch="//" if not s.valid else None)
    ax.set_yticks(range(len(rows)), [s.server for s in rows])
    ax.invert_yaxis()
    ax.set_title("latency ms: p50, p95, p99 (darkest to palest)", fontsize=9, loc="left")
    ax.tick_params(labelsize=8)


def _rps(summary: Summary) -> float | None:
    return summary.rps


def scenario_chart(rows: list[Summary], colours: dict[str, str]):
    """One scenario's servers: rps (whiskers: min..max over runs), requests per server CPU second
    and latency percentiles, stacked so the chart fits beside the scenario's table."""
    rows = [s for s in rows if s.rps is not None or s.req_per_server_cpu_s is not None]
    if not rows:
        return None
    height = 0.6 + PANEL_HEIGHT * len(rows)
    # 4 inches: drawn at about its own size in the report's chart column, so 8 pt stays 8 pt.
    figure, axes = plt.subplots(3, 1, figsize=(4.0, 3 * height), squeeze=False)
    _bar_panel(axes[0][0], rows, colours, _rps, "rps (hatched: invalid)")
    _bar_panel(axes[1][0], rows, colours, lambda s: s.req_per_server_cpu_s, "requests per server CPU second")
    _latency_panel(axes[2][0], rows, colours)
    figure.tight_layout()
    return figure


def distribution_chart(name: str, samples: dict[str, list[float]], palette: dict[str, str]):
    """Cumulative distribution of one WebSocket scenario's latencies (echo round trip, chat delivery)."""
    if not any(samples.values()):
        return None
    figure, axes = plt.subplots(1, 1, figsize=(4.0, 2.8), squeeze=False)
    for ax in axes.flat:
        for server, values in samples.items():
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


def capacity_chart(summaries: list[Summary], palette: dict[str, str]):
    """Broadcast p95 against clients connected, with the bound that ends the ramp."""
    ramps = [s for s in of_kind(summaries, "ws_capacity") if s.extra.get("steps")]
    if not ramps:
        return None
    figure, ax = plt.subplots(figsize=(4.0, 3.0))
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


def open_loop_chart(summaries: list[Summary], palette: dict[str, str]):
    """p50 and p99 against offered load, every server: the curve where each one turns up."""
    ramps = [s for s in of_kind(summaries, "http_capacity") if s.extra.get("steps")]
    if not ramps:
        return None
    figure, ax = plt.subplots(figsize=(4.0, 3.2))
    for s in ramps:
        steps = sorted((step for step in s.extra["steps"] if step["p99_ms"] is not None),
                       key=lambda step: step["offered_rps"])
        rates = [step["offered_rps"] for step in steps]
        colour = palette.get(s.server)
        ax.plot(rates, [step["p99_ms"] for step in steps], marker="o", markersize=3, color=colour,
                label=f"{s.server} p99 (held {s.extra.get('sustained_rps', 0):,.0f})")
        ax.plot(rates, [step["p50_ms"] for step in steps], linestyle="--", color=colour, alpha=0.7)
    slo = ramps[0].extra.get("slo_ms")
    if slo:
        ax.axhline(slo, color="red", linestyle=":", label=f"SLO p99 {slo:.0f} ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        # Plain numbers at 1, 2 and 5 of each decade: over a narrow range a log axis otherwise labels
        # its minor ticks in overlapping powers of ten.
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("offered requests per second (log)")
    ax.set_ylabel("ms from the scheduled start (log)")
    ax.set_title("p99 (solid) and p50 (dashed) against offered load", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
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
