"""The stack on Docker Swarm, with replicas: what one Compose container per server cannot show.

Run by `make test-swarm` (STACK=swarm; `STACK=swarm pytest tests/integration` runs the integration
suite through the same stack): every port answers, every request can land on either replica of
a server, a chat spans replicas of two ASGI servers, the servers trust nginx without a fixed
address, a rolling update drops nothing, and a killed replica is replaced without a failed request.
"""

import json
import os
import time
import uuid

import httpx
import pytest
import websocket

from stack import swarm_deploy
from tests.hardening.helpers import Load
from tests.swarm.run import SwarmRun

pytestmark = pytest.mark.skipif(
    os.environ.get("STACK") != "swarm", reason="the swarm stack: run `make test-swarm` (STACK=swarm)"
)

REPLICAS = SwarmRun.replicas
# Requests per server in the replica test: nginx starts each at a random one of the resolved
# addresses, so 40 miss a replica with a chance of 2^-39.
REQUESTS = 40
# Chat members per ASGI server (each socket lands on a random replica: 2^-15 that one is missed).
MEMBERS = 16


def tagged(tag: str) -> str:
    """A User-Agent no other request has, to find this test's requests in nginx's access log."""
    return f"swarm-test-{tag}-{uuid.uuid4().hex[:8]}"


def test_every_port_answers_with_its_server(stack, topology):
    with httpx.Client(timeout=10) as client:
        for port, name in topology.http_ports():
            response = client.get(f"http://127.0.0.1:{port}/json")
            assert response.status_code == 200, (port, response.text[:200])
            assert response.headers["x-served-by"] == name, port
    for port, name in topology.websocket_ports():
        sock = websocket.create_connection(f"ws://127.0.0.1:{port}/ws/echo/", timeout=15,
                                           origin=f"http://127.0.0.1:{port}")
        try:
            sock.send(f"echo {name}")
            assert sock.recv() == f"echo {name}", port
        finally:
            sock.close()


def test_every_server_has_its_replicas_behind_its_port(stack, topology):
    with httpx.Client(timeout=10) as client:
        for server in topology.servers:
            addresses = stack.task_addresses(server.name)
            assert len(addresses) == REPLICAS, (server.name, addresses)
            agent = tagged(server.name)
            for _ in range(REQUESTS):
                url = f"http://127.0.0.1:{server.port}/db"
                response = client.get(url, headers={"user-agent": agent})
                assert response.status_code == 200, (server.name, response.text[:200])
                assert response.headers["x-served-by"] == server.name
            reached = set(stack.upstreams(agent))
            assert reached == addresses, f"{server.name}: requests reached {reached}, replicas: {addresses}"


def test_chat_spans_replicas_of_two_asgi_servers(stack, topology):
    first = topology.production.websocket
    second = next(server for server in topology.servers if server.websocket and server != first)
    room = f"swarm-{uuid.uuid4().hex[:8]}"
    members = []
    try:
        for server in (first, second):
            agent = tagged(f"chat-{server.name}")
            for _ in range(MEMBERS):
                members.append((server, agent, websocket.create_connection(
                    f"ws://127.0.0.1:{server.port}/ws/chat/{room}/", timeout=15,
                    origin=f"http://127.0.0.1:{server.port}", header=[f"User-Agent: {agent}"])))
        senders = {server.name: sock for server, _, sock in members}
        for name, sock in senders.items():
            sock.send(json.dumps({"message": f"from {name}", "sent_at": time.time(), "id": name}))
        for server, _, sock in members:
            heard = set()
            while len(heard) < len(senders):
                message = json.loads(sock.recv())
                assert message["type"] == "chat", message
                heard.add(message["server"])
            assert heard == set(senders), (server.name, heard)
    finally:
        for _, _, sock in members:
            sock.close()
    # nginx logs a WebSocket when it closes: its lines reach the service's log a little later.
    for server in (first, second):
        agent = next(agent for member, agent, _ in members if member == server)
        expected = stack.task_addresses(server.name)
        logged_soon(lambda agent=agent, expected=expected: set(stack.upstreams(agent)) >= expected)
        reached = set(stack.upstreams(agent))
        assert reached == expected, (server.name, reached)


def logged_soon(read, timeout: float = 30):
    """read() again until it finds something: a service's log shows a request after its answer."""
    deadline = time.monotonic() + timeout
    while not (found := read()) and time.monotonic() < deadline:
        time.sleep(0.25)
    return found


def test_servers_trust_nginx_without_a_fixed_address(stack, topology):
    """FORWARDED_ALLOW_IPS is the front network's subnet: Uvicorn, which logs the client address it
    took from a trusted X-Forwarded-For, names the client nginx saw, not nginx's own address."""
    server = topology["uvicorn"]
    tag = uuid.uuid4().hex
    response = httpx.get(f"http://127.0.0.1:{server.port}/json?trust={tag}", timeout=10)
    assert response.status_code == 200
    seen_by_nginx = logged_soon(lambda: {line.split()[0] for line in stack.logs("nginx") if tag in line})
    seen_by_uvicorn = logged_soon(lambda: {line.split(" - ")[0].split()[-1].rsplit(":", 1)[0]
                                           for line in stack.logs(server.name) if tag in line})
    assert len(seen_by_nginx) == 1, seen_by_nginx
    assert seen_by_uvicorn == seen_by_nginx, (seen_by_uvicorn, seen_by_nginx)
    nginx_addresses = {container["NetworkSettings"]["Networks"][f"{stack.project}_front"]["IPAddress"]
                       for container in stack.containers("nginx")}
    assert not seen_by_uvicorn & nginx_addresses


@pytest.mark.timeout(300)
def test_rolling_update_under_load_drops_nothing(stack, topology):
    server = topology.production.http
    before = stack.wait_replicas(server.name, REPLICAS)
    with Load(f"http://127.0.0.1:{server.port}/wait/async?ms=50", max_seconds=240) as load:
        load.answered(REPLICAS * 2)
        started = time.monotonic()
        # --force: a new task for every replica, one at a time, start-first (stack/swarm.py).
        stack.run(["docker", "service", "update", "--force", "--detach=false", stack.service(server.name)],
                  timeout=240)
        took = time.monotonic() - started
        after = stack.wait_replicas(server.name, REPLICAS)
        load.answered(REPLICAS * 2)  # the new tasks serve, not only run
    print(f"\nrolling update of {server.name} ({REPLICAS} replicas, start-first) in {took:.0f} s "
          f"under load: {dict(load.statuses)}, slowest {load.slowest:.2f} s")
    assert not before & after, "the update left an old task running"
    assert load.statuses[200] > 0
    assert load.failed == 0, dict(load.statuses)


@pytest.mark.timeout(300)
def test_killed_replica_is_replaced_and_no_request_fails(stack, topology):
    server = topology.production.http
    before = stack.wait_replicas(server.name, REPLICAS)
    victim = stack.containers(server.name)[0]
    victim_task = victim["Config"]["Labels"]["com.docker.swarm.task.id"]
    nginx_before = {container["Id"] for container in stack.containers("nginx")}
    with Load(f"http://127.0.0.1:{server.port}/wait/async?ms=50", max_seconds=240) as load:
        load.answered(REPLICAS * 2)
        # SIGKILL, as the OOM killer or a lost node would: no graceful shutdown at all.
        stack.run(["docker", "kill", victim["Id"]])
        killed_at = time.monotonic()
        deadline = killed_at + 60
        while victim_task in stack.running_tasks(server.name):  # until Swarm has seen it die
            assert time.monotonic() < deadline, "Swarm still counts the killed task as running"
            time.sleep(0.5)
        after = stack.wait_replicas(server.name, REPLICAS, timeout=180)
        replaced_in = time.monotonic() - killed_at
        load.answered(REPLICAS * 2)
    print(f"\nkilled one of {REPLICAS} {server.name} replicas under load: {dict(load.statuses)}, "
          f"replaced in {replaced_in:.0f} s, slowest request {load.slowest:.2f} s")
    # Refused connections mean nginx itself was away, which is not what this test is about.
    assert {container["Id"] for container in stack.containers("nginx")} == nginx_before, \
        f"nginx was replaced meanwhile:\n{swarm_deploy.diagnose(stack.service('nginx'))}"
    assert victim_task not in after and len(after - before) == 1, (victim_task, before, after)
    assert load.statuses[200] > 0
    # None: nginx retries a GET that was in flight on the killed replica, or could not connect to
    # it, on the other one (proxy_next_upstream error timeout), as the README promises.
    assert load.failed == 0, dict(load.statuses)
    assert len(stack.task_addresses(server.name)) == REPLICAS


def test_tasks_are_hardened_and_secrets_are_not_in_the_environment(stack, topology):
    secrets = {"SECRET_KEY", "DATABASE_URL", "POSTGRES_PASSWORD"}
    for name in ["nginx", "postgres", "redis", *topology.names]:
        for container in stack.containers(name):
            host = container["HostConfig"]
            assert host["ReadonlyRootfs"] is True, name
            assert host["CapDrop"] in (["ALL"], ["all"]), name
            assert container["Config"]["User"] not in ("", "0", "root"), name
            variables = {entry.split("=", 1)[0] for entry in container["Config"]["Env"]}
            assert not variables & secrets, (name, variables & secrets)
    for server in topology.servers:
        for container in stack.containers(server.name):
            assert container["HostConfig"]["NanoCpus"] == int(float(stack.settings["APP_CPUS"]) * 1e9)
            assert container["Config"]["Env"].count("SECRET_KEY_FILE=/run/secrets/secret_key") == 1
