"""Render the Kubernetes manifests that derive from servers.toml and settings.toml into
deploy/kubernetes/base.

Written by `python -m stack render` and committed, so `kubectl apply -k` needs no Python;
tests/deploy checks that the committed files are what this renders. Everything per server lives
here (a Deployment, a Service and a PodDisruptionBudget each, nginx's ports, the migration Job,
which shares the app servers' pod settings), and the ConfigMaps' settings (app.env, nginx.env);
the rest of the base is plain YAML beside it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from . import render, servers
from . import settings as settings_list
from .servers import ROOT, Server
from .settings import Setting

BASE = ROOT / "deploy" / "kubernetes" / "base"
APP_MANIFEST = BASE / "app.yaml"
NGINX_TUNABLES = BASE / "nginx.env"
APP_SETTINGS = BASE / "app.env"
HEADER = "# Rendered from servers.toml and settings.toml by `python -m stack render`: do not edit by hand.\n"

APP_IMAGE = "django-servers/app"
NGINX_IMAGE = "django-servers/nginx"
APP_UID = 10001  # the Dockerfile's app user
# The official nginx image's own user, which the Compose stack runs too.
NGINX_UID = 101
PART_OF = "django-servers"
# Every server's graceful shutdown (GRACEFUL_TIMEOUT, as app.env gives it), plus the preStop pause,
# plus a margin before the kubelet's SIGKILL. An overlay that raises GRACEFUL_TIMEOUT patches
# terminationGracePeriodSeconds too.
PRE_STOP_SECONDS = 5
TERMINATION_GRACE_SECONDS = int(settings_list.defaults()["GRACEFUL_TIMEOUT"]) + PRE_STOP_SECONDS + 5
# The probes' Host header: the kubelet sends the pod's IP otherwise, which is not in
# ALLOWED_HOSTS, and Django answers 400 (the probe fails).
PROBE_HOST = "127.0.0.1"
# The servers reach PostgreSQL through PgBouncer in transaction mode (pgbouncer.yaml), which keeps
# PostgreSQL's connections bounded however far they scale (stack/budget.py); the migrate Job goes
# to PostgreSQL itself, as DDL in one session should.
PGBOUNCER = "pgbouncer:6432"
POSTGRES = "postgres:5432"


def quantity(docker_size: str) -> str:
    """Docker's 512M (binary megabytes) as Kubernetes spells it: 512Mi."""
    return docker_size[:-1] + docker_size[-1].upper() + "i" if docker_size[-1] in "kKmMgG" else docker_size


def labels(name: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": PART_OF}


def metadata(name: str, component: str) -> dict:
    return {"name": name, "labels": labels(name, component)}


def hardened(uid: int) -> dict:
    """The pod half of the Compose stack's hardening (non-root, seccomp), plus no API token."""
    return {
        "automountServiceAccountToken": False,
        # Service links would put GUNICORN_PORT=tcp://..., UVICORN_PORT=... into every container:
        # Uvicorn and Granian read such variables as their own options.
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


CONTAINER_HARDENING = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def tmpfs(name: str, path: str) -> tuple[dict, dict]:
    """A writable in-memory folder on the read-only root filesystem (Compose's tmpfs)."""
    return ({"name": name, "mountPath": path},
            {"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}})


def resources(cpu: str, memory: str) -> dict:
    # Requests equal to limits: Guaranteed QoS, and every server gets exactly what the others get,
    # as the Compose stack's equal limits do.
    both = {"cpu": cpu, "memory": memory}
    return {"requests": dict(both), "limits": dict(both)}


def http_probe(path: str, port: str, period: int, failures: int) -> dict:
    return {
        "httpGet": {"path": path, "port": port, "httpHeaders": [{"name": "Host", "value": PROBE_HOST}]},
        "periodSeconds": period, "timeoutSeconds": 4, "failureThreshold": failures,
    }


def expanded(setting: Setting) -> bool:
    """A value the kubelet expands from other variables ($(NAME)): a container's env, not app.env."""
    return "$(" in (setting.kubernetes or "")


def app_settings(settings: dict[str, Setting]) -> dict[str, str]:
    """app-config: every setting the app or a server reads, as the base gives it; not the secrets
    (the Secret), not a server's own (its container's env), not what the images set."""
    return {s.name: s.default if s.kubernetes is None else s.kubernetes
            for s in settings.values()
            if (s.read_by_servers or "postgres" in s.readers) and not s.required and not s.image
            and s.name != "SERVED_BY" and not expanded(s)}


def app_container(name: str, command: list[str], extra_env: dict[str, str], limits: dict,
                  database: str = PGBOUNCER) -> dict:
    pooler = {"DB_POOLER": "pgbouncer"} if database == PGBOUNCER else {}
    env = [{"name": key, "value": value} for key, value in {"SERVED_BY": name, **extra_env, **pooler}.items()]
    env += [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": "django-servers", "key": key}}}
        for key in ("SECRET_KEY", "POSTGRES_PASSWORD")
    ]
    # Expanded by the kubelet from the variables above and app-config's (envFrom).
    env.append({"name": "DATABASE_URL",
                "value": f"postgres://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@{database}/$(POSTGRES_DB)"})
    mount, _ = tmpfs("tmp", "/tmp")
    return {
        "name": name,
        "image": APP_IMAGE,
        "imagePullPolicy": "Always",
        "command": command,
        "envFrom": [{"configMapRef": {"name": "app-config"}}],
        "env": env,
        "resources": limits,
        "securityContext": CONTAINER_HARDENING,
        "volumeMounts": [mount],
    }


def app_pod(server_name: str, containers: list[dict], init: list[dict] | None = None) -> dict:
    _, volume = tmpfs("tmp", "/tmp")
    pod = {**hardened(APP_UID), "containers": containers, "volumes": [volume]}
    if init:
        pod["initContainers"] = init
    return pod


def spread(name: str) -> list[dict]:
    """Replicas on different nodes where the cluster has them, so one node's loss is one replica's."""
    return [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": {"app.kubernetes.io/name": name}}}]


def deployment(name: str, component: str, pod: dict, replicas: int = 2) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(name, component),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            # A new pod must be ready before an old one goes: a rollout never lowers capacity.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels(name, component)},
                "spec": {**pod, "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                         "topologySpreadConstraints": spread(name)},
            },
        },
    }


def service(name: str, component: str, ports: list[tuple[str, int, str]]) -> dict:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": metadata(name, component),
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": port_name, "port": port, "targetPort": target}
                      for port_name, port, target in ports],
        },
    }


def disruption_budget(name: str, component: str) -> dict:
    # maxUnavailable rather than minAvailable: a node drain can always proceed one pod at a time,
    # whatever the replica count an overlay sets.
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": metadata(name, component),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}},
    }


# The servers' rolling update removes a pod from the Service's endpoints and signals it at the same
# time; the pause lets nginx and kube-proxy stop sending before the server stops accepting.
PRE_STOP = {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}}

# Like Compose's `migrate: service_completed_successfully`: a server starts once the schema is
# current (the migrate Job has run), instead of answering 500s until it has.
WAIT_FOR_MIGRATIONS = ["sh", "-c", "until python app/manage.py migrate --check --noinput >/dev/null; "
                                   "do echo waiting for the migrate Job; sleep 3; done"]


def server_probe(server: Server, path: str, period: int, failures: int) -> dict:
    """GET path over HTTP, or through the server's own health check (servers.toml) where it speaks none."""
    if server.healthcheck is None:
        return http_probe(path, "http", period, failures)
    command = [f"/app/{server.healthcheck}", str(render.CONTAINER_PORT), path]
    return {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": 4,
            "failureThreshold": failures}


def app_server(server: Server, limits: dict) -> list[dict]:
    container = app_container(server.name, [f"/app/{server.command}"], server.env, limits)
    container |= {
        "image": f"django-servers/{server.image}",
        "ports": [{"name": "http", "containerPort": render.CONTAINER_PORT}],
        # /healthz does no I/O: a database outage never restarts servers. Readiness (/readyz)
        # takes a pod out of the Service while PostgreSQL or Redis do not answer it.
        "startupProbe": server_probe(server, "/healthz", period=2, failures=30),
        "livenessProbe": server_probe(server, "/healthz", period=10, failures=3),
        "readinessProbe": server_probe(server, "/readyz", period=5, failures=2),
        "lifecycle": PRE_STOP,
    }
    wait = app_container("wait-for-migrations", WAIT_FOR_MIGRATIONS, {}, limits)
    component = "app-server"
    return [
        deployment(server.name, component, app_pod(server.name, [container], init=[wait])),
        service(server.name, component, [("http", render.CONTAINER_PORT, "http")]),
        disruption_budget(server.name, component),
    ]


def migrate_job(limits: dict) -> dict:
    container = app_container("migrate", ["python", "app/manage.py", "migrate", "--noinput"], {}, limits,
                              database=POSTGRES)
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": metadata("migrate", "migrations"),
        "spec": {
            "backoffLimit": 6,
            # A finished Job is removed, so the next apply creates it again (and migrates again):
            # a Job's pod template cannot be changed in place.
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": labels("migrate", "migrations")},
                "spec": {**app_pod("migrate", [container]), "restartPolicy": "OnFailure"},
            },
        },
    }


def nginx(topology: servers.Topology) -> list[dict]:
    ports = [topology.production.port] + [server.port for server in topology.servers]
    # Port names are at most 15 characters, which some server names exceed: named by number.
    named = [(f"http-{port}", port, port) for port in ports]
    tmp_mount, tmp_volume = tmpfs("tmp", "/tmp")
    conf_mount, conf_volume = tmpfs("conf", "/etc/nginx/conf.d")
    probe = {"httpGet": {"path": "/static/staticfiles.json", "port": topology.production.port},
             "periodSeconds": 10, "timeoutSeconds": 4, "failureThreshold": 3}
    container = {
        "name": "nginx",
        "image": NGINX_IMAGE,
        "imagePullPolicy": "Always",
        # The image renders the site from the same template as every other path; these are the
        # ${NGINX_*} tunables its entrypoint fills in (nginx/defaults.env).
        "envFrom": [{"configMapRef": {"name": "nginx-tunables"}}],
        "env": [{"name": "NGINX_ENTRYPOINT_QUIET_LOGS", "value": "1"}],
        "ports": [{"name": name, "containerPort": port} for name, port, _ in named],
        "livenessProbe": probe,
        "readinessProbe": {**probe, "periodSeconds": 5},
        "lifecycle": PRE_STOP,
        "resources": resources("500m", "256Mi"),
        "securityContext": CONTAINER_HARDENING,
        "volumeMounts": [tmp_mount, conf_mount],
    }
    pod = {**hardened(NGINX_UID), "containers": [container], "volumes": [tmp_volume, conf_volume]}
    # network-policies.yaml denies all other ingress: anyone may reach nginx's ports, and only those.
    policy = {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": metadata("nginx-from-anywhere", "proxy"),
        "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "nginx"}},
                 "policyTypes": ["Ingress"],
                 "ingress": [{"ports": [{"port": port, "protocol": "TCP"} for port in ports]}]},
    }
    return [
        deployment("nginx", "proxy", pod),
        service("nginx", "proxy", named),
        disruption_budget("nginx", "proxy"),
        policy,
    ]


def manifests(topology: servers.Topology, settings: dict[str, Setting]) -> list[dict]:
    defaults = settings_list.defaults(settings)
    limits = resources(defaults["APP_CPUS"], quantity(defaults["APP_MEMORY"]))
    documents = [migrate_job(limits)]
    for server in topology.servers:
        documents += app_server(server, limits)
    return documents + nginx(topology)


class Dumper(yaml.SafeDumper):
    """Every shared piece written out in full: kubectl and readers get no &anchors or *aliases."""

    def ignore_aliases(self, data) -> bool:
        return True


def env_file(values: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}={value}\n" for name, value in values.items())


def rendered(topology: servers.Topology, settings: dict[str, Setting]) -> dict[Path, str]:
    """Each generated file and its content."""
    app = HEADER + yaml.dump_all(manifests(topology, settings), Dumper=Dumper, sort_keys=False, width=110)
    tunables = {s.name: s.default for s in settings.values() if "nginx" in s.readers}
    return {APP_MANIFEST: app, APP_SETTINGS: env_file(app_settings(settings)),
            NGINX_TUNABLES: env_file(tunables)}
