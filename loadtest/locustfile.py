"""Locust's web UI over the bench's scenario list, one user class per scenario:

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8082 --class-picker

Pick the classes in the UI (or name them: `... PlaintextUser WsEchoUser`). The WebSocket
classes need an ASGI server's port (WsHandshakeUser a WSGI one); wrk and the capacity ramp
are bench-only (`python -m loadtest.bench`).
"""

import sys
from pathlib import Path

# `locust -f` puts this file's directory on sys.path, not the repository root the package is in.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtest.drivers.users import BASES, class_name, user_class  # noqa: E402
from loadtest.scenarios.catalog import SCENARIOS  # noqa: E402

for _scenario in SCENARIOS:
    if _scenario.kind in BASES:
        globals()[class_name(_scenario)] = user_class(_scenario)
