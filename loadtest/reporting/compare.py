"""Two bench runs side by side: per cell what moved, and whether it moved more than the noise.

    python -m loadtest.reporting.compare reports/<t1> reports/<t2> [--out DIR]
    make bench-compare A=reports/<t1> B=reports/<t2>

A change counts as significant only where it exceeds the spread (max - min over the runs of the
cell) of both runs; with one run per cell on either side there is no spread, and the change is
flagged as a single-run comparison instead of judged. Runs on different machines, budgets or
scenario settings are refused, with what differs: their numbers measure different things. What
may differ (a setting such as WEB_CONCURRENCY, a version) is listed at the top of the comparison.
"""

from __future__ import annotations

import argparse
import html
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from loadtest.model.results import CellResult
from loadtest.reporting.report import STYLE
from loadtest.scenarios.catalog import KINDS, is_kind

# (field, label, higher is better)
MEASURES = (
    ("rps", "rps", True),
    ("p50_ms", "p50 ms", False),
    ("p95_ms", "p95 ms", False),
    ("p99_ms", "p99 ms", False),
    ("req_per_server_cpu_s", "req / server CPU s", True),
)
MACHINE = ("cpu_model", "cpus", "memory")
BUDGETS = ("target", "pinned", "server_cpus", "loadgen_cpus", "users", "bound_threshold")
WINDOW = ("warmup_s", "measure_s")
# The profile's settings that shape a cell (its name, repetitions and time budget do not).
PROFILE_LOAD = (
    "http_users", "ws_users", "chat_members", "capacity_step", "capacity_max_clients",
    "capacity_broadcasts", "capacity_bound_ms", "capacity_deadline_s",
)
# Compared only when both runs ran the open-loop ramp: runs from before it have no such setting.
OPEN_LOOP_LOAD = ("http_ramp",)


class NotComparable(Exception):
    """The two runs measured different things; the message says which."""


@dataclass
class Run:
    directory: Path
    meta: dict
    environment: dict
    cells: dict[tuple[str, str], list[CellResult]]  # (scenario, server) -> its runs

    @classmethod
    def load(cls, directory: Path) -> Run:
        path = directory / "results.json"
        if not path.is_file():
            raise NotComparable(f"{directory}: no results.json; give a run directory of `make bench` "
                                "(reports/<timestamp>)")
        try:
            data = json.loads(path.read_text())
            cells: dict[tuple[str, str], list[CellResult]] = {}
            for cell in data["cells"]:
                result = CellResult.from_dict(cell)
                cells.setdefault((result.scenario, result.server), []).append(result)
            return cls(directory, data["meta"], data["environment"], cells)
        except (ValueError, KeyError, TypeError) as error:
            raise NotComparable(f"{path}: not a bench result ({type(error).__name__}: {error})") from None


def _differences(label: str, a: dict, b: dict, keys) -> list[str]:
    return [f"{label} {key}: {a.get(key)!r} vs {b.get(key)!r}" for key in keys if a.get(key) != b.get(key)]


def refusals(a: Run, b: Run) -> list[str]:
    """Why the two runs cannot be compared; empty when they can."""
    reasons = _differences("machine", a.environment, b.environment, MACHINE)
    budgets_a, budgets_b = a.meta.get("budgets") or {}, b.meta.get("budgets") or {}
    reasons += _differences("budget", {**a.meta, **budgets_a}, {**b.meta, **budgets_b}, BUDGETS)
    reasons += _differences("scenario setting", a.meta, b.meta, WINDOW)
    reasons += _differences("scenario setting", a.meta.get("profile_settings") or {},
                            b.meta.get("profile_settings") or {}, PROFILE_LOAD)
    if any(is_kind(runs[0], "http_capacity") for key, runs in a.cells.items() if key in b.cells):
        reasons += _differences("scenario setting", a.meta.get("profile_settings") or {},
                                b.meta.get("profile_settings") or {}, OPEN_LOOP_LOAD)
    scenarios_a, scenarios_b = a.meta.get("scenarios") or {}, b.meta.get("scenarios") or {}
    for name in sorted(set(scenarios_a) & set(scenarios_b)):
        if scenarios_a[name] != scenarios_b[name]:
            reasons.append(f"scenario {name}: {scenarios_a[name]} vs {scenarios_b[name]}")
    if not set(a.cells) & set(b.cells):
        reasons.append("no cell (scenario @ server) was measured in both runs")
    return reasons


def changes(a: Run, b: Run) -> list[str]:
    """What differs between two comparable runs: the settings under test, versions, the plan."""
    found = []
    budgets_a, budgets_b = a.meta.get("budgets") or {}, b.meta.get("budgets") or {}
    for key in ("web_concurrency", "server_processes"):
        before, after = budgets_a.get(key) or {}, budgets_b.get(key) or {}
        moved = [f"{name} {before.get(name)} → {after.get(name)}" for name in sorted(set(before) | set(after))
                 if before.get(name) != after.get(name)]
        if moved:
            found.append(f"{key.replace('_', ' ')}: " + ", ".join(moved))
    for key in ("kernel", "os", "python", "nginx", "wrk"):
        if a.environment.get(key) != b.environment.get(key):
            found.append(f"{key}: {a.environment.get(key)} → {b.environment.get(key)}")
    packages_a, packages_b = a.environment.get("packages") or {}, b.environment.get("packages") or {}
    for name in sorted(set(packages_a) | set(packages_b)):
        if packages_a.get(name) != packages_b.get(name):
            found.append(f"{name}: {packages_a.get(name)} → {packages_b.get(name)}")
    if a.meta.get("runs") != b.meta.get("runs"):
        found.append(f"runs per cell: {a.meta.get('runs')} → {b.meta.get('runs')}")
    if a.meta.get("locust_workers") != b.meta.get("locust_workers"):  # the load generator's shape
        found.append(f"Locust workers: {a.meta.get('locust_workers') or 'none'} → "
                     f"{b.meta.get('locust_workers') or 'none'}")
    only_a, only_b = sorted(set(a.cells) - set(b.cells)), sorted(set(b.cells) - set(a.cells))
    if only_a:
        found.append("only in A: " + ", ".join(f"{sc} @ {sv}" for sc, sv in only_a))
    if only_b:
        found.append("only in B: " + ", ".join(f"{sc} @ {sv}" for sc, sv in only_b))
    return found


@dataclass(frozen=True)
class Change:
    label: str
    before: float | None
    after: float | None
    spread_before: float | None  # max - min over the cell's runs; None with one run
    spread_after: float | None
    higher_is_better: bool
    invalid: str = ""  # which side was invalid, if either

    @property
    def percent(self) -> float | None:
        if self.before is None or self.after is None or not self.before:
            return None
        return 100 * (self.after - self.before) / self.before

    @property
    def verdict(self) -> str:
        """better / worse (beyond both spreads), noise, single run, or why it cannot be judged."""
        if self.invalid:
            return f"invalid in {self.invalid}"
        if self.before is None or self.after is None:
            return "not measured"
        if self.spread_before is None or self.spread_after is None:
            return "single run"
        if abs(self.after - self.before) <= max(self.spread_before, self.spread_after):
            return "noise"
        return "better" if (self.after > self.before) == self.higher_is_better else "worse"

    @property
    def significant(self) -> bool:
        return self.verdict in ("better", "worse")


def _spread(values: list[float]) -> float | None:
    return max(values) - min(values) if len(values) > 1 else None


def _read(cell: CellResult, name: str) -> float | None:
    return getattr(cell, name) if name in {field for field, _, _ in MEASURES} else cell.extra.get(name)


def cell_changes(before: list[CellResult], after: list[CellResult]) -> list[Change]:
    sides = (("A", before), ("B", after))
    invalid = " and ".join(side for side, runs in sides if not all(c.valid for c in runs))
    kind = KINDS[before[0].kind]
    measures = ((kind.figure, kind.figure_label, True),) if kind.figure else MEASURES  # a ramp's one figure
    found = []
    for name, label, higher in measures:
        a = [v for v in (_read(c, name) for c in before) if v is not None]
        b = [v for v in (_read(c, name) for c in after) if v is not None]
        found.append(Change(
            label,
            statistics.median(a) if a else None,
            statistics.median(b) if b else None,
            _spread(a) if len(a) == len(before) else None,
            _spread(b) if len(b) == len(after) else None,
            higher,
            invalid,
        ))
    return found


@dataclass
class Comparison:
    a: Run
    b: Run
    changes: list[str]
    cells: dict[tuple[str, str], list[Change]]

    @property
    def moved(self) -> list[tuple[tuple[str, str], Change]]:
        return [(key, c) for key, found in self.cells.items() for c in found if c.significant]

    def count(self, verdict: str) -> int:
        return sum(c.verdict == verdict for found in self.cells.values() for c in found)


def compare(a: Run, b: Run) -> Comparison:
    reasons = refusals(a, b)
    if reasons:
        hint = ""
        if any("measure_s" in reason for reason in reasons):
            # The quick profile fits its window to the plan's size: another server list, scenario
            # list or RUNS gives another window.
            hint = ("\nThe quick profile sizes the measured window to the plan: bench both runs with the "
                    "same SERVERS, SCENARIOS and RUNS, or the same `python -m loadtest.bench --measure S`.")
        raise NotComparable("the runs are not comparable:\n  " + "\n  ".join(reasons) + hint)
    rated = [key for key in a.cells if key in b.cells and KINDS[a.cells[key][0].kind].rated]
    return Comparison(a, b, changes(a, b), {key: cell_changes(a.cells[key], b.cells[key]) for key in rated})


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def change_text(change: Change) -> str:
    percent = change.percent
    moved = f" ({percent:+.0f} %)" if percent is not None else ""
    return f"{_number(change.before)} → {_number(change.after)}{moved}"


VERDICT_MARKS = {"better": "▲ better", "worse": "▼ worse"}


def summary_lines(comparison: Comparison) -> list[str]:
    a, b = comparison.a.directory.name, comparison.b.directory.name
    total = sum(len(found) for found in comparison.cells.values())
    lines = [f"A = {a}, B = {b}: {len(comparison.cells)} cells, {total} figures compared."]
    moved = comparison.moved
    lines.append(f"Moved beyond both runs' spread: {len(moved)}" + (" (below)." if moved else "."))
    lines.append(f"Within the noise: {comparison.count('noise')}.")
    single = comparison.count("single run")
    if single:
        lines.append(
            f"Single-run comparisons, not judged ({single}): one side has one run per cell, so no spread; "
            "re-run both with RUNS=3 to tell a change from noise."
        )
    invalid = sum(1 for found in comparison.cells.values() if found and found[0].invalid)
    if invalid:
        lines.append(f"Cells invalid in a run, not judged: {invalid}.")
    return lines


def moved_lines(comparison: Comparison) -> list[tuple[str, str]]:
    """(verdict, line) of each figure that moved beyond the noise, better ones first."""
    moved = sorted(comparison.moved, key=lambda item: item[1].verdict != "better")
    return [(c.verdict, f"{VERDICT_MARKS[c.verdict]}: {sc} @ {sv}, {c.label} {change_text(c)}")
            for (sc, sv), c in moved]


def render_markdown(comparison: Comparison) -> str:
    parts = ["# Bench comparison", ""] + [f"- {line}" for line in summary_lines(comparison)]
    parts += ["", "## What differs between the runs", ""]
    parts += [f"- {line}" for line in comparison.changes] or ["- nothing recorded: same settings, versions"]
    parts += ["", "## Moved beyond the noise", ""]
    parts += [f"- **{line}**" for _, line in moved_lines(comparison)] or ["- nothing"]
    for scenario in dict.fromkeys(sc for sc, _ in comparison.cells):
        rows = [(sv, found) for (sc, sv), found in comparison.cells.items() if sc == scenario]
        labels = [c.label for c in rows[0][1]]
        parts += ["", f"## {scenario}", ""]
        parts += ["| server | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
        for server, found in rows:
            shown = [
                f"**{change_text(c)} {VERDICT_MARKS[c.verdict]}**" if c.significant
                else f"{change_text(c)} {c.verdict}"
                for c in found
            ]
            parts.append(f"| {server} | " + " | ".join(shown) + " |")
    return "\n".join(parts) + "\n"


def render_html(comparison: Comparison) -> str:
    body = ["<h1>Bench comparison</h1><ul class=findings>"]
    body += [f"<li>{html.escape(line)}</li>" for line in summary_lines(comparison)]
    body.append("</ul><h2>What differs between the runs</h2><ul>")
    body += [f"<li>{html.escape(line)}</li>" for line in comparison.changes] or ["<li>nothing recorded</li>"]
    body.append("</ul><h2>Moved beyond the noise</h2><ul>")
    moved = [f"<li class={verdict}><strong>{html.escape(line)}</strong></li>"
             for verdict, line in moved_lines(comparison)]
    body += moved or ["<li>nothing</li>"]
    body.append("</ul>")
    for scenario in dict.fromkeys(sc for sc, _ in comparison.cells):
        rows = [(sv, found) for (sc, sv), found in comparison.cells.items() if sc == scenario]
        head = "".join(f"<th scope=col>{html.escape(c.label)}</th>" for c in rows[0][1])
        body.append(f"<h2>{html.escape(scenario)}</h2><div class=scroll><table><thead><tr><th>server</th>"
                    f"{head}</tr></thead><tbody>")
        for server, found in rows:
            cells = "".join(
                f"<td class={c.verdict.replace(' ', '-')}>"
                + (f"<strong>{html.escape(change_text(c))} {VERDICT_MARKS[c.verdict]}</strong>"
                   if c.significant
                   else f"{html.escape(change_text(c))} <span class=verdict>{html.escape(c.verdict)}</span>")
                + "</td>"
                for c in found
            )
            body.append(f"<tr><th scope=row>{html.escape(server)}</th>{cells}</tr>")
        body.append("</tbody></table></div>")
    style = STYLE + (".better { background: #e4f5e1; } .worse { background: #fbe3e3; } "
                     ".verdict { color: #777; font-size: 0.85em; }")
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset='utf-8'>"
        "<meta name=viewport content='width=device-width, initial-scale=1'><link rel=icon href='data:,'>"
        "<title>Bench comparison</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write(comparison: Comparison, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text(render_markdown(comparison))
    (out / "compare.html").write_text(render_html(comparison))
    return out / "compare.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="the run before (reports/<timestamp>)")
    parser.add_argument("b", type=Path, help="the run after")
    parser.add_argument("--out", type=Path, help="default: reports/compare-<A>-vs-<B>/ beside A")
    args = parser.parse_args(argv)
    try:
        comparison = compare(Run.load(args.a), Run.load(args.b))
    except NotComparable as error:
        print(f"bench-compare: {error}", file=sys.stderr)
        return 2
    out = args.out or args.a.resolve().parent / f"compare-{args.a.resolve().name}-vs-{args.b.resolve().name}"
    print(f"comparison: {write(comparison, out)}", file=sys.stderr)
    for line in summary_lines(comparison):
        print(f"  {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
