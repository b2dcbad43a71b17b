"""The bench's TARGET=containers pinning against the real containers, not a fake `docker`.

`docker update --cpuset-cpus` on every container of the project, then back: checked where it
takes effect, the CPUs the kernel lets each container's main process run on.
"""

from pathlib import Path

import pytest

from loadtest.running import pinning

pytestmark = pytest.mark.containers


def allowed_cpus(pid: int) -> set[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return pinning.parse_cpus(line.split(":", 1)[1].strip())
    raise AssertionError(f"no Cpus_allowed_list for {pid}")


def affinities(processes: dict[str, int]) -> dict[str, set[int]]:
    return {service: allowed_cpus(pid) for service, pid in processes.items()}


def main_processes(stack) -> dict[str, int]:
    """Every running service of the project -> its container's main process on this host."""
    running = {}
    for service in stack.services():
        state = stack.inspect(service)["State"]
        if state["Status"] == "running":
            running[service] = state["Pid"]
    return running


def test_container_pinning_pins_every_container_of_the_project_and_gives_the_cpus_back(stack, topology):
    online = pinning.online_cpus()
    if len(online) < 2:
        pytest.skip("pinning to a subset needs two CPUs")
    chosen = {max(online)}
    processes = main_processes(stack)
    pins = pinning.ContainerPinning(topology.production.http.name, chosen)
    try:
        note = pins.apply()
        assert f"the {len(processes)} containers of Compose project {stack.project}" in note, note
        assert affinities(processes) == dict.fromkeys(processes, chosen)
    finally:
        restored = pins.restore()
    assert "failed" not in restored, restored
    assert affinities(processes) == dict.fromkeys(processes, online)
