"""A run's files: results.json (every cell and the summaries) and samples.json (latency samples
for the distribution chart), rewritten after every cell so a crash keeps what finished."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from loadtest.model.results import CellResult, summarize_runs
from loadtest.scenarios.catalog import DISTRIBUTION_SCENARIOS

SAMPLES_KEPT = 2000  # per scenario x server in samples.json, for the distribution chart


def keep_samples(samples: dict, result: CellResult, values: list[float], runs: int) -> None:
    """An equal share of SAMPLES_KEPT from each of a cell's runs, so the distribution chart is
    every run's, not mostly the last one's."""
    if result.scenario not in DISTRIBUTION_SCENARIOS or not values:
        return
    share = SAMPLES_KEPT // runs
    kept = samples.setdefault(result.scenario, {}).setdefault(result.server, [])
    kept.extend(random.Random(result.run).sample(values, share) if len(values) > share else values)


def save(out: Path, meta: dict, environment: dict, results: list[CellResult], samples: dict) -> None:
    """results.json and samples.json, rewritten after every cell so a crash keeps what finished."""
    summaries = [{**asdict(s), "spread_pct": s.spread_pct} for s in summarize_runs(results)]
    document = {
        "meta": {**meta, "finished": datetime.now(UTC).isoformat(timespec="seconds")},
        "environment": environment,
        "cells": [r.as_dict() for r in results],
        "summary": summaries,
    }
    (out / "results.json").write_text(json.dumps(document, indent=2))
    rounded = {sc: {sv: [round(v, 3) for v in vs] for sv, vs in by.items()} for sc, by in samples.items()}
    (out / "samples.json").write_text(json.dumps(rounded))
