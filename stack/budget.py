"""PostgreSQL's connection budget, computed from the topology.

Every app server process keeps a psycopg pool of up to DB_POOL_MAX_SIZE connections, so servers x
tasks x WEB_CONCURRENCY x DB_POOL_MAX_SIZE connections can be open at once. Past max_connections
PostgreSQL refuses the next one ("sorry, too many clients already"), which happens under load on
several servers at once: exactly when scaling out was meant to help.

With PgBouncer in between (Swarm, Kubernetes; optional on Compose and the host run), the servers'
pools are PgBouncer's clients (max_client_conn, which is cheap), and PostgreSQL sees only each
PgBouncer's own pool (max_db_connections), however many server tasks there are.

Every path that sets max_connections or a pool size either computes it here (the host run, Swarm)
or is checked against it by a test (Kubernetes, Compose).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Connections that are not the servers': the migrations (Compose's and Swarm's migrate, the
# Kubernetes Job, which can run while the old pods still serve) and an operator's psql.
MIGRATIONS = 1
OPERATOR = 1
# superuser_reserved_connections, PostgreSQL's default: kept free for a superuser to get in even
# when every other slot is taken.
RESERVED = 3
# What one PgBouncer opens to PostgreSQL at most: a few per core serve a database on one machine,
# and more would only queue inside PostgreSQL instead of in PgBouncer.
POOLER_POOL_SIZE = 20


@dataclass(frozen=True)
class Pooler:
    """PgBouncer: `instances` of it (surge included), each opening at most `pool_size` connections
    to PostgreSQL and accepting at most `max_clients` from the servers."""

    instances: int
    pool_size: int
    max_clients: int


@dataclass(frozen=True)
class Budget:
    """One deployment's worst case: every task of every server with its pool full at once."""

    name: str
    tasks: dict[str, int]  # server -> how many of it can run at once (replicas, plus a rollout's surge)
    processes: int  # WEB_CONCURRENCY
    pool_size: int  # DB_POOL_MAX_SIZE
    pooler: Pooler | None = None
    # Connections of this deployment's own (the host run's test process), counted against both
    # PostgreSQL and PgBouncer: they may go to either.
    extra: int = 0

    @property
    def server_connections(self) -> int:
        """What the servers' pools can open together (to PostgreSQL, or to PgBouncer)."""
        return sum(self.tasks.values()) * self.processes * self.pool_size

    @property
    def postgres_connections(self) -> int:
        """What PostgreSQL can be asked for at once: its max_connections must be at least this."""
        servers = (self.pooler.instances * self.pooler.pool_size if self.pooler
                   else self.server_connections)
        return servers + MIGRATIONS + OPERATOR + RESERVED + self.extra

    def max_client_conn(self) -> int:
        """What PgBouncer's max_client_conn must be: every server connection, even if all reach
        one instance (a Service or DNS spreads connections, it does not promise to spread them
        evenly), plus the extra ones and an operator's, rounded up to a hundred."""
        return math.ceil((self.server_connections + self.extra + OPERATOR) / 100) * 100

    def problems(self, max_connections: int) -> list[str]:
        """Why this deployment can overflow PostgreSQL (or PgBouncer); empty when it cannot."""
        found = []
        if self.postgres_connections > max_connections:
            via = (f"{self.pooler.instances} PgBouncer x pool {self.pooler.pool_size}" if self.pooler
                   else f"{self.describe()} = {self.server_connections}")
            found.append(f"{self.name}: {via}, plus migrations {MIGRATIONS}, psql {OPERATOR}, "
                         f"reserved {RESERVED}, extra {self.extra} = {self.postgres_connections} "
                         f"connections possible, against max_connections={max_connections}")
        if self.pooler and self.server_connections + self.extra > self.pooler.max_clients:
            found.append(f"{self.name}: {self.describe()} = {self.server_connections} client "
                         f"connections possible, against PgBouncer's max_client_conn="
                         f"{self.pooler.max_clients}")
        return found

    def describe(self) -> str:
        return (f"{len(self.tasks)} servers, {sum(self.tasks.values())} tasks x WEB_CONCURRENCY "
                f"{self.processes} x DB_POOL_MAX_SIZE {self.pool_size}")
