"""When a request reached the emulator's machine: the kernel's receive time of its bytes.

Telegram judges its flood limits by when requests reach it. Stamping a request when the
emulator's Python code gets to it would add the emulator's own delays: on a busy machine
its process may wait tens of milliseconds for a core (69 ms measured beside the test suite
and two CPU-bound processes, at a raised priority), and the requests that arrived
meanwhile would all be stamped when it runs again, a burst their sender never made. So the
emulator listens on a socket whose connections ask the kernel for the moment it received
the bytes each read returns (Linux's SO_TIMESTAMPNS), and a request counts from the read
that completed it. Where the platform tells no such moment, a request is stamped when it
is read.

asyncio reads a connection with `recv` (aiohttp's request handler is a plain protocol, not
a buffered one, which would read with `recv_into`): that is what `_StampedConnection`
answers with the kernel's time.
"""

import contextlib
import socket
import struct
import sys
import time
import weakref

from aiohttp import web

_SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>; Python's socket module does not name it
_TIMESPEC = struct.Struct("@qq")  # seconds, nanoseconds, on the CLOCK_REALTIME clock
_ANCILLARY_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)


def listening_socket(host: str, port: int, *, backlog: int = 128) -> socket.socket:
    """A socket listening on host:port (0 picks a free port) whose connections tell when
    their bytes arrived; serve it with `aiohttp.web.SockSite`."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = _StampingListener(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if sys.platform == "linux":
            # On the listener, not on each connection once accepted: bytes that arrive
            # before the accept (a client writes as soon as it is connected) are stamped
            # too, and every connection inherits the option.
            with contextlib.suppress(OSError):  # then stamped when read
                listener.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                listener.stamped = True
        listener.bind(address)
        listener.listen(backlog)
        listener.setblocking(False)
    except OSError:
        listener.close()
        raise
    return listener


def received_at(request: web.Request) -> float:
    """When `request` reached this machine, on the `time.monotonic` clock: the kernel's
    receive time of the last bytes read for it where known, else now."""
    transport = request.transport
    connection = transport.get_extra_info("socket") if transport is not None else None
    stamped = _connections.get(connection.fileno()) if connection is not None else None
    if stamped is None or stamped.arrived is None:
        return time.monotonic()
    return stamped.arrived  # never later than now: taken at a read before it


class _StampingListener(socket.socket):
    stamped = False  # its connections' bytes say when they arrived

    def accept(self) -> tuple[socket.socket, object]:
        descriptor, address = self._accept()  # type: ignore[attr-defined]
        connection = _StampedConnection(self.family, self.type, self.proto, fileno=descriptor)
        connection.stamped = self.stamped
        _connections[descriptor] = connection
        return connection, address


class _StampedConnection(socket.socket):
    stamped = False  # the kernel tells when its bytes arrived
    arrived: float | None = None  # when the last read's bytes did, on the monotonic clock

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if not self.stamped:
            return super().recv(bufsize, flags)
        data, ancillary, _, _ = self.recvmsg(bufsize, _ANCILLARY_SPACE, flags)
        self.arrived = None
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack(value)
                ago = time.time() - (seconds + nanoseconds / 1e9)
                self.arrived = time.monotonic() - max(ago, 0.0)
        return data


# Each accepted connection by its file descriptor, while it is open.
_connections = weakref.WeakValueDictionary[int, _StampedConnection]()
