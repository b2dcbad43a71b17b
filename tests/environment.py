"""A pytest plugin loaded before Django: point the settings at the test services.

When DATABASE_URL and REDIS_URL are not set, the tests use the host run's private PostgreSQL
and Redis (started by the `stack` fixture); when they are set, the tests use those.
"""

import os

from stack import local

PRIVATE_SERVICES = "DATABASE_URL" not in os.environ and "REDIS_URL" not in os.environ

for name, value in local.app_environment().items():
    os.environ.setdefault(name, value)
