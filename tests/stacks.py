"""The running topologies a test can go through: the host run (default) and, later, Compose.

Both expose the same ports (servers.toml), so the integration tests are written once and run
against either; a stack only says how to start, stop and disturb its parts.
"""

from stack import local


class HostRun:
    """The host run under supervisord (`make local-up`)."""

    name = "host"

    def __init__(self):
        self.started_here = False

    def up(self) -> None:
        self.started_here = not local.supervisord_running()
        local.up()

    def down(self) -> None:
        if self.started_here:
            local.down()

    def stop(self, service: str) -> None:
        local.supervisorctl("stop", service)

    def start(self, service: str) -> None:
        local.supervisorctl("start", service)
