"""Load tests comparing the app servers: one scenario list shared by the Locust UI and the bench.

Modules that import Locust (users, cell, bench, locustfile) monkey-patch the interpreter with
gevent on import, so the pure helpers (percentiles, CPU accounting, reports) never import them.
"""
