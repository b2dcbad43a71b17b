"""report.md and a self-contained report.html (inline SVG charts) from results.json.

Run on its own to redraw a report from a finished run's files:
    python -m loadtest.reporting.report reports/<timestamp>
"""

from __future__ import annotations

import argparse
import html
import json
from pathlib import Path

from loadtest.reporting import charts
from loadtest.reporting.results import CellResult, summarize_runs
from loadtest.reporting.tables import Table, all_tables

READING_NOTES = [
    "rps counts successful responses (WebSocket: round trips, chat deliveries) per second of the "
    "measured window; warm-up is excluded.",
    "Percentiles are exact, from up to 100,000 client-side samples per cell.",
    "server CPU s is the CPU time of the server's processes over the window (nginx, PostgreSQL and "
    "Redis not included); req / server CPU s is the efficiency that rps alone hides.",
    "stack CPU s is the whole server side over the window (host run: the server, nginx, PostgreSQL, "
    "Redis and supervisord relaying every log line); all of it shares the server CPUs.",
    "loadgen CPU % is the load generator's on-CPU time in percent of one core; demand % is its "
    "busiest thread's time on a CPU plus waiting for one. A cell whose demand passes the threshold "
    "measured the load generator, not the server, and is marked invalid.",
]


def _budget_line(meta: dict) -> str:
    """What each side was allowed: CPUs, processes per server, users."""
    budgets = meta.get("budgets")
    if not budgets:  # results.json from before budgets were recorded
        return f"CPUs: load generator {meta['loadgen_cpus']}, servers {meta['server_cpus']}"
    pinned = "pinned" if meta.get("pinned") else "NOT pinned"
    line = (
        f"budgets ({pinned}): server side (app server, nginx, PostgreSQL, Redis) on CPUs "
        f"{budgets['server_cpus']}, load generator (Locust, wrk) on CPUs {budgets['loadgen_cpus']}"
    )
    concurrency = budgets.get("web_concurrency") or {}
    if concurrency:
        processes = budgets.get("server_processes") or {}
        line += "; WEB_CONCURRENCY " + ", ".join(
            f"{name} {value or '?'}" + (f" ({processes[name]} processes)" if processes.get(name) else "")
            for name, value in concurrency.items()
        )
    return line


def _meta_lines(results: dict) -> list[str]:
    meta, env = results["meta"], results["environment"]
    servers = ", ".join(f"{s['name']} ({s['label']})" for s in meta["servers"])
    lines = [
        f"profile **{meta['profile']}**, target **{meta['target']}**, {meta['started']} → {meta['finished']}"
        + (" — **interrupted**, finished cells only" if meta.get("interrupted") else ""),
        f"servers: {servers}",
        "users per cell: "
        + ", ".join(f"{kind} {count}" for kind, count in meta["users"].items())
        + " (unless the scenario fixes its own)",
        f"warm-up {meta['warmup_s']} s, measured {meta['measure_s']:.1f} s, {meta['runs']} run(s) per cell",
        _budget_line(meta),
        f"load generator bound when a thread wants over {meta['bound_threshold'] * 100:.0f} % of a core",
        f"machine: {env['cpu_model']}, {env['cpus']} CPUs, {env['memory']}, {env['os']}, "
        f"kernel {env['kernel']}, Python {env['python']}",
        "versions: "
        + ", ".join(f"{name} {version}" for name, version in env["packages"].items() if version)
        + (f", {env['wrk']}" if env.get("wrk") else ""),
    ]
    return lines + [f"note: {note}" for note in meta.get("notes", [])]


def markdown_table(table: Table) -> str:
    lines = [f"### {table.title}", ""]
    if table.note:
        lines += [table.note, ""]
    lines.append("| " + " | ".join(table.headers) + " |")
    lines.append("|" + "---|" * len(table.headers))
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def render_markdown(results: dict, tables: list[Table], chart_names: list[str]) -> str:
    parts = ["# Server benchmark", ""]
    parts += [f"- {line}" for line in _meta_lines(results)]
    parts += ["", "## How to read", ""] + [f"- {note}" for note in READING_NOTES] + ["", "## Results", ""]
    parts += [markdown_table(table) for table in tables]
    parts += ["## Charts", ""] + [f"![{name}](charts/{name}.png)" for name in chart_names]
    return "\n".join(parts) + "\n"


def html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = "".join(
        f"<tr{' class=invalid' if any(cell.startswith('NO:') for cell in row) else ''}>"
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in row)
        + "</tr>"
        for row in table.rows
    )
    note = f"<p>{html.escape(table.note)}</p>" if table.note else ""
    return f"<h3>{html.escape(table.title)}</h3>{note}<table><tr>{head}</tr>{body}</table>"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.invalid td { background: #fde8e8; color: #777; }
figure { margin: 1em 0; } svg { max-width: 100%; height: auto; }
"""


def render_html(results: dict, tables: list[Table], svgs: dict[str, str]) -> str:
    meta = "".join(f"<li>{html.escape(line).replace('**', '')}</li>" for line in _meta_lines(results))
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in READING_NOTES)
    figures = "".join(
        f"<figure>{svg}<figcaption>{html.escape(name)}</figcaption></figure>" for name, svg in svgs.items()
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Server benchmark</title>"
        f"<style>{STYLE}</style></head><body><h1>Server benchmark</h1><ul>{meta}</ul>"
        f"<h2>How to read</h2><ul>{notes}</ul><h2>Results</h2>{''.join(html_table(t) for t in tables)}"
        f"<h2>Charts</h2>{figures}</body></html>\n"
    )


def write(directory: Path) -> None:
    """(Re)write the report files in directory from its results.json and samples.json."""
    results = json.loads((directory / "results.json").read_text())
    samples_file = directory / "samples.json"
    samples = json.loads(samples_file.read_text()) if samples_file.exists() else {}
    summaries = summarize_runs([CellResult.from_dict(cell) for cell in results["cells"]])
    servers = [server["name"] for server in results["meta"]["servers"]]
    tables = all_tables(summaries)
    svgs = charts.draw_all(summaries, samples, servers, directory / "charts")
    (directory / "report.md").write_text(render_markdown(results, tables, list(svgs)))
    (directory / "report.html").write_text(render_html(results, tables, svgs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    write(parser.parse_args().directory)


if __name__ == "__main__":
    main()
