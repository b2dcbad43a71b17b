"""python -m stack COMMAND: the one command line of the stack tool.

  host run      up, down, run, status, reload [SERVER...], certs
  generated     render (docker-compose.yml, .env.example, the Kubernetes base, the docs page),
                render-nginx --out FOLDER (the nginx image's config)
  Docker Swarm  swarm up|down|render [-- COMPOSE OPTIONS]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import certs, local, render, servers
from .servers import ROOT


def reload_servers(args: argparse.Namespace) -> None:
    # Here, not at the top: reload needs psutil, a host-run tool the nginx image build lacks.
    from . import reload

    if not local.supervisord_running():
        sys.exit("local run: not running; start it with `make local-up`")
    topology = servers.load()
    unknown = [name for name in args.servers if name not in topology.names]
    if unknown:
        sys.exit(f"reload: unknown server {', '.join(unknown)}; known: {', '.join(topology.names)}")
    for name in args.servers or topology.names:
        reload.reload(topology[name])


def make_certs(args: argparse.Namespace) -> None:
    local_certificate = certs.ensure_local()
    print(f"certificate {local_certificate.certificate}, key {local_certificate.key}; "
          f"trust {certs.CERTS / 'ca.crt'} in clients (curl --cacert, httpx verify=)")


def status(args: argparse.Namespace) -> None:
    if not local.supervisord_running():
        sys.exit("local run: not running")
    print(local.supervisorctl("status", check=False).stdout, end="")


def render_all(args: argparse.Namespace) -> None:
    # Here, not at the top: it needs PyYAML, which the nginx image's render stage (this module,
    # the app's packages) has only by way of uvicorn[standard].
    from . import generated

    for path in generated.write():
        print(f"wrote {path.relative_to(ROOT)}")


def swarm(args: argparse.Namespace) -> None:
    from . import swarm_deploy

    swarm_deploy.command(args.action, args.compose_args, args.out, args.timeout, args.resolve_image)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m stack", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    command("up", lambda args: local.up(), "start the host run and return once every part answers")
    command("down", lambda args: local.down(), "stop the host run")
    command("run", lambda args: local.foreground(), "the host run in the foreground, until Ctrl-C")
    command("status", status, "the host run's processes")
    command("reload", reload_servers, "replace the named servers' processes (all when none is named) "
            "without dropping a request").add_argument("servers", nargs="*", help="names from servers.toml")
    command("certs", make_certs, "a local CA and a certificate for TLS, in certs/")
    command("render", render_all, "write every committed file that comes from servers.toml and "
            "settings.toml")
    command("render-nginx", lambda args: render.write_container_config(args.out),
            "write the nginx image's config").add_argument("--out", required=True, help="output folder")
    deploy = command("swarm", swarm, "docker-compose.yml on Docker Swarm: up (render, deploy, wait "
                     "until converged), down (remove; the database volume is kept), render (only write "
                     "the stack file)")
    deploy.add_argument("action", choices=["up", "down", "render"])
    deploy.add_argument("--out", type=Path, default=ROOT / ".swarm",
                        help="where the stack file and its secrets and configs go (default .swarm/)")
    deploy.add_argument("--timeout", type=float, default=300, help="up: seconds to wait for convergence")
    deploy.add_argument("--resolve-image", default="never",
                        help="`docker stack deploy --resolve-image`: always with a registry")
    deploy.add_argument("compose_args", nargs="*", help="Compose options (-f, --env-file), after --")
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
