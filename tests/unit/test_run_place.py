"""The host run's folder and ports are read from the environment when asked for, not at import."""

from stack import local
from stack.servers import ROOT


def test_the_environment_set_after_import_moves_the_host_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("LOCAL_PG_PORT", "55432")
    monkeypatch.setenv("LOCAL_REDIS_PORT", "56379")
    place = local.run_place()
    assert (place.folder, place.pg_port, place.redis_port) == (tmp_path.resolve(), 55432, 56379)
    # What uses them follows too: the database's address, with its password kept in the new folder.
    url = local.postgres_url()
    password = (tmp_path / "secrets" / "postgres-password").read_text()
    assert url == f"postgres://app:{password}@127.0.0.1:55432/app"


def test_without_the_environment_the_host_run_is_in_dot_run_on_its_own_ports(monkeypatch):
    for name in ("LOCAL_RUN_DIR", "LOCAL_PG_PORT", "LOCAL_REDIS_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert local.run_place() == local.RunPlace((ROOT / ".run").resolve(), 54329, 63790, 64329)
