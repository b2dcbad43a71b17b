"""No count, port range or server name in a doc, comment or config disagrees with servers.toml."""

import re

from stack import servers
from tests.docs.facts import COUNT, RANGE, SERVER_LIST, WORDS, lines

TOPOLOGY = servers.load()
PORTS = [TOPOLOGY.production.port] + [s.port for s in TOPOLOGY.servers]


def where(found: list[str]) -> str:
    return "\n".join(found)


def test_every_server_count_is_the_number_in_servers_toml():
    count = len(TOPOLOGY.servers)
    wrong = [
        f"{path}:{number}: {line.strip()[:120]}"
        for path, number, line in lines()
        if not path.startswith("tests/")  # a test's own fixture may hold any number of servers
        for match in COUNT.finditer(line)
        if (int(match.group(1)) if match.group(1).isdigit() else WORDS[match.group(1).lower()]) != count
    ]
    assert not wrong, f"servers.toml has {count} servers; derive the count instead:\n{where(wrong)}"


def test_every_port_range_spans_the_ports_of_servers_toml():
    """From the production port or the first server's, to the last server's."""
    starts, end = (min(PORTS), sorted(PORTS)[1]), max(PORTS)
    wrong = [
        f"{path}:{number}: {line.strip()[:120]}"
        for path, number, line in lines()
        for match in RANGE.finditer(line)
        if int(match.group(1)) not in starts or int(match.group(2)) != end
    ]
    assert not wrong, f"the ports run {min(PORTS)}-{end}:\n{where(wrong)}"


def test_every_server_a_doc_names_in_a_command_is_in_servers_toml():
    wrong = []
    for path, number, line in lines():
        for match in SERVER_LIST.finditer(line):
            names = [n for n in re.split(r"[ ,]+", next(g for g in match.groups() if g is not None)) if n]
            # "a,b" and the like are placeholders, not names.
            unknown = [n for n in names if len(n) > 1 and n not in TOPOLOGY.names]
            if unknown:
                wrong.append(f"{path}:{number}: {', '.join(unknown)} in {line.strip()[:100]}")
    assert not wrong, f"servers.toml names {', '.join(TOPOLOGY.names)}:\n{where(wrong)}"


def test_the_patterns_catch_what_they_are_for():
    """Each pattern against the wrong wording the docs once carried, so a loosened one fails here."""
    assert COUNT.search("One Django codebase, three servers, one nginx")
    assert COUNT.search("# 7 servers x 2 replicas")
    assert RANGE.search("Ports 8080–8090 and 8443 are published")
    assert SERVER_LIST.search('make local-reload SERVERS="uvicorn daphne"')
