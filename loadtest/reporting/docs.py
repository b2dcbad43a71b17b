"""`make docs`: every table and quoted figure of README.md and docs/ from their one source.

A doc marks what is generated with `<!-- generated: NAME -->` ... `<!-- /generated -->`; this
module fills each region from the committed reference run (docs/results/<latest>/results.json,
whose report.html and charts it redraws beside it), servers.toml or the Makefile, and leaves the
text around it alone. Dropping a new run into docs/results/<date>/ and running `make docs`
updates every figure.

The reference run is two bench runs of one code version: `make bench RUNS=3` in <date>/, and the
full profile's cells the quick one does not have (the capacity ramps, the async variants) in
<date>/full/. Each keeps its own profile's users and windows, so neither is merged into the
other; a region named `full-...` renders from the second.

    python -m loadtest.reporting.docs            rewrite what changed
    python -m loadtest.reporting.docs --check    list what would change, exit 1 if anything would
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import matplotlib

from loadtest.model.results import CellResult, summarize_runs
from loadtest.reporting import definitions, lineup, report
from loadtest.reporting.findings import Cells, Findings, findings
from loadtest.reporting.tables import section_tables
from stack import servers

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FULL = "full"  # the full profile's cells, in a folder of the reference run
REGION = re.compile(r"(<!-- generated: ([a-z-]+) -->\n)(.*?)(<!-- /generated -->)", re.S)

# Charts drawn the same from the same results.json: matplotlib's SVG ids and date vary otherwise.
matplotlib.rcParams["svg.hashsalt"] = "make-docs"
os.environ.setdefault("SOURCE_DATE_EPOCH", "0")


def latest_run() -> Path:
    runs = sorted(p.parent for p in RESULTS.glob("*/results.json"))
    if not runs:
        raise SystemExit(f"make docs: no run in {RESULTS.relative_to(ROOT)}/<date>/results.json")
    return runs[-1]


@dataclass
class Sources:
    """What the regions are made of, read once."""

    run: Path

    @cached_property
    def results(self) -> dict:
        return json.loads((self.run / "results.json").read_text())

    @cached_property
    def runs(self) -> list[CellResult]:
        return [CellResult.from_dict(cell) for cell in self.results["cells"]]

    @cached_property
    def cells(self) -> Cells:
        return Cells(summarize_runs(self.runs), lineup.from_meta(self.results["meta"]))

    @cached_property
    def found(self) -> Findings:
        errors: dict[tuple[str, str], str] = {}
        for run in self.runs:
            if run.error:
                errors.setdefault((run.scenario, run.server), run.error)
        return findings(list(self.cells.by.values()), self.cells.lineup, errors)

    @cached_property
    def topology(self) -> servers.Topology:
        return servers.load()

    @cached_property
    def full(self) -> Sources | None:
        """The full profile's run beside this one, if committed."""
        return Sources(self.run / FULL) if (self.run / FULL / "results.json").exists() else None


def link(doc: Path, target: Path) -> str:
    return os.path.relpath(target, doc.parent)


# ---------------------------------------------------------------------------------------- regions


def run_line(src: Sources, doc: Path) -> str:
    """Which run the figures come from, honestly: its date, code version and coverage."""
    meta, env = src.results["meta"], src.results["environment"]
    ran = {s["name"] for s in meta["servers"]}
    missing = [name for name in src.topology.names if name not in ran]
    commit = meta.get("commit")
    command = f"make bench PROFILE={meta['profile']}"
    if meta["profile"] == "full":  # the full profile's cells of a reference run are a chosen few
        command += f" SCENARIOS={','.join(meta['scenarios'])}"
    if meta["runs"] != 1 or meta["profile"] == "full":
        command += f" RUNS={meta['runs']}"
    parts = [
        f"The figures come from the committed run of {meta['started'][:16].replace('T', ' ')} UTC",
        f"`{command}` on the {meta['target']} stack",
        f"{meta['runs']} run{'s' if meta['runs'] != 1 else ''} per cell",
        f"{env['cpus']} CPUs ({env['cpu_model']}), {env['os']}",
        f"code version {commit}" if commit else "code version not recorded in the run",
    ]
    line = ", ".join(parts) + "."
    if missing:
        line += (f" It measured {len(ran)} of the {len(src.topology.servers)} servers of `servers.toml` "
                 f"(not: {', '.join(missing)}).")
    report_html = src.run / "report.html"
    return line + (f" Its full report: [report.html]({link(doc, report_html)}) "
                   f"([report.md]({link(doc, src.run / 'report.md')}), "
                   f"[results.json]({link(doc, src.run / 'results.json')})).")


def heat_map(src: Sources, doc: Path) -> str:
    return (f"![Every server against the baseline in every scenario of the reference run]"
            f"({link(doc, src.run / 'charts' / 'heatmap.png')})\n\n{report.HEATMAP_NOTE}")


def server_list(src: Sources, doc: Path) -> str:
    topology = src.topology
    rows = [f"| {s.port} | `{s.name}` | {s.protocol.upper()} | {s.label} |" for s in topology.servers]
    production = topology.production
    return (
        f"{len(topology.servers)} servers, one nginx port each, all running the same Django app "
        f"(from [`servers.toml`]({link(doc, servers.SERVERS_FILE)})):\n\n"
        "| port | server | protocol | what |\n|---|---|---|---|\n"
        f"| {production.port} | production | both | HTTP to `{production.http.name}`, `/ws/` to "
        f"`{production.websocket.name}` (and TLS with HTTP/2 on {production.tls_port}) |\n"
        + "\n".join(rows)
    )


def server_line(src: Sources, doc: Path) -> str:
    topology = src.topology
    ports = [s.port for s in topology.servers]
    return (
        f"**{len(topology.servers)} servers**, each behind its own nginx port ({min(ports)}–{max(ports)}): "
        + ", ".join(f"`{s.name}`" for s in topology.servers)
        + f". Port {topology.production.port} routes as production should (HTTP to "
        f"`{topology.production.http.name}`, `/ws/` to `{topology.production.websocket.name}`; TLS and "
        f"HTTP/2 on {topology.production.tls_port}); [servers]({link(doc, ROOT / 'docs' / 'servers.md')}) "
        "says what each one is."
    )


def topology_diagram(src: Sources, doc: Path) -> str:
    topology = src.topology
    production = topology.production
    width = max(len(s.name) for s in topology.servers)
    lines = [f" client ──► 127.0.0.1:{production.port}  nginx: /static/ from disk, /ws/ ─► "
             f"{production.websocket.name}, the rest ─► {production.http.name}"]
    lines += [f"            127.0.0.1:{s.port}  everything ─► {s.name:<{width}}  ({s.label})"
              for s in topology.servers]
    lines += ["                        │ the same Django app, WEB_CONCURRENCY processes per server",
              "                        ├─► PostgreSQL (a psycopg 3 pool per process)",
              "                        └─► Redis (the Channels layer: chat rooms span every ASGI server)"]
    return "```\n" + "\n".join(lines) + "\n```"


def quirk_table(src: Sources, doc: Path) -> str:
    """Each quirk of servers.toml with the servers that have it, in the order servers.toml first names it."""
    having: dict[str, list[str]] = {}
    for server in src.topology.servers:
        for quirk in server.quirks:
            having.setdefault(quirk, []).append(f"`{server.name}`")
    rows = [f"| {quirk} | {', '.join(names)} |" for quirk, names in having.items()]
    return "| quirk | servers |\n|---|---|\n" + "\n".join(rows)


def ports_line(src: Sources, doc: Path) -> str:
    ports = [src.topology.production.port] + [s.port for s in src.topology.servers]
    return (f"Published ports: {min(ports)}–{max(ports)} (production, then one per server) and "
            f"{src.topology.production.tls_port} (TLS).")


def metric_list(src: Sources, doc: Path) -> str:
    return "\n".join(f"- **{term}**: {meaning}" for term, meaning in definitions.METRICS)


def findings_list(src: Sources, doc: Path) -> str:
    return "\n".join(
        ["### What it found", ""] + [f"- {line}" for line in src.found.stories]
        + ["", "### How far to trust it", ""] + [f"- {line}" for line in src.found.trust]
    )


def result_tables(src: Sources, doc: Path) -> str:
    cells = src.cells
    meta = src.results["meta"]
    tables = section_tables(list(cells.by.values()), cells.lineup.names, meta.get("client_ceiling"),
                            meta.get("http_ceiling"))
    parts = []
    for name, members in tables.items():
        parts.append(f"### {name}\n")
        parts += [report.markdown_table(table, table.key != name) for table in members]
    return "\n".join(parts).rstrip()


def _workload(src: Sources, families: list[str]) -> str:
    """A workload as the run measured it: one family's scenarios, or several families on one server."""
    if len(families) > 1:
        return f"the {', '.join(families[:-1])} and {families[-1]} families, on one server"
    return ", ".join(src.cells.in_family(families[0]))


def pick_table(src: Sources, doc: Path) -> str:
    """The findings' recommendations (findings.json's), one row per workload."""
    rows = ["| workload | measured by | pick | runner-up | margin | beyond the noise? |",
            "|---|---|---|---|---|---|"]
    for pick in src.found.as_dict()["recommendations"]:
        head = f"| {pick['workload']} | {_workload(src, pick['families'])} | **{pick['server']}** |"
        if pick["runner_up"] is None:
            rows.append(f"{head} none: the only server measured for it | | |")
            continue
        noise = pick["noise_pct"]
        verdict = ("one run per cell: not judged" if pick["beyond_noise"] is None
                   else f"{'yes' if pick['beyond_noise'] else 'no'} (spread {noise:.0f} %)")
        rows.append(f"{head} {pick['runner_up']} | +{(pick['margin'] - 1) * 100:.0f} % | {verdict} |")
    lineup_ = src.cells.lineup
    return "\n".join(rows) + (
        f"\n\nThe margin is the pick's figure over the runner-up's, each the geometric mean of its ratios to "
        f"the run's baselines ({lineup_.http_baseline} for HTTP, {lineup_.websocket_baseline} for "
        f"WebSockets) over the workload's families, on the measures of [benchmarks]"
        f"({link(doc, ROOT / 'docs' / 'benchmarks.md')}#what-each-family-is-judged-by). A workload with "
        f"WebSockets counts only servers that speak them; port {src.topology.production.port} splits the "
        "work instead: HTTP to a WSGI server, `/ws/` to an ASGI one."
    )


def table_cell(text: str) -> str:
    """Text as one Markdown table cell: a bare | would end it."""
    return text.replace("|", "\\|")


def make_targets(src: Sources, doc: Path) -> str:
    targets = re.findall(r"^([a-z][a-z0-9_-]*):.*?## (.*)$", (ROOT / "Makefile").read_text(), re.M)
    rows = [f"| `make {target}` | {table_cell(what)} |" for target, what in targets]
    return "| target | what |\n|---|---|\n" + "\n".join(rows)


RENDERERS: dict[str, Callable[[Sources, Path], str]] = {
    "run": run_line,
    "heatmap": heat_map,
    "servers": server_list,
    "server-line": server_line,
    "topology": topology_diagram,
    "ports": ports_line,
    "quirks": quirk_table,
    "metrics": metric_list,
    "findings": findings_list,
    "results": result_tables,
    "pick": pick_table,
    "make-targets": make_targets,
}


# ---------------------------------------------------------------------------------------- files


def render(text: str, src: Sources, doc: Path) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(2)
        base, of_full = name.removeprefix(f"{FULL}-"), name.startswith(f"{FULL}-")
        if base not in RENDERERS:
            raise SystemExit(f"make docs: {doc.relative_to(ROOT)} asks for region {name!r}; known: "
                             f"{', '.join(RENDERERS)}, and {FULL}-<any of them> for the full profile's run")
        if not of_full:
            body = RENDERERS[base](src, doc)
        elif src.full is None:
            body = (f"No full-profile run is committed in `{link(doc, src.run / FULL)}/`: "
                    "`make bench PROFILE=full` writes one (see [benchmarks]"
                    f"({link(doc, ROOT / 'docs' / 'benchmarks.md')})).")
        else:
            body = RENDERERS[base](src.full, doc)
        return f"{match.group(1)}{body}\n{match.group(4)}"

    return REGION.sub(fill, text)


def redrawn_report(run: Path) -> dict[Path, bytes]:
    """A run's report, drawn again from its results.json: what its committed report must be."""
    with tempfile.TemporaryDirectory(prefix="make-docs-") as folder:
        scratch = Path(folder)
        for name in ("results.json", "samples.json"):
            if (run / name).exists():
                (scratch / name).write_bytes((run / name).read_bytes())
        report.write(scratch)
        return {run / p.relative_to(scratch): p.read_bytes()
                for p in sorted(scratch.rglob("*")) if p.is_file()}


def outputs(src: Sources) -> dict[Path, bytes]:
    """Every file `make docs` writes, with its content: the docs and the runs' reports."""
    files = redrawn_report(src.run)
    if src.full is not None:
        files |= redrawn_report(src.full.run)
    for doc in DOCS:
        files[doc] = render(doc.read_text(), src, doc).encode()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything would")
    args = parser.parse_args()
    src = Sources(latest_run())
    stale = []
    for path, content in outputs(src).items():
        if not path.exists() or path.read_bytes() != content:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
    verb = "would change" if args.check else "changed"
    for path in stale:
        print(f"make docs: {verb} {path}")
    if args.check and stale:
        print("make docs: run `make docs` and commit what it changes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
