"""The one supervisord client (XML-RPC on the host run's socket) that finds every pid."""

import os
import subprocess
import sys

import psutil
import pytest

from stack import local
from stack.servers import ROOT
from stack.supervisor import Supervisor, run_id

pytestmark = pytest.mark.integration


def test_run_id_is_the_same_in_every_interpreter(tmp_path):
    # str hashes are salted per interpreter; the run id must not be.
    code = f"import pathlib, stack.supervisor as s; print(s.run_id(pathlib.Path({str(tmp_path)!r})))"
    ids = {
        subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed}, cwd=ROOT,
                       capture_output=True, text=True, check=True).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert ids == {str(run_id(tmp_path))}


def test_program_pids_come_from_the_host_runs_supervisord(stack):
    if stack.name != "host":
        pytest.skip("the host run's supervisord")
    supervisor = Supervisor(local.run_place().folder)
    root = supervisor.pid()
    for name in ("gunicorn", "gunicorn-gthread", "nginx"):  # one name the prefix of another; one ungrouped
        process = psutil.Process(supervisor.program_pid(name))
        assert process.ppid() == root
        if name != "nginx":
            assert process.environ()["SERVED_BY"] == name
    with pytest.raises(LookupError, match="no supervisord program"):
        supervisor.program_pid("no-such-server")


def test_a_folder_without_a_host_run_is_a_clear_lookup_error(tmp_path):
    with pytest.raises(LookupError, match=f"no running host run in {tmp_path}"):
        Supervisor(tmp_path).pid()
