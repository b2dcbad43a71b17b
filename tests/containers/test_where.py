"""`make bench` with only the Compose stack up measures the containers.

The test project has its own name, files and settings file; Compose's own variables
(COMPOSE_PROJECT_NAME, COMPOSE_FILE, COMPOSE_ENV_FILES) point `docker compose` at it, as they
would for a user who runs a project of theirs the same way.
"""

import subprocess
import sys

import pytest

from tests.docs.facts import ROOT

pytestmark = pytest.mark.containers


def test_with_only_the_containers_up_the_bench_picks_containers(stack, tmp_path):
    env = {
        **stack.environment(),
        **stack.compose_variables,
        "LOCAL_RUN_DIR": str(tmp_path),  # no host run there
    }
    done = subprocess.run([sys.executable, "-m", "loadtest.where"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "containers"), done.stderr
    refused = subprocess.run([sys.executable, "-m", "loadtest.where", "host"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "`make local-up`" in refused.stderr, refused.stderr
