"""bench-compare and the open-loop ramp's settings: compared only where both runs ran the ramp."""

import json
import shutil

from loadtest.reporting import compare
from tests.loadtest.test_compare import WC1

RAMP = {"start_rps": 100, "factor": 1.3, "max_rps": 50000, "refine_steps": 2, "step_s": 5.0, "warmup_s": 2.0,
        "max_connections": 512, "deadline_s": 180.0}


def copy(tmp_path, name: str, ramp: dict | None, open_loop_cell: bool):
    folder = tmp_path / name
    shutil.copytree(WC1, folder)
    data = json.loads((folder / "results.json").read_text())
    if ramp is not None:
        data["meta"].setdefault("profile_settings", {})["http_ramp"] = ramp
    if open_loop_cell:
        data["cells"].append({"server": "gunicorn", "scenario": "http_capacity", "kind": "http_capacity",
                              "run": 1, "extra": {"sustained_rps": 1300}})
    (folder / "results.json").write_text(json.dumps(data))
    return compare.Run.load(folder)


def test_a_run_from_before_the_ramp_still_compares_with_one_after(tmp_path):
    assert compare.refusals(copy(tmp_path, "old", None, False), copy(tmp_path, "new", RAMP, False)) == []


def test_two_ramps_with_other_settings_are_refused(tmp_path):
    a = copy(tmp_path, "a", RAMP, True)
    b = copy(tmp_path, "b", {**RAMP, "step_s": 2.0}, True)
    assert [reason for reason in compare.refusals(a, b) if "http_ramp" in reason]
    assert compare.refusals(a, copy(tmp_path, "c", RAMP, True)) == []
