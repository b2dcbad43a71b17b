"""The soak's measurements and report: memory of a process tree, its trend, the Markdown and chart.

No Locust here (it monkey-patches the interpreter), so the tests import this module alone;
loadtest.soak drives the load and calls it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from loadtest.percentiles import Reservoir, summarize

MB = 1024 * 1024
WS_ROUND_TRIPS = 5  # echo round trips per WebSocket session


# ---- memory of a process tree ---------------------------------------------------------------


def process_memory(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) bytes of one process; None when it is gone. PSS falls back to RSS."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except PermissionError:
        text = None
    except (FileNotFoundError, ProcessLookupError):
        return None
    values = {}
    if text:
        for line in text.splitlines():
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                values[name] = int(rest.split()[0]) * 1024
    if "Rss" not in values:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                values["Rss"] = int(line.split()[1]) * 1024
    if "Rss" not in values:
        return None  # a kernel thread or a zombie
    return values["Rss"], values.get("Pss", values["Rss"])


@dataclass
class Sample:
    t_s: float  # since the soak started
    rss_mb: float
    pss_mb: float
    processes: int
    requests: int  # successful so far


def sample_tree(pids: list[int], t_s: float, requests: int) -> Sample:
    rss = pss = count = 0
    for pid in pids:
        memory = process_memory(pid)
        if memory is None:
            continue
        rss, pss, count = rss + memory[0], pss + memory[1], count + 1
    return Sample(round(t_s, 2), round(rss / MB, 2), round(pss / MB, 2), count, requests)


# ---- the trend -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    slope: float  # per minute
    intercept: float
    r2: float | None  # None when every value is the same
    points: int


def least_squares(points: list[tuple[float, float]]) -> Fit | None:
    """Ordinary least squares y = slope * x + intercept; None with fewer than 2 distinct x."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    syy = sum((y - mean_y) ** 2 for _, y in points)
    slope = sxy / sxx
    r2 = (sxy * sxy) / (sxx * syy) if syy > 0 else None
    return Fit(slope, mean_y - slope * mean_x, r2, n)


def memory_slope(samples: list[Sample], since_s: float = 0.0, value: str = "rss_mb") -> Fit | None:
    """MB per minute over the samples taken at or after since_s."""
    return least_squares([(s.t_s / 60, getattr(s, value)) for s in samples if s.t_s >= since_s])


@dataclass
class ServerSoak:
    name: str
    protocol: str
    port: int
    samples: list[Sample] = field(default_factory=list)
    pids_seen: set[int] = field(default_factory=set)
    replaced: int = 0  # processes of the tree that went away during the soak
    ok: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    latencies: Reservoir = field(default_factory=lambda: Reservoir(20_000))
    error: str | None = None

    def record_pids(self, pids: list[int]) -> None:
        current = set(pids)
        if self.pids_seen:
            self.replaced += len(self.pids_seen - current)
        self.pids_seen = current


def verdict(after_settle: Fit | None, last_half: Fit | None, threshold: float) -> str:
    """'growing' when memory climbs faster than threshold MB/min after settling and still at the end."""
    if after_settle is None or last_half is None:
        return "too short"
    if after_settle.slope > threshold and last_half.slope > threshold:
        return "growing"
    return "flat"


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
        "requests": server.ok,
        "failures": sum(server.failures.values()),
        "failure_kinds": dict(sorted(server.failures.items(), key=lambda kv: -kv[1])[:5]),
        **summarize(server.latencies.values),
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
        f"{meta['ws_every']}th step a WebSocket session (echo x {WS_ROUND_TRIPS}, or a chat broadcast)",
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


def draw_chart(path: Path, servers: list[ServerSoak], settle_s: float) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = [server for server in servers if len(server.samples) >= 2]
    if not drawn:
        return False
    figure, ax = plt.subplots(figsize=(9, 4.5))
    for server in drawn:
        minutes = [s.t_s / 60 for s in server.samples]
        (line,) = ax.plot(minutes, [s.rss_mb for s in server.samples], label=server.name)
        fit = memory_slope(server.samples, settle_s)
        if fit is not None:
            start = settle_s / 60
            ax.plot([start, minutes[-1]], [fit.intercept + fit.slope * x for x in (start, minutes[-1])],
                    linestyle="--", color=line.get_color(), alpha=0.7)
            line.set_label(f"{server.name} ({fit.slope:+.2f} MB/min)")
    if settle_s:
        ax.axvline(settle_s / 60, color="grey", linestyle=":", label="settled")
    ax.set_xlabel("minutes")
    ax.set_ylabel("RSS of the process tree, MB")
    ax.set_title("Server memory under a steady load (dashed: least-squares trend)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
