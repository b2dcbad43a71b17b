"""The soak's record per server, its summary and its files: soak.json, soak.csv, soak.md.

No Locust here (it monkey-patches the interpreter), so the tests import this module alone;
loadtest.soak drives the load and calls it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

from loadtest.measuring.percentiles import summarize
from loadtest.measuring.trend import memory_slope, verdict
from loadtest.model.soak import ServerSoak
from loadtest.reporting.soak_chart import draw_chart


def summarize_server(server: ServerSoak, settle_s: float, threshold: float) -> dict:
    end = server.samples[-1].t_s if server.samples else 0.0
    after = memory_slope(server.samples, settle_s)
    last_half = memory_slope(server.samples, max(settle_s, end / 2))
    pss = memory_slope(server.samples, settle_s, "pss_mb")
    first, last = (server.samples[0], server.samples[-1]) if server.samples else (None, None)
    return {
        "server": server.name,
        "rss_start_mb": first.rss_mb if first else None,
        "rss_end_mb": last.rss_mb if last else None,
        "rss_max_mb": max((s.rss_mb for s in server.samples), default=None),
        "slope_mb_per_min": round(after.slope, 3) if after else None,
        "slope_r2": round(after.r2, 3) if after and after.r2 is not None else None,
        "slope_last_half_mb_per_min": round(last_half.slope, 3) if last_half else None,
        "pss_slope_mb_per_min": round(pss.slope, 3) if pss else None,
        "verdict": verdict(after, last_half, threshold),
        "processes_end": last.processes if last else None,
        "processes_replaced": server.replaced,
        "requests": server.recorder.ok,
        "failures": sum(server.recorder.failures.values()),
        "failure_kinds": dict(server.recorder.failures.most_common(5)),
        **summarize(server.recorder.samples.values),
        "error": server.error,
    }


# ---- the report ----------------------------------------------------------------------------


def write_report(out: Path, meta: dict, environment: dict, servers: list[ServerSoak], settle_s: float,
                 threshold: float) -> None:
    summaries = [summarize_server(server, settle_s, threshold) for server in servers]
    document = {
        "meta": meta,
        "environment": environment,
        "summary": summaries,
        "samples": {server.name: [asdict(sample) for sample in server.samples] for server in servers},
    }
    (out / "soak.json").write_text(json.dumps(document, indent=2))
    with open(out / "soak.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["server", "t_s", "rss_mb", "pss_mb", "processes", "requests"])
        for server in servers:
            for s in server.samples:
                writer.writerow([server.name, s.t_s, s.rss_mb, s.pss_mb, s.processes, s.requests])
    chart = draw_chart(out / "rss.png", servers, settle_s)
    (out / "soak.md").write_text(render_markdown(meta, environment, summaries, chart))


def _fmt(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def render_markdown(meta: dict, environment: dict, summaries: list[dict], chart: bool) -> str:
    lines = [
        "# Soak",
        "",
        f"- {meta['started']} → {meta['finished']}, {meta['duration_s'] / 60:.1f} min"
        + (" — **interrupted**" if meta["interrupted"] else "")
        + f", target **{meta['target']}**",
        f"- load per server, all servers at once: {meta['rate_per_server']:g} steps/s from "
        f"{meta['users_per_server']} users; the HTTP mix {', '.join(meta['paths'])}; ASGI servers: every "
        f"{meta['ws_every']}th step a WebSocket session (echo x {meta['ws_round_trips']}, or a chat "
        "broadcast)",
        f"- memory sampled every {meta['sample_every_s']:g} s: RSS and PSS summed over the server's process "
        f"tree; slopes by least squares after the first {meta['settle_s']:g} s",
        f"- flagged **growing** when both the slope after settling and the slope over the last half exceed "
        f"{meta['threshold_mb_per_min']:g} MB/min",
        f"- machine: {environment['cpu_model']}, {environment['cpus']} CPUs, {environment['memory']}, "
        f"Python {environment['python']}",
        "",
        "| server | RSS start MB | RSS end MB | RSS max MB | slope MB/min (r²) | last half MB/min | "
        "PSS slope MB/min | verdict | processes (replaced) | requests | failures | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        r2 = f" ({s['slope_r2']:.2f})" if s["slope_r2"] is not None else ""
        lines.append(
            f"| {s['server']} | {_fmt(s['rss_start_mb'])} | {_fmt(s['rss_end_mb'])} | "
            f"{_fmt(s['rss_max_mb'])} | "
            f"{_fmt(s['slope_mb_per_min'], 2)}{r2} | {_fmt(s['slope_last_half_mb_per_min'], 2)} | "
            f"{_fmt(s['pss_slope_mb_per_min'], 2)} | {s['verdict']} | {_fmt(s['processes_end'], 0)} "
            f"({s['processes_replaced']}) | {s['requests']:,} | {s['failures']:,} | {_fmt(s['p50_ms'])} | "
            f"{_fmt(s['p99_ms'])} |"
        )
    problems = [f"- {s['server']}: {s['error']}" for s in summaries if s["error"]]
    problems += [
        f"- {s['server']}: {kind} × {count}" for s in summaries for kind, count in s["failure_kinds"].items()
    ]
    if problems:
        lines += ["", "## Problems", "", *problems]
    if chart:
        lines += ["", "![RSS over time](rss.png)"]
    return "\n".join(lines) + "\n"
