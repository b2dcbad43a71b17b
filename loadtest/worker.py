"""A Locust worker for a distributed bench (`make bench LOCUST_WORKERS=n` starts its own; this is
for other machines):

    python -m loadtest.worker --master BENCH_HOST [--master-port 5557]

Start it (one per core to give) before the bench; it generates the HTTP cells' load the master
hands it, reports each cell's window back, and exits when the bench ends.
"""

import argparse
import logging

import locust  # noqa: F401  (first: it monkey-patches the interpreter for gevent)

from loadtest.drivers import distributed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", required=True, help="host name or address of the bench (the master)")
    parser.add_argument("--master-port", type=int, default=distributed.DEFAULT_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    distributed.serve(args.master, args.master_port)


if __name__ == "__main__":
    main()
