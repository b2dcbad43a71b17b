"""Headless bench: every scenario x server cell, measured alike, reported in reports/<timestamp>/.

    python -m loadtest.bench --profile quick|full --target host|containers --servers a,b --out DIR

Fairness: for the bench's duration the whole server side (host: every thread of the host run's
supervisord tree, i.e. app servers, nginx, PostgreSQL, Redis; containers: the Compose project's
containers) is pinned to --server-cpus (default: every CPU but the load generator's) and the load
generator (Locust, wrk) to --loadgen-cpus (default 0); the affinity is restored at the end.
Ctrl-C (or SIGTERM) stops the current cell; the finished ones are kept, reported, and unpinned.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import gevent
import locust  # noqa: F401  (imported before any socket is opened: it monkey-patches them for gevent)

from loadtest import where
from loadtest.drivers import distributed, wrk
from loadtest.measuring.envinfo import code_version, describe
from loadtest.measuring.server_cpu import CpuMeter, server_meters, stack_measures
from loadtest.model.results import CellResult
from loadtest.polling import poll_until
from loadtest.reporting.tables import ceiling_sentence, http_ceiling_sentence
from loadtest.running import ceiling, distributed_cell, pinning
from loadtest.running.budgets import budgets, server_affinity_note
from loadtest.running.cells import Settings, run_cell
from loadtest.running.progress import Progress, cell_summary
from loadtest.running.store import keep_samples, save
from loadtest.scenarios.catalog import Scenario, by_name, is_kind, of_kind
from loadtest.scenarios.profiles import PROFILES, Cell, Profile, estimate_s, fit_measure_s, in_profile, plan
from stack import local
from stack import servers as stack_servers

ROOT = Path(__file__).resolve().parent.parent
SETTLE_S = 0.5  # between cells, so one cell's closing connections do not load the next


class QuietSpawnRateWarning(logging.Filter):
    """Every cell spawns all its users within the warm-up on purpose; Locust warns about that."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "spawn rate is very high" not in record.getMessage()


def client_ceiling(profile, server_cpus: set[int], raw: Path) -> dict:
    """The capacity client's own ramp against the reference server, once per run, first.

    This ramp is not ended by the client's demand, as a server's is: against a server that costs
    next to nothing, the client is meant to be the busy side, and how far it gets before the
    broadcast p95 passes the bound is exactly its ceiling (a 250-member step already keeps it
    busy 85 % of each broadcast, so ending there read as "at least 0").
    """
    def show(step) -> None:
        print(f"  client ceiling: {step.clients} members p95 {step.p95_ms or 0:.0f} ms, client demand "
              f"{step.loadgen_demand_pct or 0:.0f} %", file=sys.stderr, flush=True)

    try:
        return ceiling.measure(profile, math.inf, server_cpus, raw / "client_ceiling_wsload.log", show)
    except (OSError, RuntimeError) as error:
        return {"error": f"{type(error).__name__}: {error}"}


def http_ceiling(profile, scenarios, server_cpus: set[int], raw: Path) -> dict:
    """The open-loop client's own ramp against the reference HTTP server, once per run, first."""
    scenario = of_kind(scenarios, "http_capacity")[0]

    def show(step) -> None:
        print(f"  open-loop client ceiling: {step.offered_rps:,.0f} rps p99 {step.p99_ms or 0:.1f} ms, "
              f"client demand {step.loadgen_demand_pct or 0:.0f} %", file=sys.stderr, flush=True)

    try:
        return ceiling.measure_http(profile, scenario.params["slo_ms"], scenario.path, server_cpus,
                                    raw / "http_ceiling_openloop.log", show)
    except (OSError, RuntimeError) as error:
        return {"error": f"{type(error).__name__}: {error}"}


def with_slo(scenarios: list, slo_ms: float | None) -> list:
    """--slo-ms in place of each open-loop scenario's own SLO; recorded in the run's scenarios."""
    if slo_ms is None:
        return scenarios
    return [replace(s, params=MappingProxyType({**s.params, "slo_ms": slo_ms})) if "slo_ms" in s.params else s
            for s in scenarios]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--target", choices=("host", "containers"), default="host")
    parser.add_argument("--servers", help="comma-separated servers.toml names (default: all)")
    parser.add_argument("--scenarios", help="comma-separated scenario names (default: the profile's)")
    parser.add_argument("--out", type=Path, help="report directory (default: reports/<UTC timestamp>)")
    parser.add_argument("--loadgen-cpus", default="0", help="CPUs for the load generator, e.g. 0 or 0,2-3")
    parser.add_argument(
        "--server-cpus", help="CPUs for the whole server side (default: every CPU but the load generator's)"
    )
    parser.add_argument("--no-pin", action="store_true", help="pin nothing (to see what sharing CPUs does)")
    parser.add_argument("--bound-threshold", type=float, default=0.8, help="loadgen demand that flags a cell")
    parser.add_argument("--runs", type=int, help="repetitions per cell (default: the profile's)")
    parser.add_argument("--measure", type=float, help="measured seconds per cell (default: the profile's)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per cell (default: the profile's)")
    parser.add_argument("--servers-file", type=Path, default=stack_servers.SERVERS_FILE)
    parser.add_argument("--slo-ms", type=float,
                        help="p99 latency SLO of the open-loop scenarios (default: each scenario's own)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and its duration, run nothing")
    parser.add_argument("--workers", type=int, default=0,
                        help="Locust workers to start here for the HTTP cells (0: Locust in this process)")
    parser.add_argument("--remote-workers", type=int, default=0,
                        help="more workers to wait for, from other machines (python -m loadtest.worker)")
    parser.add_argument("--master-bind", default="127.0.0.1",
                        help="address the master listens on for workers (0.0.0.0 for other machines)")
    parser.add_argument("--master-port", type=int, default=distributed.DEFAULT_PORT)
    # A stack just started is still importing Django in every process of every server.
    parser.add_argument("--ready-wait", type=float, default=60.0,
                        help="seconds to wait for every server to answer /healthz before refusing")
    parser.add_argument("--nginx-host", default="127.0.0.1",
                        help="nginx's address as the load generators reach it (for remote workers)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("locust.runners").addFilter(QuietSpawnRateWarning())
    profile = PROFILES[args.profile]
    overrides = {"runs": args.runs, "warmup_s": args.warmup}
    profile = replace(profile, **{name: value for name, value in overrides.items() if value is not None})
    topology = stack_servers.load(args.servers_file)
    chosen = [topology[name] for name in args.servers.split(",")] if args.servers else list(topology.servers)
    scenarios = by_name(args.scenarios.split(",")) if args.scenarios else in_profile(profile, by_name())
    if args.slo_ms is not None and args.slo_ms <= 0:
        print("bench: --slo-ms is a latency in milliseconds: above 0", file=sys.stderr)
        return 2
    scenarios = with_slo(scenarios, args.slo_ms)
    cells = plan(profile, scenarios, [(s.name, s.protocol) for s in chosen])
    measure_s = args.measure or fit_measure_s(profile, cells)
    minutes = estimate_s(profile, cells, measure_s) / 60
    print(f"{len(cells)} cells, {measure_s:.1f} s measured each, about {minutes:.1f} min", file=sys.stderr)
    if args.workers < 0 or args.remote_workers < 0:
        print("bench: --workers and --remote-workers count processes: 0 or more", file=sys.stderr)
        return 2
    if args.dry_run:
        for cell in cells:
            print(f"  {cell.key}", file=sys.stderr)
        return 0

    if waiting := not_ready(chosen, args.nginx_host, args.ready_wait):
        print(f"bench: {', '.join(waiting)} did not answer /healthz within {args.ready_wait:.0f} s: a cell "
              "would measure a server still starting (and pinning would miss its processes). See "
              "`python -m stack status` (or `docker compose ps`), then run the bench again",
              file=sys.stderr)
        return 2
    out = args.out or ROOT / "reports" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (out / "raw").mkdir(parents=True, exist_ok=True)
    available = os.sched_getaffinity(0)
    notes: list[str] = []
    if args.no_pin or len(available) < 2:
        loadgen_cpus = server_cpus = available
        notes.append("nothing pinned: " + ("--no-pin" if args.no_pin else "one CPU available")
                     + "; load generator and servers share every CPU")
    else:
        try:
            loadgen_cpus, server_cpus = pinning.choose_cpus(args.loadgen_cpus, args.server_cpus, available)
        except ValueError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 2
    # SIGTERM ends the run like Ctrl-C: finished cells kept, affinity restored.
    signal.signal(signal.SIGTERM, interrupt)
    run_dir = local.run_place().folder
    meters = server_meters(args.target, chosen, notes, run_dir)
    server_pins = None
    try:
        if not args.no_pin and loadgen_cpus != server_cpus:
            if any(meters.values()):  # only a stack that runs the servers under test is pinned
                server_pins = pinning.server_side(args.target, chosen, server_cpus, notes, run_dir)
                if server_pins is not None:  # set before apply(): Ctrl-C during it still restores
                    try:
                        notes.append(server_pins.apply())
                    except (LookupError, OSError) as error:
                        notes.append(f"server side NOT pinned: {error}")
                        server_pins.restore()
                        server_pins = None
            else:
                notes.append("server side NOT pinned: none of the servers is a program of the "
                             f"{args.target} stack")
            notes.append(pinning.pin_self(loadgen_cpus))
        return run_plan(BenchRun(args, out, run_dir, profile, topology, chosen, scenarios, cells, measure_s,
                                 loadgen_cpus, server_cpus, notes, meters, server_pins))
    finally:
        if server_pins is not None and not server_pins.restored:  # an error before run_plan restored
            print(f"note: {server_pins.restore()}", file=sys.stderr)


def not_ready(chosen, nginx_host: str, wait_s: float) -> list[str]:
    """The servers that do not answer /healthz through their nginx port within wait_s."""
    waiting = list(chosen)

    def all_answer() -> bool:
        waiting[:] = [s for s in waiting if not where.answers(nginx_host, s.port)]
        return not waiting

    poll_until(all_answer, wait_s, 1.0, sleep=gevent.sleep)
    return [s.name for s in waiting]


@dataclass
class BenchRun:
    """Everything a run of the plan needs, decided before its first cell: what to run, where, and
    what the server side was given."""

    args: argparse.Namespace
    out: Path  # the report directory
    run_dir: Path  # the host run's folder (stack.local), where --target host finds its processes
    profile: Profile
    topology: stack_servers.Topology
    chosen: list  # the servers.toml entries under test
    scenarios: list[Scenario]
    cells: list[Cell]
    measure_s: float
    loadgen_cpus: set[int]
    server_cpus: set[int]
    notes: list[str]  # the report's notes, added to while the run goes
    meters: dict[str, CpuMeter | None]
    server_pins: pinning.HostPinning | pinning.ContainerPinning | None


def start_master(args, out: Path, meta: dict, notes: list[str]) -> distributed.Master:
    """Locust's master in this process and its workers, for the HTTP cells; stated in the report."""
    master = distributed.Master(args.workers, args.remote_workers, args.master_bind, args.master_port,
                                log_dir=out / "raw")
    meta["locust_workers"] = {"local": args.workers, "remote": args.remote_workers}
    where = f"{args.workers} here" + (f", {args.remote_workers} elsewhere" if args.remote_workers else "")
    notes.append(f"HTTP cells: Locust master and {master.expected} workers ({where}); load generator CPU "
                 "and demand are over all of them (demand: the busiest thread of any)")
    print(f"note: {notes[-1]}", file=sys.stderr)
    return master


def interrupt(signum, frame):
    raise KeyboardInterrupt


def run_plan(run: BenchRun) -> int:
    needs_wrk = any(is_kind(cell.scenario, "wrk") for cell in run.cells)
    if needs_wrk and not wrk.available():
        run.notes.append("wrk is not installed: the plaintext_wrk cells fail")
    settings = Settings(
        profile=run.profile,
        measure_s=run.measure_s,
        loadgen_cpus=len(os.sched_getaffinity(0)),
        bound_threshold=run.args.bound_threshold,
        csv_dir=run.out / "raw",
        wrk_script=wrk.script_file(run.out) if needs_wrk else None,
        **stack_measures(run.args.target, run.meters, lambda: pinning.host_root_pid(run.run_dir),
                         run.run_dir),
    )
    meta = {
        "profile": run.profile.name,
        "target": run.args.target,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": code_version(),
        "servers": [
            {"name": s.name, "label": s.label, "protocol": s.protocol, "port": s.port, "django": s.django}
            for s in run.chosen
        ],
        # What the report's ratios are taken to: the production routing's two servers.
        "baselines": {"http": run.topology.production.http.name,
                      "websocket": run.topology.production.websocket.name},
        # What a cell's numbers depend on besides the server: bench-compare refuses runs that differ.
        "scenarios": {scenario.name: scenario.settings() for scenario in run.scenarios},
        "users": {"http": run.profile.http_users, "ws": run.profile.ws_users,
                  "chat_members": run.profile.chat_members},
        "warmup_s": run.profile.warmup_s,
        "measure_s": run.measure_s,
        "runs": run.profile.runs,
        "loadgen_cpus": sorted(run.loadgen_cpus),
        "server_cpus": sorted(run.server_cpus),
        "pinned": run.server_pins is not None,
        "bound_threshold": run.args.bound_threshold,
        "profile_settings": asdict(run.profile),
        "notes": run.notes,
        "interrupted": False,
    }
    environment = describe()
    for server in run.chosen:
        meter = run.meters[server.name]
        if meter is None:
            continue
        meta.setdefault("server_cpu_source", {})[server.name] = meter.description
        note = server_affinity_note(server.name, meter, run.loadgen_cpus) if run.server_pins else None
        if note:
            run.notes.append(note)
    meta["budgets"] = budgets(run.chosen, run.meters, run.loadgen_cpus, run.server_cpus, run.profile)
    for note in run.notes:
        print(f"note: {note}", file=sys.stderr)

    results: list[CellResult] = []
    samples: dict = {}
    progress = Progress(len(run.cells))
    by_server = {s.name: s for s in run.chosen}
    master = None
    if run.args.workers or run.args.remote_workers:
        try:
            master = start_master(run.args, run.out, meta, run.notes)
        except (RuntimeError, OSError) as error:
            print(f"bench: the Locust workers: {error}", file=sys.stderr)
            return 2  # main() gives the server side its CPUs back
    try:
        if any(is_kind(cell.scenario, "ws_capacity") for cell in run.cells):
            meta["client_ceiling"] = client_ceiling(run.profile, run.server_cpus, run.out / "raw")
            print(f"note: {ceiling_sentence(meta['client_ceiling'])}", file=sys.stderr)
        if any(is_kind(cell.scenario, "http_capacity") for cell in run.cells):
            meta["http_ceiling"] = http_ceiling(run.profile, run.scenarios, run.server_cpus, run.out / "raw")
            settings = replace(settings, http_ceiling_rps=meta["http_ceiling"].get("sustained_rps"))
            print(f"note: {http_ceiling_sentence(meta['http_ceiling'])}", file=sys.stderr)
        for index, cell in enumerate(run.cells, 1):
            progress.begin(index, cell.scenario.name, cell.server, cell.run)
            base_url = f"http://{run.args.nginx_host}:{by_server[cell.server].port}"
            try:
                if master is not None and cell.scenario.kind_of.distributable:
                    result, values = distributed_cell.run(cell, base_url, settings, run.meters[cell.server],
                                                          progress, master)
                else:
                    result, values = run_cell(cell, base_url, settings, run.meters[cell.server], progress)
            except Exception as error:  # one broken cell must not lose the others
                traceback.print_exc()
                result, values = (
                    CellResult(
                        cell.server,
                        cell.scenario.name,
                        cell.scenario.kind,
                        cell.run,
                        error=f"{type(error).__name__}: {error}",
                    ),
                    [],
                )
            results.append(result)
            keep_samples(samples, result, values, run.profile.runs)
            progress.done(cell_summary(result))
            save(run.out, meta, environment, results, samples)
            gevent.sleep(SETTLE_S)
    except KeyboardInterrupt:
        meta["interrupted"] = True
        print(f"\ninterrupted: keeping the {len(results)} finished cells", file=sys.stderr)
    finally:
        if master is not None:
            master.close()
    if run.server_pins is not None:
        run.notes.append(run.server_pins.restore())
        print(f"note: {run.notes[-1]}", file=sys.stderr)
    save(run.out, meta, environment, results, samples)
    # Imported only now: the report draws with matplotlib, whose import would otherwise take CPU
    # and memory from the load generator before the first cell.
    from loadtest.reporting import report

    report.write(run.out)
    print(f"report: {run.out / 'report.html'}", file=sys.stderr)
    return 130 if meta["interrupted"] else 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    sys.exit(code)
