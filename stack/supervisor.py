"""The host run's supervisord, through its XML-RPC interface on the run folder's unix socket.

The one way anything here finds the host run's processes: supervisord's own pid and each
program's, checked against the run's identifier so a socket left by another checkout's run is
never mistaken for this one.
"""

from __future__ import annotations

import xmlrpc.client
import zlib
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport


def run_id(run: Path) -> int:
    """A short id of the run folder, the same in every interpreter (hash() of a str is not:
    Python salts it per process, https://docs.python.org/3/reference/datamodel.html#object.__hash__)."""
    return zlib.crc32(str(run).encode()) % 10**8


def identifier(run: Path) -> str:
    """supervisord's `identifier` for the run at run (supervisord.conf.j2)."""
    return f"django-servers-{run_id(run)}"


class Supervisor:
    def __init__(self, run: Path):
        self.run = run
        transport = SupervisorTransport(None, None, f"unix://{run / 'supervisor.sock'}")
        # The host part is ignored: the transport talks to the unix socket.
        self.proxy = xmlrpc.client.ServerProxy("http://supervisord", transport=transport)

    def _call(self, method: str, *args):
        try:
            return getattr(self.proxy.supervisor, method)(*args)
        except (OSError, xmlrpc.client.Error) as error:
            problem = f"{type(error).__name__}: {error}"
            raise LookupError(f"no running host run in {self.run} ({problem})") from None

    def pid(self) -> int:
        """supervisord's pid; LookupError when the run is not up, or is another run's."""
        found = self._call("getIdentification")
        if found != identifier(self.run):
            raise LookupError(f"{self.run / 'supervisor.sock'} is {found!r}, not {identifier(self.run)!r}")
        return self._call("getPID")

    def program_pid(self, name: str) -> int:
        """The pid of program name, in a group or not; LookupError unless it is running."""
        self.pid()
        for info in self._call("getAllProcessInfo"):
            if info["name"] == name:
                if info["statename"] != "RUNNING":
                    raise LookupError(f"supervisord program {info['group']}:{name} is {info['statename']}")
                return info["pid"]
        raise LookupError(f"no supervisord program named {name!r}")
