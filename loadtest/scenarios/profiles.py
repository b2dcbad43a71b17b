"""Bench profiles (quick, full) and the plan of cells they expand to.

Every cell of a run gets the same users and measured window: the only thing that differs
between two cells of one scenario is the server, which is what makes them comparable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loadtest.scenarios.catalog import Scenario

CELL_OVERHEAD_S = 1.0  # spawn, stop, write CSVs, let the server settle
# Outside the cells: start-up, pinning, and the report drawn at the end (about 26 s in a quick run
# of every server on a busy 2-CPU machine, where the cells alone overran their estimate by 7 %).
RUN_OVERHEAD_S = 25.0


@dataclass(frozen=True)
class RampSettings:
    """One profile's open-loop ramp."""

    start_rps: float
    factor: float  # each step offers this many times the last one held, until one fails
    max_rps: float
    refine_steps: int  # bisections between the last rate held and the first one not held
    step_s: float  # the schedule's length at each rate
    warmup_s: float  # at the first rate, before the first step: connections and caches
    max_connections: int  # open as needed; a request with none free waits, and its wait counts
    deadline_s: float  # a ramp never takes longer than this


@dataclass(frozen=True)
class Profile:
    name: str
    quick_only: bool  # only scenarios marked quick
    runs: int  # repetitions of each cell (median and spread when > 1)
    warmup_s: float  # excluded from the measured window
    measure_s: float
    min_measure_s: float  # quick shrinks the window to fit budget_s, never below this
    budget_s: float | None  # total wall-clock target
    http_users: int
    ws_users: int
    chat_members: int
    capacity_step: int  # clients added per ramp step
    capacity_max_clients: int
    capacity_broadcasts: int  # broadcasts timed at each step
    capacity_bound_ms: float  # broadcast p95 above this ends the ramp
    capacity_deadline_s: float  # a ramp never takes longer than this
    http_ramp: RampSettings  # the open-loop HTTP capacity ramp (http_capacity)


QUICK = Profile(
    name="quick",
    quick_only=True,
    runs=1,
    # Users spawn in the first half of the warm-up. 0.5 s (not 1 s), with json in the full profile
    # only, is what lets eleven servers fit 300 s with 2.1 s windows; test_profiles fails when
    # servers.toml outgrows it.
    warmup_s=0.5,
    measure_s=8.0,
    min_measure_s=2.0,
    budget_s=300.0,
    http_users=32,
    ws_users=32,
    chat_members=20,
    capacity_step=50,
    capacity_max_clients=500,
    capacity_broadcasts=10,
    capacity_bound_ms=250.0,
    capacity_deadline_s=60.0,
    # Not in the quick plan (http_capacity is a full-profile scenario); short steps when named.
    http_ramp=RampSettings(start_rps=200, factor=1.5, max_rps=20_000, refine_steps=1, step_s=2.0,
                           warmup_s=0.5, max_connections=256, deadline_s=60.0),
)

FULL = Profile(
    name="full",
    quick_only=False,
    runs=3,
    warmup_s=3.0,
    measure_s=20.0,
    min_measure_s=20.0,
    budget_s=None,
    http_users=64,
    ws_users=64,
    chat_members=50,
    # Up to 10,000 members in steps of 250 (the client's own ceiling is measured with the same
    # ramp); a step with 10 broadcasts takes 2-4 s, so the deadline is rarely what ends a ramp.
    capacity_step=250,
    capacity_max_clients=10_000,
    capacity_broadcasts=10,
    capacity_bound_ms=250.0,
    capacity_deadline_s=240.0,
    # 100 rps up by 30 % a step, then two bisections: a rate within about 8 % of the server's. The
    # generator's ceiling goes through the same ramp, hence a maximum far above any Django server.
    http_ramp=RampSettings(start_rps=100, factor=1.3, max_rps=50_000, refine_steps=2, step_s=5.0,
                           warmup_s=2.0, max_connections=512, deadline_s=180.0),
)

PROFILES = {profile.name: profile for profile in (QUICK, FULL)}


@dataclass(frozen=True)
class Cell:
    scenario: Scenario
    server: str
    protocol: str
    run: int  # 1-based repetition

    @property
    def key(self) -> str:
        return f"{self.scenario.name}__{self.server}__run{self.run}"


def in_profile(profile: Profile, scenarios: list[Scenario]) -> list[Scenario]:
    """The scenarios a profile runs when none are named explicitly."""
    return [s for s in scenarios if s.quick or not profile.quick_only]


def plan(profile: Profile, scenarios: list[Scenario], servers: list[tuple[str, str]]) -> list[Cell]:
    """Cells for (name, protocol) servers, a whole round per run so slow drift hits all servers alike."""
    return [
        Cell(scenario, name, protocol, run)
        for run in range(1, profile.runs + 1)
        for scenario in scenarios
        for name, protocol in servers
        if scenario.applies_to(protocol)
    ]


def _fixed_seconds(cell: Cell, profile: Profile) -> float | None:
    """A cell's length when it does not depend on the measured window."""
    if cell.scenario.kind_of.ramp_deadline is not None:
        return cell.scenario.kind_of.ramp_deadline(profile)
    if cell.scenario.duration_s is not None:
        return profile.warmup_s + cell.scenario.duration_s + CELL_OVERHEAD_S
    return None


def _extra_seconds(cell: Cell, profile: Profile) -> float:
    return profile.warmup_s + CELL_OVERHEAD_S + cell.scenario.params.get("grace_s", 0.0)


def fit_measure_s(profile: Profile, cells: list[Cell]) -> float:
    """The measured window: the profile's, shrunk so the whole plan fits the profile's budget."""
    if profile.budget_s is None:
        return profile.measure_s
    fixed = RUN_OVERHEAD_S + sum(_fixed_seconds(c, profile) or _extra_seconds(c, profile) for c in cells)
    flexible = sum(1 for c in cells if _fixed_seconds(c, profile) is None)
    if not flexible:
        return profile.measure_s
    fitted = math.floor((profile.budget_s - fixed) / flexible * 10) / 10  # down to 0.1 s: stay in budget
    return max(profile.min_measure_s, min(profile.measure_s, fitted))


def estimate_s(profile: Profile, cells: list[Cell], measure_s: float) -> float:
    """Upper estimate of the plan's wall-clock time, shown before it starts."""
    cells_s = sum(_fixed_seconds(c, profile) or _extra_seconds(c, profile) + measure_s for c in cells)
    return RUN_OVERHEAD_S + cells_s
