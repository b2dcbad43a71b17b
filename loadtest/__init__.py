"""Load tests comparing the app servers: one scenario list shared by the Locust UI and the bench.

Modules that import Locust (drivers.users, drivers.soak_users, running.cells, bench, soak,
locustfile) monkey-patch the interpreter with gevent on import, so the pure helpers (measuring,
reporting, scenarios) never import them. README.md, "Layout", shows how the parts fit.
"""
