"""The soak's chart: RSS of each server's process tree over time, with its least-squares trend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on a server

import matplotlib.pyplot as plt  # noqa: E402

from loadtest.measuring.trend import memory_slope  # noqa: E402
from loadtest.model.soak import ServerSoak  # noqa: E402


def draw_chart(path: Path, servers: list[ServerSoak], settle_s: float) -> bool:
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
