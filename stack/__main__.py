"""python -m stack up|down|run|status|reload|certs|render|render-nginx"""

import argparse
import sys

from . import certs, local, render, servers


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    parser.add_argument(
        "command",
        choices=["up", "down", "run", "status", "reload", "certs", "render", "render-nginx"],
        help="up: start the host run and return; down: stop it; run: up in the foreground "
        "until Ctrl-C; status: show its processes; reload: replace the named servers' processes "
        "(all when none is named) without dropping a request; "
        "certs: make a local CA and certificate for TLS; "
        "render: write every committed file that comes from servers.toml and settings.toml "
        "(docker-compose.yml, .env.example, the Kubernetes base, docs/configuration.md); "
        "render-nginx: write the nginx image config",
    )
    parser.add_argument("servers", nargs="*", help="reload: server names from servers.toml")
    parser.add_argument("--out", help="render-nginx: output folder")
    args = parser.parse_args()
    if args.command == "up":
        local.up()
    elif args.command == "down":
        local.down()
    elif args.command == "run":
        local.foreground()
    elif args.command == "reload":
        # Here, not at the top: reload needs psutil, a host-run tool the nginx image build lacks.
        from . import reload

        if not local.supervisord_running():
            sys.exit("local run: not running; start it with `make local-up`")
        topology = servers.load()
        unknown = [name for name in args.servers if name not in topology.names]
        if unknown:
            parser.error(f"unknown server {', '.join(unknown)}; known: {', '.join(topology.names)}")
        for name in args.servers or topology.names:
            reload.reload(topology[name])
    elif args.command == "certs":
        local_certificate = certs.ensure_local()
        print(f"certificate {local_certificate.certificate}, key {local_certificate.key}; "
              f"trust {certs.CERTS / 'ca.crt'} in clients (curl --cacert, httpx verify=)")
    elif args.command == "status":
        if not local.supervisord_running():
            sys.exit("local run: not running")
        print(local.supervisorctl("status", check=False).stdout, end="")
    elif args.command == "render":
        # Here, not at the top: it needs PyYAML, which the nginx image's render stage (this module,
        # the app's packages) has only by way of uvicorn[standard].
        from . import generated

        for path in generated.write():
            print(f"wrote {path.relative_to(servers.ROOT)}")
    else:
        if not args.out:
            parser.error("render-nginx needs --out FOLDER")
        render.write_container_config(args.out)


if __name__ == "__main__":
    main()
