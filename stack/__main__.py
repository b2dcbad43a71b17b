"""python -m stack up|down|run|status|certs|render-nginx"""

import argparse
import sys

from . import certs, local, render


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    parser.add_argument(
        "command",
        choices=["up", "down", "run", "status", "certs", "render-nginx"],
        help="up: start the host run and return; down: stop it; run: up in the foreground "
        "until Ctrl-C; status: show its processes; certs: make a local CA and certificate for TLS; "
        "render-nginx: write the nginx image config",
    )
    parser.add_argument("--out", help="render-nginx: output folder")
    args = parser.parse_args()
    if args.command == "up":
        local.up()
    elif args.command == "down":
        local.down()
    elif args.command == "run":
        local.foreground()
    elif args.command == "certs":
        local_certificate = certs.ensure_local()
        print(f"certificate {local_certificate.certificate}, key {local_certificate.key}; "
              f"trust {certs.CERTS / 'ca.crt'} in clients (curl --cacert, httpx verify=)")
    elif args.command == "status":
        if not local.supervisord_running():
            sys.exit("local run: not running")
        print(local.supervisorctl("status", check=False).stdout, end="")
    else:
        if not args.out:
            parser.error("render-nginx needs --out FOLDER")
        render.write_container_config(args.out)


if __name__ == "__main__":
    main()
