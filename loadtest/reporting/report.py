"""report.md and a self-contained report.html (inline SVG charts) from results.json.

What a reader sees, in order: the run in one line, the findings in sentences built from this
run's numbers, the heat map of the whole comparison, how to read it, then each scenario with its
chart beside its table (grouped by family), and the run's full details folded at the end.

Run on its own to redraw a report from a finished run's files:
    python -m loadtest.reporting.report reports/<timestamp>
"""

from __future__ import annotations

import argparse
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.model.results import CellResult, summarize_runs
from loadtest.reporting import charts, definitions, heatmap, lineup
from loadtest.reporting.findings import Cells, Findings, family_of, findings
from loadtest.reporting.tables import Table, ceiling_sentence, http_ceiling_sentence, section_tables
from loadtest.scenarios.catalog import FAMILIES, KINDS, SCENARIOS

TITLE = "Server benchmark"
NAV_FAMILIES = {"sync": "sync work", "waiting": "waiting", "websocket": "WebSockets", "capacity": "capacity",
                "rate": "rate at an SLO", "check": "checks"}
READING_NOTES = definitions.reading_notes()
HEATMAP_NOTE = (
    "Each cell is the server's figure in that scenario as a ratio to the baseline's (named under the "
    "scenario): requests per server CPU second for sync work and WebSockets, requests per second at "
    "equal users for waiting (a waiting server is idle, so CPU per request would reward the slowest), "
    "clients held for capacity, the highest rate held within the p99 SLO for the open-loop ramp. "
    "Green: better than the baseline, pink: worse. Hatched: invalid, not a "
    "result (where the baseline's own cell is, its column has no ratios). A dash: not measured (WSGI "
    "servers cannot serve WebSockets). Rows are grouped and "
    "coloured by protocol."
)


# A ramp's chart, by the figure it reports: (the chart's name after the scenario's, how to draw it).
RAMP_CHARTS = {
    "clients_held": ("clients_held", charts.capacity_chart),
    "sustained_rps": ("latency_by_load", charts.open_loop_chart),
}
PICK_NOTE = (
    "From this run's numbers: each workload by its families' figures above (mixed: one server for sync "
    "views, waits and WebSockets, so an ASGI server), the margin over the runner-up, and whether it is "
    "wider than the widest spread (max - min over runs) of either's cells, in the figure each family is "
    "judged by."
)


@dataclass
class Section:
    """One scenario: its charts (name -> inline SVG) and tables."""

    name: str
    description: str
    charts: dict[str, str] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)


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
        ceiling_sentence(meta.get("client_ceiling")),
        http_ceiling_sentence(meta.get("http_ceiling")),
        f"machine: {env['cpu_model']}, {env['cpus']} CPUs, {env['memory']}, {env['os']}, "
        f"kernel {env['kernel']}, Python {env['python']}",
        "versions: "
        + ", ".join(f"{name} {version}" for name, version in env["packages"].items() if version)
        + (f", {env['wrk']}" if env.get("wrk") else ""),
    ]
    return lines + [f"note: {note}" for note in meta.get("notes", [])]


def headline(results: dict, cells: Cells) -> str:
    """The run in one line, above everything: what was compared, on what budget."""
    meta = results["meta"]
    budgets = meta.get("budgets") or {}
    concurrency = sorted({str(v) for v in (budgets.get("web_concurrency") or {}).values() if v})
    parts = [
        f"{meta['profile']} profile, {meta['started'][:16].replace('T', ' ')} UTC",
        f"{len(cells.lineup.contenders)} servers × {len(cells.scenarios)} scenarios",
        f"{meta['runs']} run{'s' if meta['runs'] != 1 else ''} per cell",
    ]
    if budgets:
        parts.append(
            f"servers on CPU {budgets['server_cpus']}, load on CPU {budgets['loadgen_cpus']}"
            + ("" if meta.get("pinned") else " (not pinned)")
        )
    if concurrency:
        parts.append(f"WEB_CONCURRENCY {'/'.join(concurrency)}")
    if meta.get("interrupted"):
        parts.append("**interrupted: finished cells only**")
    return " · ".join(parts)


def families_in(sections: list[Section]) -> list[tuple[str, list[Section]]]:
    grouped: dict[str, list[Section]] = {}
    for section in sections:
        grouped.setdefault(family_of(section.name), []).append(section)
    return [(family, grouped[family]) for family in FAMILIES if family in grouped]


def _anchor(name: str) -> str:
    return "s-" + re.sub(r"[^a-z0-9_-]", "-", name.lower())


# ---------------------------------------------------------------------------------------- Markdown


def markdown_table(table: Table, titled: bool = True) -> str:
    lines = [f"#### {table.title}", ""] if titled else []
    if table.note:
        lines += [table.note, ""]
    lines.append("| " + " | ".join(table.headers) + " |")
    lines.append("|" + "---|" * len(table.headers))
    lines += [
        "| " + " | ".join(f"**{c}**" if (r, i) in table.best else c for i, c in enumerate(row)) + " |"
        for r, row in enumerate(table.rows)
    ]
    return "\n".join(lines) + "\n"


def render_markdown(results: dict, cells: Cells, found: Findings, sections: list[Section],
                    heat: bool) -> str:
    parts = [f"# {TITLE}", "", headline(results, cells), "", "## What this run found", ""]
    parts += [f"- {line}" for line in found.stories]
    if heat:
        parts += ["", "![heat map](charts/heatmap.png)", "", HEATMAP_NOTE]
    parts += ["", "### How far to trust it", ""] + [f"- {line}" for line in found.trust]
    if found.picks:
        parts += ["", "### Which server to pick", "", PICK_NOTE, ""] + [f"- {line}" for line in found.picks]
    parts += ["", "## How to read", ""] + [f"- {note}" for note in READING_NOTES] + [""]
    for family, members in families_in(sections):
        parts += [f"## {FAMILIES[family].capitalize()}", ""]
        for section in members:
            parts += [f"### {section.name}", "", section.description, ""]
            parts += [f"![{name}](charts/{name}.png)" for name in section.charts] + [""]
            parts += [markdown_table(table, table.key != section.name) for table in section.tables]
    parts += ["## Run details", "", "<details><summary>machine, versions, budgets, pinning</summary>", ""]
    parts += [f"- {line}" for line in _meta_lines(results)] + ["", "</details>"]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------- HTML


def inline(text: str) -> str:
    """The findings' Markdown emphasis (** and `) as HTML, everything else escaped."""
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)


def html_table(table: Table, swatches: dict[str, int], titled: bool = True) -> str:
    head = "".join(f"<th scope=col>{html.escape(h)}</th>" for h in table.headers)

    def cell(r: int, i: int, text: str) -> str:
        if i == 0 and text in swatches:
            return f"<th scope=row><span class='sw sw{swatches[text]}'></span>{html.escape(text)}</th>"
        if (r, i) in table.best:
            return f"<td class=best><strong>{html.escape(text)}</strong></td>"
        return f"<td>{html.escape(text)}</td>"

    body = "".join(
        f"<tr{' class=invalid' if any(c.startswith('NO:') for c in row) else ''}>"
        + "".join(cell(r, i, text) for i, text in enumerate(row))
        + "</tr>"
        for r, row in enumerate(table.rows)
    )
    note = f"<p class=note>{html.escape(table.note)}</p>" if table.note else ""
    return (
        (f"<h4>{html.escape(table.title)}</h4>" if titled else "") + note +
        f"<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


STYLE = """
:root { color-scheme: light; --ink: #1d1d1f; --muted: #5b5b66; --rule: #d9d9e0; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 75rem; padding: 1rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; } h2 { font-size: 1.3rem; margin: 2rem 0 0.5rem;
  border-bottom: 1px solid var(--rule); padding-bottom: 0.2rem; } h3 { margin: 1.6rem 0 0.2rem; }
h4 { font-size: 0.95rem; margin: 0.8rem 0 0.3rem; }
p, li { max-width: 80ch; } p.run { color: var(--muted); margin: 0 0 0.5rem; max-width: none; }
nav { font-size: 0.8rem; border-top: 1px solid var(--rule); border-bottom: 1px solid var(--rule);
      padding: 0.3rem 0; margin-bottom: 0.5rem; }
nav a { margin-right: 0.6rem; white-space: nowrap; }
nav .family { color: var(--muted); margin-right: 0.3rem; white-space: nowrap; }
ul.findings { padding-left: 1.2rem; margin: 0.3rem 0; }
ul.findings li { margin: 0.2rem 0; max-width: none; line-height: 1.42; }
.scroll { overflow-x: auto; max-width: 100%; }
figure { margin: 0.5rem 0; } figcaption, .note { color: var(--muted); font-size: 0.88rem; max-width: 80ch; }
svg { width: 100%; height: auto; display: block; }
.heat svg { min-width: 46rem; max-width: 54rem; }
.pair { display: grid; grid-template-columns: minmax(0, 24rem) minmax(0, 1fr); gap: 1.25rem;
        align-items: start; }
.pair .charts svg { max-width: 24rem; }
@media (max-width: 62rem) { .pair { grid-template-columns: minmax(0, 1fr); } }
table { border-collapse: collapse; font-size: 0.85rem; margin-bottom: 0.6rem; }
th, td { border: 1px solid var(--rule); padding: 0.25rem 0.5rem; text-align: right; }
td { white-space: nowrap; }
thead th { background: #f3f3f7; font-weight: 600; vertical-align: bottom; }
th[scope=row] { text-align: left; white-space: nowrap; font-weight: 600; }
td.best { background: #e4f5e1; }
tr.invalid td, tr.invalid th { background: #fbe9e9; color: #777; }
.sw { display: inline-block; width: 0.7em; height: 0.7em; border-radius: 2px; margin-right: 0.35em; }
details { margin-top: 0.5rem; } summary { cursor: pointer; color: var(--muted); }
code { font-size: 0.9em; background: #f3f3f7; padding: 0 0.2em; border-radius: 3px; }
"""


def _swatch_style(colours: dict[str, str]) -> tuple[dict[str, int], str]:
    numbers = {name: i for i, name in enumerate(colours)}
    return numbers, "".join(f".sw{i} {{ background: {colours[name]}; }}" for name, i in numbers.items())


def render_html(results: dict, cells: Cells, found: Findings, sections: list[Section],
                heat_svg: str | None) -> str:
    swatches, swatch_css = _swatch_style(cells.lineup.colours())
    families = families_in(sections)
    nav = ["<a href='#findings'>Findings</a>", "<a href='#reading'>How to read</a>"]
    for family, members in families:
        links = " ".join(f"<a href='#{_anchor(s.name)}'>{html.escape(s.name)}</a>" for s in members)
        nav.append(f"<span class=family>{html.escape(NAV_FAMILIES.get(family, family))}:</span>{links}")
    nav.append("<a href='#details'>Run details</a>")
    body = [
        f"<header><h1>{TITLE}</h1><p class=run>{inline(headline(results, cells))}</p>",
        f"<nav aria-label='Contents'>{' '.join(nav)}</nav></header>",
        "<section id=findings><h2>What this run found</h2><ul class=findings>",
        "".join(f"<li>{inline(line)}</li>" for line in found.stories),
        "</ul>",
    ]
    if heat_svg:
        body.append(
            f"<figure class=heat id=heatmap><div class=scroll>{heat_svg}</div>"
            f"<figcaption>{html.escape(HEATMAP_NOTE)}</figcaption></figure>"
        )
    body.append("<div id=trust><h3>How far to trust it</h3><ul class=findings>")
    body.append("".join(f"<li>{inline(line)}</li>" for line in found.trust) + "</ul></div>")
    if found.picks:
        body.append(f"<div id=picks><h3>Which server to pick</h3><p class=note>{html.escape(PICK_NOTE)}</p>"
                    "<ul class=findings>" + "".join(f"<li>{inline(line)}</li>" for line in found.picks)
                    + "</ul></div>")
    body.append("</section>")
    body.append("<section id=reading><h2>How to read</h2><ul>")
    body.append("".join(f"<li>{inline(note)}</li>" for note in READING_NOTES) + "</ul></section>")
    for family, members in families:
        body.append(f"<section><h2>{html.escape(FAMILIES[family].capitalize())}</h2>")
        for section in members:
            charts_html = "".join(f"<figure>{svg}</figure>" for svg in section.charts.values())
            # The section's heading names its own scenario: only the other tables need a title.
            tables_html = "".join(html_table(t, swatches, t.key != section.name) for t in section.tables)
            body.append(
                f"<article id={_anchor(section.name)}><h3>{html.escape(section.name)}</h3>"
                f"<p class=note>{html.escape(section.description)}</p>"
                + (f"<div class=pair><div class=charts>{charts_html}</div><div>{tables_html}</div></div>"
                   if charts_html else tables_html)
                + "</article>"
            )
        body.append("</section>")
    meta = "".join(f"<li>{inline(line)}</li>" for line in _meta_lines(results))
    body.append(
        "<section id=details><h2>Run details</h2><details><summary>machine, versions, budgets, pinning, "
        f"notes</summary><ul>{meta}</ul></details></section>"
    )
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset='utf-8'>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        # No icon to fetch: opened from disk, the browser would look for one and log its absence.
        "<link rel=icon href='data:,'>"
        f"<title>{TITLE}: {html.escape(results['meta']['started'])}</title>"
        f"<style>{STYLE}{swatch_css}</style></head><body>{''.join(body)}</body></html>\n"
    )


# ---------------------------------------------------------------------------------------- files


def build_sections(summaries, cells: Cells, samples: dict, directory: Path,
                   ceiling: dict | None = None, http_ceiling: dict | None = None) -> list[Section]:
    """Every scenario's section, its charts drawn and saved as PNG beside the report."""
    colours = cells.lineup.colours()
    descriptions = {s.name: s.description for s in SCENARIOS}
    sections = []
    for name, tables in section_tables(summaries, cells.lineup.names, ceiling, http_ceiling).items():
        section = Section(name, descriptions.get(name, ""), tables=tables)
        rows = [cells.get(name, server) for server in cells.lineup.names]
        rows = [row for row in rows if row is not None]
        figures = {}
        kind = KINDS[rows[0].kind] if rows else None
        if kind is not None and kind.figure:
            suffix, draw = RAMP_CHARTS[kind.figure]
            figures[f"{name}_{suffix}"] = draw(rows, colours)
        elif kind is not None and kind.rated:
            figures[name] = charts.scenario_chart(rows, colours)
        if samples.get(name):
            figures[f"{name}_distribution"] = charts.distribution_chart(name, samples[name], colours)
        for chart, figure in figures.items():
            if figure is not None:
                section.charts[chart] = charts.save(figure, chart, directory)
        sections.append(section)
    return sections


def write(directory: Path) -> None:
    """(Re)write the report files in directory from its results.json and samples.json."""
    results = json.loads((directory / "results.json").read_text())
    samples_file = directory / "samples.json"
    samples = json.loads(samples_file.read_text()) if samples_file.exists() else {}
    runs = [CellResult.from_dict(cell) for cell in results["cells"]]
    summaries = summarize_runs(runs)
    cells = Cells(summaries, lineup.from_meta(results["meta"]))
    errors = {}
    for run in runs:
        if run.error:
            errors.setdefault((run.scenario, run.server), run.error)
    found = findings(summaries, cells.lineup, errors)
    figure = heatmap.heatmap(cells)
    heat_svg = charts.save(figure, "heatmap", directory / "charts") if figure is not None else None
    ceiling = results["meta"].get("client_ceiling")
    sections = build_sections(summaries, cells, samples, directory / "charts", ceiling,
                              results["meta"].get("http_ceiling"))
    markdown = render_markdown(results, cells, found, sections, heat_svg is not None)
    (directory / "report.md").write_text(markdown)
    (directory / "findings.json").write_text(json.dumps(found.as_dict(), indent=2))
    (directory / "report.html").write_text(render_html(results, cells, found, sections, heat_svg))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    write(parser.parse_args().directory)


if __name__ == "__main__":
    main()
