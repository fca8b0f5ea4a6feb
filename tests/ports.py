"""A free TCP port for a server a test starts as a separate step (`segbot run`, the
console), where binding port 0 is not possible.

A port the kernel hands out for port 0 comes from its ephemeral range, the one every
outgoing connection also takes its local port from: between probing a port and the
server binding it, a connection of this run or of the suite running beside it (`make
test` runs SQLite and PostgreSQL side by side) can take it. Ports below that range are
never given to connections, so one found free stays free unless a run beside it picks
the same one at the same moment (about 1 in 10,000).
"""

import random
import socket

PORTS = range(20_000, 32_000)  # below Linux's ephemeral range (32768-60999)
TRIES = 200


def free_port() -> int:
    """A port in PORTS nothing listens on now."""
    for port in random.sample(PORTS, TRIES):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"none of {TRIES} ports tried in {PORTS} was free")
