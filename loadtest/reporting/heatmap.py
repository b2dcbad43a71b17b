"""The one picture of a run: servers x scenarios, each cell the server's figure as a ratio to the
baseline's in the same scenario, on the measure that matters for the scenario's family.

Rows are grouped by protocol (and stock Django apart, where the run has it) and labelled in their
group's colour; an invalid cell is hatched and says so, and a cell a server cannot run is blank.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # files only; no display on a server

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from loadtest.reporting.findings import METRICS, Cells, family_of  # noqa: E402
from loadtest.reporting.lineup import GROUPS  # noqa: E402

SCALE = 3.0  # colours saturate at 2**3 = 8x better or worse than the baseline
COLOURS = plt.get_cmap("PiYG")  # green better, pink worse: apart from the protocols' blue and orange


def columns(cells: Cells) -> list[str]:
    """Every scenario with a measure: the bench's own checks (wrk, refused handshakes) are not results."""
    return [name for name in cells.scenarios if family_of(name) in METRICS]


def column_title(cells: Cells, name: str) -> str:
    return f"{name}\n{METRICS[family_of(name)].unit}\n÷ {cells.baseline_label(name)}"


def heatmap(cells: Cells):
    names, servers = columns(cells), cells.lineup.contenders
    if not names or not servers:
        return None
    norm = Normalize(-SCALE, SCALE)
    figure, ax = plt.subplots(figsize=(3.0 + 1.0 * len(names), 0.95 + 0.29 * len(servers)))
    for y, contender in enumerate(servers):
        for x, name in enumerate(names):
            cell = cells.get(name, contender.name)
            ratio = cells.ratio(name, contender.name)
            if cell is None:  # not run: a WSGI server has no WebSocket cell
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor="#f4f4f4", edgecolor="white"))
                ax.text(x, y, "–", ha="center", va="center", color="#999", fontsize=9)
            elif not cell.valid:
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor="#dddddd", hatch="///",
                                       edgecolor="#999999"))
                ax.text(x, y, "invalid", ha="center", va="center", fontsize=8, color="#333",
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
            elif ratio is None:  # the baseline itself has no valid figure here
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor="#f4f4f4", edgecolor="white"))
                ax.text(x, y, "baseline\ninvalid", ha="center", va="center", color="#666", fontsize=7,
                        linespacing=0.9)
            else:
                # A server that held no client at all is a ratio of 0: as far below as the scale goes.
                shade = norm(max(-SCALE, min(SCALE, math.log2(ratio)))) if ratio > 0 else norm(-SCALE)
                ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=COLOURS(shade), edgecolor="white"))
                strong = abs(shade - 0.5) > 0.3
                ax.text(x, y, f"{ratio:.2f}×", ha="center", va="center", fontsize=10,
                        color="white" if strong else "black",
                        fontweight="bold" if contender.name == cells.baseline(name) else "normal")
    palette = cells.lineup.colours()
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylim(len(servers) - 0.5, -0.5)
    ax.set_xticks(range(len(names)), [column_title(cells, name) for name in names], fontsize=9)
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(servers)), [c.name for c in servers], fontsize=10)
    for label, contender in zip(ax.get_yticklabels(), servers, strict=True):
        label.set_color(palette[contender.name])
        label.set_fontweight("bold")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    # A band and a title per protocol group, so WSGI and ASGI read as blocks.
    for group in GROUPS:
        rows = [y for y, c in enumerate(servers) if c.group == group]
        if not rows:
            continue
        top, bottom = rows[0] - 0.5, rows[-1] + 0.5
        colour = cells.lineup.group_colour(group)
        ax.add_patch(Rectangle((len(names) - 0.45, top + 0.05), 0.08, bottom - top - 0.1, color=colour,
                               clip_on=False))
        # Horizontal: a group of one row has no height to hold its title on its side.
        ax.text(len(names) - 0.3, (top + bottom) / 2, cells.lineup.group_title(group).replace(", ", "\n"),
                va="center", ha="left", fontsize=8, color=colour, fontweight="bold", linespacing=1.0)
        if top > -0.5:
            ax.axhline(top, color="black", linewidth=1.2)
    figure.tight_layout()
    return figure
