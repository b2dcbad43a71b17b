"""Open-loop HTTP capacity: the highest request rate a server holds within a p99 latency SLO.

Requests arrive on a fixed schedule whatever the server does (as in wrk2, k6's constant-arrival-rate
or vegeta), and each one's latency counts from its scheduled start, so a server that stalls shows
its stall in the percentiles instead of slowing the load down (coordinated omission). The offered
rate steps up geometrically until a step fails, then halves the gap between the last rate held and
the first one not held a few times. A step fails when the server errs, drops behind the schedule
(requests still unanswered when the step's drain ends) or its p99 passes the SLO.

The client is loadtest.drivers.openloop, a process of its own; this module holds the ramp's rules
(shared with the client) and starts the client, reading its steps as they come.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.drivers import ramp_process
from loadtest.measuring.demand import Usage
from loadtest.scenarios.profiles import RampSettings

# A server whose rate is within this of the generator's own ceiling may have been held back by the
# generator: the bisection's last gap is about this wide, so the two cannot be told apart.
CEILING_MARGIN = 0.9


@dataclass(frozen=True)
class Step(ramp_process.StepRecord):
    offered_rps: float
    scheduled: int  # requests the schedule started in this step
    ok: int  # answered 200 by the expected server
    errors: int  # anything else: status, wrong server, broken connection
    late: int  # still unanswered when the step's drain ended: the server dropped behind the schedule
    p50_ms: float | None  # from each request's scheduled start; an unanswered one counts as endless
    p99_ms: float | None
    max_ms: float | None
    connections: int  # open at the end of the step
    # The client's thread on a CPU or waiting for one over the step's schedule, and whether that
    # passed the threshold; None when the kernel does not say.
    loadgen_demand_pct: float | None = None
    loadgen_bound: bool | None = False
    error_kinds: dict[str, int] = field(default_factory=dict)

    def passed(self, slo_ms: float) -> bool:
        return self.errors == 0 and self.late == 0 and self.p99_ms is not None and self.p99_ms <= slo_ms


def next_rate(held: float | None, failed: float | None, refined: int, settings: RampSettings) -> float | None:
    """The rate of the next step, or None when the ramp is over.

    held: the highest rate held so far; failed: the lowest not held; refined: bisections done."""
    if failed is None:
        if held is None:
            return settings.start_rps
        if held >= settings.max_rps:
            return None
        return min(settings.max_rps, round(held * settings.factor))
    if held is None or refined >= settings.refine_steps:
        return None
    middle = round((held + failed) / 2)
    return middle if held < middle < failed else None


def sustained(steps: list[Step], slo_ms: float) -> float:
    """The highest rate held within the SLO with the client unsaturated; 0 when none was."""
    return max((s.offered_rps for s in steps if s.passed(slo_ms) and not s.loadgen_bound), default=0.0)


def generator_bound(steps: list[Step]) -> bool:
    """The ramp ended because the client, not the server, was saturated."""
    return bool(steps) and steps[-1].loadgen_bound is True


def why_stopped(steps: list[Step], slo_ms: float, max_rps: float) -> str:
    """Why the ramp ended: the first failed step's reason, or what else ended it."""
    if not steps:
        return "no step ran"
    if generator_bound(steps):
        last = steps[-1]
        return (f"load generator bound at {last.offered_rps:,.0f} rps (its demand "
                f"{last.loadgen_demand_pct:.0f} % of a core)")
    failed = [s for s in steps if not s.passed(slo_ms)]
    if not failed:
        if max(s.offered_rps for s in steps) >= max_rps:
            return f"reached the profile's maximum of {max_rps:,.0f} rps"
        return "deadline reached"
    first = min(failed, key=lambda s: s.offered_rps)
    at = f"at {first.offered_rps:,.0f} rps"
    if first.errors:
        kinds = ", ".join(f"{kind} × {count}" for kind, count in first.error_kinds.items())
        return f"{first.errors} errors {at} ({kinds})"
    if first.late:
        return f"dropped behind the schedule {at}: {first.late} of {first.scheduled} requests unanswered"
    return f"p99 {first.p99_ms or 0:,.0f} ms > {slo_ms:,.0f} ms {at}"


@dataclass(frozen=True)
class Verdict:
    """A server's ramp as a reader should take it."""

    sustained_rps: float
    text: str  # "1,234", or "at least 1,234 (...)" when the client may have been the limit
    generator_limited: bool  # then not a result


def verdict(steps: list[Step], slo_ms: float, ceiling_rps: float | None) -> Verdict:
    """A lower bound when the client was saturated in the step that ended the ramp, or when the rate
    held is one the client could not tell apart from its own ceiling (ceiling_rps, against a server
    with no Django)."""
    held = sustained(steps, slo_ms)
    if ceiling_rps and held >= CEILING_MARGIN * ceiling_rps:
        return Verdict(held, f"at least {held:,.0f} (the load generator's ceiling: {ceiling_rps:,.0f})", True)
    if generator_bound(steps):
        return Verdict(held, f"at least {held:,.0f} (load generator bound)", True)
    return Verdict(held, f"{held:,.0f}", False)


def client_command(url: str, settings: RampSettings, slo_ms: float, bound_threshold: float,
                   expected_server: str) -> list[str]:
    return [
        sys.executable, "-m", "loadtest.drivers.openloop", "--url", url, "--expect-server", expected_server,
        "--slo-ms", str(slo_ms), "--start-rps", str(settings.start_rps), "--factor", str(settings.factor),
        "--max-rps", str(settings.max_rps), "--refine-steps", str(settings.refine_steps),
        "--step-s", str(settings.step_s), "--warmup-s", str(settings.warmup_s),
        "--max-connections", str(settings.max_connections), "--deadline-s", str(settings.deadline_s),
        "--bound-threshold", str(bound_threshold),
    ]


def run_client(command: list[str], log: Path, on_step: Callable[[Step], None],
               timeout_s: float) -> tuple[list[Step], dict, Usage]:
    """Run the client to the end of its ramp (ramp_process.follow)."""
    return ramp_process.follow(command, "open-loop", log, Step.from_dict, on_step, timeout_s)
