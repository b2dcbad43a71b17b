"""What a run found, in sentences built from its own numbers: the report opens with these.

Each scenario family is judged by what matters for it: sync work by requests per server CPU
second (the efficiency that holds whether or not a server saturated), waiting by requests per
second at equal users (a server that waits is idle, so CPU per request would reward the one that
serves fewest), WebSockets by requests per server CPU second under the same paced load, capacity
by clients held. Ratios are to the run's baseline: the production routing's WSGI server for HTTP,
its ASGI server for WebSockets (WSGI servers cannot serve them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from loadtest.model.results import Summary
from loadtest.reporting.lineup import Lineup
from loadtest.scenarios.catalog import SCENARIOS, is_kind, of_kind

WRK_FLOOR_RATIO = 1.25  # wrk / Locust above this: Locust, not the server, set the plaintext rate


@dataclass(frozen=True)
class Metric:
    name: str  # in a sentence
    unit: str  # in a heat-map column
    read: Callable[[Summary], float | None]
    websocket: bool  # ratios to the WebSocket baseline
    # (max - min) / median over a cell's runs of what `read` reads, in percent; None: not judged
    spread: Callable[[Summary], float | None] = lambda s: None


METRICS = {
    "sync": Metric("requests per server CPU second", "req/CPU s", lambda s: s.req_per_server_cpu_s, False,
                   lambda s: s.per_cpu_spread_pct),
    "async": Metric("requests per server CPU second", "req/CPU s", lambda s: s.req_per_server_cpu_s, False,
                    lambda s: s.per_cpu_spread_pct),
    "waiting": Metric("requests per second at equal users", "rps", lambda s: s.rps, False,
                      lambda s: s.spread_pct),
    "websocket": Metric("round trips or deliveries per server CPU second", "req/CPU s",
                        lambda s: s.req_per_server_cpu_s, True, lambda s: s.per_cpu_spread_pct),
    "capacity": Metric("clients held in one room", "clients", lambda s: s.extra.get("clients_held"), True),
    "rate": Metric("highest rate held within the p99 SLO, open loop", "rps at SLO",
                   lambda s: s.extra.get("sustained_rps"), False),
}


def family_of(scenario: str) -> str:
    return next((s.family for s in SCENARIOS if s.name == scenario), "check")


def compared_with(scenario: str) -> str:
    """The scenario whose baseline figure this one's ratios are taken to (an async view's sync twin)."""
    return next((s.compared_with for s in SCENARIOS if s.name == scenario), scenario)


class Cells:
    """A run's summaries by (scenario, server), in the order the report shows them."""

    def __init__(self, summaries: list[Summary], lineup: Lineup):
        self.lineup = lineup
        self.by = {(s.scenario, s.server): s for s in summaries if s.server in lineup.names}
        order = [s.name for s in SCENARIOS]
        present = {s.scenario for s in summaries}
        self.scenarios = [name for name in order if name in present] + sorted(present - set(order))

    def get(self, scenario: str, server: str) -> Summary | None:
        return self.by.get((scenario, server))

    def in_family(self, family: str) -> list[str]:
        return [name for name in self.scenarios if family_of(name) == family]

    def value(self, scenario: str, server: str) -> float | None:
        """The family's metric for a valid cell, else None."""
        cell = self.get(scenario, server)
        if cell is None or not cell.valid:
            return None
        return METRICS[family_of(scenario)].read(cell)

    def baseline(self, scenario: str) -> str | None:
        return self.lineup.baseline_for(METRICS[family_of(scenario)].websocket)

    def baseline_label(self, scenario: str) -> str | None:
        """Whose figure the ratios divide by: the baseline server's, in the sync twin where there is one."""
        base, twin = self.baseline(scenario), compared_with(scenario)
        return base if twin == scenario or base is None else f"{base} {twin}"

    def ratio(self, scenario: str, server: str) -> float | None:
        base = self.baseline(scenario)
        mine = self.value(scenario, server)
        theirs = self.value(compared_with(scenario), base) if base else None
        if mine is None or not theirs:
            return None
        return mine / theirs

    def best(self, scenario: str, servers: list[str] | None = None) -> str | None:
        values = {name: self.value(scenario, name) for name in servers or self.lineup.names}
        values = {name: v for name, v in values.items() if v is not None}
        return max(values, key=values.__getitem__) if values else None

    def family_ratio(self, family: str, server: str) -> float | None:
        """Geometric mean of the server's ratios over the family's scenarios that have one."""
        ratios = [r for r in (self.ratio(name, server) for name in self.in_family(family)) if r]
        return math.exp(sum(math.log(r) for r in ratios) / len(ratios)) if ratios else None


def times(value: float) -> str:
    return f"{value:.2f}×"


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def ranking(cells: Cells, family: str) -> str | None:
    """The family's servers as ratios to the baseline, best first, and who was best in which scenario."""
    names = [name for name in cells.in_family(family) if cells.baseline(name)]
    ranked = [(server, cells.family_ratio(family, server)) for server in cells.lineup.names]
    ranked = sorted([(s, r) for s, r in ranked if r is not None], key=lambda pair: -pair[1])
    if not names or len(ranked) < 2:  # one server: nothing to rank
        return None
    winners: dict[str, list[str]] = {}
    for name in names:
        best = cells.best(name)
        if best:
            winners.setdefault(best, []).append(name)
    top, top_ratio = ranked[0]

    def best_in(won: list[str]) -> str:
        return "best in each" if won == names and len(names) > 1 else f"best in {_join(won)}"

    where = "; ".join(
        ("" if server == top else f"{server} ") + best_in(won)
        for server, won in sorted(winners.items(), key=lambda item: item[0] != top)
    )
    others = "".join(f", {server} {times(ratio)}" for server, ratio in ranked[1:])
    return f"**{top} {times(top_ratio)}** ({where}){others}"


def story(title: str, family: str | None, cells: Cells, *sentences: str | None) -> str | None:
    """'**Title** (measure ÷ baseline's, over which scenarios): sentence. Sentence.'"""
    present = [s for s in sentences if s]
    if not present:
        return None
    head = f"**{title}**"
    names = [name for name in cells.in_family(family) if cells.baseline(name)] if family else []
    if names:
        over = f"geometric mean of {_join(names)}" if len(names) > 1 else names[0]
        head += f" ({METRICS[family].name} ÷ {cells.baseline_label(names[0])}'s, {over})"
    return f"{head}: " + ". ".join([present[0], *(capitalized(s) for s in present[1:])]) + "."


def _best_of(cells: Cells, family: str, protocol: str) -> tuple[str, float] | None:
    found = [
        (c.name, cells.family_ratio(family, c.name))
        for c in cells.lineup.contenders
        if c.protocol == protocol and not c.stock
    ]
    found = [(name, ratio) for name, ratio in found if ratio is not None]
    return max(found, key=lambda pair: pair[1]) if found else None


def _versus(cells: Cells, family: str) -> str | None:
    """'best WSGI vs best ASGI server: X N× Y', whichever way round it is."""
    wsgi, asgi = _best_of(cells, family, "wsgi"), _best_of(cells, family, "asgi")
    if not wsgi or not asgi:
        return None
    (winner, w), (loser, lo), (wp, lp) = (
        (wsgi, asgi, ("WSGI", "ASGI")) if wsgi[1] >= asgi[1] else (asgi, wsgi, ("ASGI", "WSGI"))
    )
    return f"best {wp} vs best {lp} server: **{winner} {times(w / lo)}** {loser}"


def sync_story(cells: Cells) -> str | None:
    stock_line = None
    stock = [(c.name, cells.family_ratio("sync", c.name)) for c in cells.lineup.contenders if c.stock]
    stock = [(name, ratio) for name, ratio in stock if ratio is not None]
    tuned = _best_of(cells, "sync", "asgi")
    if stock and tuned:
        name, ratio = max(stock, key=lambda pair: pair[1])
        stock_line = (
            f"tuned vs stock Django on ASGI: {tuned[0]} {times(tuned[1])}, stock {name} {times(ratio)}"
        )
    return story("Sync work", "sync", cells, ranking(cells, "sync"), _versus(cells, "sync"), stock_line)


def waiting_story(cells: Cells) -> str | None:
    names = cells.in_family("waiting")
    wsgi, asgi = _best_of(cells, "waiting", "wsgi"), _best_of(cells, "waiting", "asgi")
    versus = None
    if names and wsgi and asgi:
        rates = " vs ".join(
            " / ".join(_fmt(cells.value(name, server)) for name in names) for server in (asgi[0], wsgi[0])
        )
        versus = f"{_versus(cells, 'waiting')} ({' / '.join(names)}: {rates} rps)"
    return story("Waiting", "waiting", cells, ranking(cells, "waiting"), versus)


def _refusals(cells: Cells) -> str | None:
    answers = {}
    for name in cells.scenarios:
        for server in cells.lineup.names:
            cell = cells.get(name, server)
            if cell is not None and is_kind(cell, "ws_handshake"):
                got = cell.extra.get("answers", {})
                # One kind of answer: what it was, not how many attempts fitted the window.
                answers[server] = (f"{next(iter(got))}, every attempt" if len(got) == 1
                                   else "; ".join(f"{a} × {n}" for a, n in got.items()) or "no answer")
    if not answers:
        return None
    alike: dict[str, list[str]] = {}
    for server, answer in answers.items():
        alike.setdefault(answer, []).append(server)
    return "WSGI servers cannot serve them (" + "; ".join(f"{_join(s)}: {a}" for a, s in alike.items()) + ")"


def websocket_story(cells: Cells) -> str | None:
    names = cells.in_family("websocket")
    parts = [part for part in (_refusals(cells),) if part]
    asgi = [c.name for c in cells.lineup.contenders if c.protocol == "asgi"]
    if names and asgi:
        ranked = [(s, cells.family_ratio("websocket", s)) for s in asgi]
        ranked = sorted([(s, r) for s, r in ranked if r is not None], key=lambda pair: -pair[1])
        if len(ranked) == 1:
            only = ranked[0][0]
            rates = [f"{name} at {_fmt(cells.value(name, only))}" for name in names
                     if cells.value(name, only) is not None]  # its valid cells only
            parts.append(f"{only}, the only ASGI server here, carried {_join(rates)} per server CPU second")
        elif ranked:
            base = cells.baseline(names[0])
            parts.append(
                f"of the ASGI servers, **{ranked[0][0]}** carried the same paced load on the least server "
                f"CPU ({times(ranked[0][1])} {base}'s {METRICS['websocket'].name})"
            )
        measured = [cells.get(name, s) for name in names for s in asgi if cells.get(name, s) is not None]
        chats = of_kind(measured, "ws_chat")
        lost = {c.server: c.extra["lost"] for c in chats if c.extra.get("lost")}
        if chats:
            parts.append(
                "chat messages lost: " + ", ".join(f"{s} {_fmt(n)}" for s, n in lost.items())
                if lost else "no chat message lost"
            )
    if not parts:
        return None
    return story("WebSockets", None, cells, "; ".join(parts))


def capacity_story(cells: Cells) -> str:
    names = cells.in_family("capacity")
    held = {s: cells.value(name, s) for name in names for s in cells.lineup.names}
    held = {s: v for s, v in held.items() if v is not None}
    if not held:
        return (
            "**Capacity:** not measured in this run (the full profile's `ws_capacity`: "
            "`make bench PROFILE=full SCENARIOS=ws_capacity RUNS=1`)."
        )
    ranked = sorted(held.items(), key=lambda pair: -pair[1])
    top = ranked[0]
    cell = cells.get(names[0], top[0])
    bound = cell.extra.get("bound_ms") if cell else None
    within = f" with a broadcast's p95 within {bound:.0f} ms" if bound else ""
    others = ", ".join(f"{s} {_fmt(v)}" for s, v in ranked[1:])
    return (
        "**Capacity:** WSGI servers hold no WebSocket; of the ASGI servers "
        f"**{top[0]}** held the most clients in one room, {_fmt(top[1])},{within}"
        + (f" ({others})" if others else "")
        + "."
    )


def rate_story(cells: Cells) -> str | None:
    """The open-loop ramp: who held the highest rate within the SLO, and the generator's margin."""
    names = cells.in_family("rate")
    if not names:
        return None
    parts = [ranking(cells, "rate")]
    held = {s: cells.value(names[0], s) for s in cells.lineup.names}
    held = {s: v for s, v in held.items() if v is not None}
    first = next((cell for s in cells.lineup.names if (cell := cells.get(names[0], s)) is not None), None)
    if held and first is not None:
        top = max(held, key=held.__getitem__)
        slo = first.extra.get("slo_ms")
        line = f"**{top}** held {_fmt(held[top])} rps with p99 within {_fmt(slo)} ms"
        ceiling = first.extra.get("generator_ceiling_rps")
        if ceiling and held[top]:
            line += (f"; the load generator held {_fmt(ceiling)} rps against a server with no Django "
                     f"({times(ceiling / held[top])} that)")
        parts.append(line)
    at_least = [s for s in cells.lineup.names
                if (cell := cells.get(names[0], s)) is not None and cell.loadgen_bound]
    if at_least:
        parts.append(f"the load generator was the limit for {_join(at_least)}: a lower bound, not a result")
    return story("Rate at a latency SLO", "rate", cells, *parts)


def invalid_line(cells: Cells, errors: dict[tuple[str, str], str]) -> str:
    """errors: the first error of a failed cell's runs, by (scenario, server)."""

    def why(name: str, server: str, cell: Summary) -> str:
        return "load generator bound" if cell.loadgen_bound else f"cell failed: {errors.get((name, server))}"

    bad = [
        f"{name} @ {server} ({why(name, server, cell)})"
        for name in cells.scenarios
        for server in cells.lineup.names
        if (cell := cells.get(name, server)) is not None and not cell.valid
    ]
    if not bad:
        if not cells.by:
            return "**No cell finished:** there is nothing to report yet."
        return "**Every cell is valid:** no load generator was the limit and no cell failed."
    return f"**Not results (invalid cells, hatched in the heat map):** {'; '.join(bad)}."


def wrk_line(cells: Cells) -> str | None:
    floors = []
    for server in cells.lineup.names:
        locust, wrk = cells.get("plaintext", server), cells.get("plaintext_wrk", server)
        if locust and wrk and locust.rps and wrk.rps and wrk.rps / locust.rps > WRK_FLOOR_RATIO:
            floors.append(f"{server} (wrk / Locust {wrk.rps / locust.rps:.2f})")
    if not floors:
        return None
    return (
        f"**Locust was the limit** on plaintext for {_join(floors)}: wrk got more from the same path, so "
        "that rps is a floor; requests per server CPU second still holds."
    )


def noise_line(cells: Cells) -> str:
    spreads = [
        (cell.spread_pct, f"{cell.scenario} @ {cell.server}")
        for cell in cells.by.values()
        if cell.runs > 1 and cell.spread_pct is not None
    ]
    if not spreads:
        return (
            "**One run per cell:** there is no spread to judge a small difference by; `RUNS=3` measures it, "
            "and `make bench-compare` tells two runs apart."
        )
    spreads.sort()
    median = spreads[len(spreads) // 2][0]
    worst = spreads[-1]
    return (
        f"**Noise:** rps varied by a median {median:.0f} % between runs of a cell (most: {worst[0]:.0f} % "
        f"on {worst[1]}); a difference smaller than its cells' spread is noise."
    )


@dataclass(frozen=True)
class AsyncCost:
    """One ASGI server's figure on a sync view and on its async twin: what the thread hops cost."""

    server: str
    sync_scenario: str
    async_scenario: str
    sync_req_per_cpu_s: float | None
    async_req_per_cpu_s: float | None
    # The async view's figure over the WSGI baseline server's on the sync view (the target).
    async_vs_baseline_sync: float | None

    @property
    def async_over_sync(self) -> float | None:
        if not self.sync_req_per_cpu_s or self.async_req_per_cpu_s is None:
            return None
        return self.async_req_per_cpu_s / self.sync_req_per_cpu_s


def async_costs(cells: Cells) -> list[AsyncCost]:
    """Every ASGI server's sync and async figures side by side, per async scenario in the run."""
    found = []
    for name in cells.in_family("async"):
        twin = compared_with(name)
        for contender in cells.lineup.contenders:
            if contender.protocol != "asgi" or cells.get(name, contender.name) is None:
                continue
            found.append(AsyncCost(contender.name, twin, name, cells.value(twin, contender.name),
                                   cells.value(name, contender.name), cells.ratio(name, contender.name)))
    return found


def async_story(cells: Cells, costs: list[AsyncCost]) -> str | None:
    if not costs:
        return None
    sides = []
    for cost in costs:
        change = f" ({times(cost.async_over_sync)})" if cost.async_over_sync else ""
        sides.append(f"{cost.server} {cost.sync_scenario} {_fmt(cost.sync_req_per_cpu_s)} → "
                     f"{cost.async_scenario} {_fmt(cost.async_req_per_cpu_s)}{change}")
    parts = ["sync view → async view, requests per server CPU second: " + "; ".join(sides)]
    ranked = [c for c in costs if c.async_vs_baseline_sync is not None]
    if ranked:
        best = max(ranked, key=lambda c: c.async_vs_baseline_sync)
        parts.append(f"best: **{best.server} {times(best.async_vs_baseline_sync)}** "
                     f"{cells.baseline_label(best.async_scenario)} on {best.async_scenario}")
    return story("Async views", "async", cells, *parts)


# What each workload is judged by: the families whose figures it depends on. Mixed is a site that
# serves sync views, waits and WebSockets from one server, so only a server with all three qualifies.
WORKLOADS = {
    "sync-heavy": ("sync",),
    "waiting": ("waiting",),
    "WebSockets": ("websocket",),
    "mixed": ("sync", "waiting", "websocket"),
}


@dataclass(frozen=True)
class Recommendation:
    """Which server to pick for one workload, by how much, and whether that is more than the noise."""

    workload: str
    server: str
    figure: float  # its ratio to the baseline (geometric mean over the workload's families)
    runner_up: str | None
    margin: float | None  # server's figure / the runner-up's
    noise_pct: float | None  # the widest spread of the workload's figures in either's cells; None: one run
    beyond_noise: bool | None  # None when there is no spread to judge by
    families: tuple[str, ...]

    def sentence(self) -> str:
        head = f"**{self.workload}: {self.server}**"
        if self.runner_up is None:
            return f"{head} (the only server measured for it)"
        margin = f"{times(self.margin)} {self.runner_up}"
        if self.beyond_noise is None:
            judged = "one run per cell: no spread to judge the margin by"
        else:
            where = "beyond" if self.beyond_noise else "within"
            judged = (f"{where} the noise: {(self.margin - 1) * 100:.0f} % against a spread of "
                      f"{self.noise_pct:.0f} %")
        return f"{head}, {margin} ({judged})"

    def as_dict(self) -> dict:
        return {"workload": self.workload, "server": self.server, "figure": self.figure,
                "runner_up": self.runner_up, "margin": self.margin, "noise_pct": self.noise_pct,
                "beyond_noise": self.beyond_noise, "families": list(self.families)}


def _noise_pct(cells: Cells, families: tuple[str, ...], servers: tuple[str, ...]) -> float | None:
    """The widest spread over runs of the very figure each family is judged by (a paced WebSocket
    cell's rps never varies; the server CPU it took does)."""
    spreads = [METRICS[family].spread(cell) for family in families for name in cells.in_family(family)
               for server in servers
               if (cell := cells.get(name, server)) is not None and cell.runs > 1]
    spreads = [spread for spread in spreads if spread is not None]
    return max(spreads) if spreads else None


def recommend(cells: Cells) -> list[Recommendation]:
    """Per workload, the server with the best figure, from the run's own numbers."""
    found = []
    for workload, families in WORKLOADS.items():
        figures = {}
        for server in cells.lineup.names:
            ratios = [cells.family_ratio(family, server) for family in families]
            if all(ratios):
                figures[server] = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        if not figures:
            continue
        ranked = sorted(figures.items(), key=lambda pair: -pair[1])
        (server, figure), runner = ranked[0], ranked[1] if len(ranked) > 1 else None
        margin = figure / runner[1] if runner else None
        noise = _noise_pct(cells, families, (server, runner[0])) if runner else None
        beyond = None if noise is None or margin is None else (margin - 1) * 100 > noise
        found.append(Recommendation(workload, server, figure, runner[0] if runner else None, margin, noise,
                                    beyond, families))
    return found


def pick_lines(picks: list[Recommendation]) -> list[str]:
    """One line per workload: the findings end with these."""
    return [p.sentence() + "." for p in picks]


@dataclass(frozen=True)
class Findings:
    """The summary: what the run says (one line per family), and how far to trust it."""

    stories: list[str]
    trust: list[str]
    picks: list[str] = field(default_factory=list)  # which server to pick per workload: the last word
    async_costs: list[AsyncCost] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)

    def as_dict(self) -> dict:
        """What the docs render (findings.json beside the report)."""
        return {
            "stories": self.stories,
            "trust": self.trust,
            "picks": self.picks,
            "async_costs": [{**asdict(c), "async_over_sync": c.async_over_sync} for c in self.async_costs],
            "recommendations": [r.as_dict() for r in self.recommendations],
        }


def findings(summaries: list[Summary], lineup: Lineup, errors: dict[tuple[str, str], str]) -> Findings:
    """Sentences, most important first; Markdown emphasis (** and `) only."""
    cells = Cells(summaries, lineup)
    costs, picks = async_costs(cells), recommend(cells)
    stories = [sync_story(cells), async_story(cells, costs), waiting_story(cells), rate_story(cells),
               websocket_story(cells), capacity_story(cells)]
    trust = [invalid_line(cells, errors), wrk_line(cells), noise_line(cells)]
    return Findings([line for line in stories if line], [line for line in trust if line],
                    pick_lines(picks), costs, picks)

