"""stack/budget.py's arithmetic, on the issue's figures (Kubernetes base on main: 352 against 300)."""

from stack import budget

SERVERS = {f"server{i}": 2 for i in range(11)}


def test_direct_connections_are_every_pool_full_plus_the_others():
    direct = budget.Budget("k8s", SERVERS, processes=2, pool_size=8)
    assert direct.server_connections == 352
    assert direct.postgres_connections == 352 + budget.MIGRATIONS + budget.OPERATOR + budget.RESERVED
    assert "357 connections possible, against max_connections=300" in direct.problems(300)[0]
    assert direct.problems(357) == []


def test_through_pgbouncer_postgresql_sees_its_pools_only():
    many = {name: 10 for name in SERVERS}
    pooled = budget.Budget("k8s", many, processes=2, pool_size=8, pooler=budget.Pooler(3, 20, 2000))
    assert pooled.postgres_connections == 3 * 20 + 5
    assert pooled.problems(65) == []
    small = budget.Budget("k8s", many, processes=2, pool_size=8, pooler=budget.Pooler(3, 20, 1000))
    assert small.problems(65) == [
        "k8s: 11 servers, 110 tasks x WEB_CONCURRENCY 2 x DB_POOL_MAX_SIZE 8 = 1760 client connections "
        "possible, against PgBouncer's max_client_conn=1000"]


def test_max_client_conn_covers_every_server_connection_on_one_instance():
    direct = budget.Budget("swarm", SERVERS, processes=2, pool_size=8, extra=9)
    assert direct.max_client_conn() == 400  # 352 + 9 + 1, rounded up to a hundred
