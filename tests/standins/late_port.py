"""A TCP port on 127.0.0.1 that refuses connections until `delay` seconds have passed, then accepts them.

What a fresh NodePort looks like from outside while the nodes' proxies have not programmed it yet.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def late_port(delay: float) -> Iterator[int]:
    """Yields the port: bound at once (so connects are refused), listening only after `delay` seconds."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    opener = threading.Timer(delay, sock.listen)
    opener.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        opener.cancel()
        sock.close()
