"""Listening sockets: binding them, and closing one without resetting its queue.

Theory of operation
-------------------
The kernel completes the TCP handshake on its own and queues the connection
on the listening socket (its accept queue) until a process accepts it; the
client already sees it as connected. Closing a listening socket resets every
connection still in that queue (Linux: inet_csk_listen_stop). So a listening
socket is closed only when no worker will accept from it again (the server
stops, or SIGHUP drops its listener or worker position), and then in this
order:

1. ``refuse_new_connections``: new handshakes stop (Linux: a classic BPF
   socket filter drops bare SYNs; handshakes under way and established
   connections pass). A dropped SYN is retried by the client a second later,
   and meets the next server or a refusal, never a reset.
2. ``take_queued``: accept what the queue holds, to be served.
3. close, at once after (2): nothing is left to reset.

Replacing a worker closes nothing: the supervisor holds every listening
socket and hands a replacement the very socket of the worker it replaces
(see supervisor.py), so the queue outlives the worker.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import sys

from fastsnake.config.model import Listener
from fastsnake.errors import FatalError

LISTEN_BACKLOG = 2048

# <linux/filter.h>; SO_ATTACH_FILTER is 26 on every architecture Python
# supports but parisc (where setsockopt fails and nothing is filtered).
SO_ATTACH_FILTER = 26
BPF_LD_B_ABS = 0x30   # BPF_LD | BPF_B | BPF_ABS
BPF_JSET_K = 0x45     # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06      # BPF_RET | BPF_K
TCP_FLAGS = 13        # offset in the TCP header, where the filter's packet starts
TCP_SYN, TCP_ACK = 0x02, 0x10
# (code, jt, jf, k): a SYN without ACK is dropped (return 0), anything else
# kept whole. Children accepted later inherit the filter, harmlessly: an
# established connection never receives a bare SYN.
REFUSE_SYN = (
    (BPF_LD_B_ABS, 0, 0, TCP_FLAGS),
    (BPF_JSET_K, 2, 0, TCP_ACK),      # ACK set: keep
    (BPF_JSET_K, 0, 1, TCP_SYN),      # SYN set: drop; else keep
    (BPF_RET_K, 0, 0, 0),
    (BPF_RET_K, 0, 0, 0xFFFFFFFF),
)


def unix_address(host: str) -> tuple[str, int | None] | None:
    """``unix//run/app.sock|0660`` (Caddy's network address form, as ``bind``
    writes it): the socket's path and file mode; None for any other host."""
    if not host.startswith("unix/"):
        return None
    path, _, mode = host[len("unix/"):].partition("|")
    return path, int(mode, 8) if mode else None


def inherited_fd(host: str) -> int | None:
    """``fd/N``: a listening socket the process was started with (systemd's
    socket activation passes them from 3 on, LISTEN_FDS of them)."""
    return int(host[len("fd/"):]) if host.startswith("fd/") else None


def is_shared_only(host: str) -> bool:
    """Addresses only one socket can have, which every worker then shares
    (no SO_REUSEPORT group for a Unix socket or an inherited one)."""
    return host.startswith(("unix/", "fd/"))


def _bind_unix(path: str, mode: int | None, listen: bool) -> socket.socket:
    if os.path.exists(path):
        # A socket file left by a server that is gone is replaced, as Caddy
        # does; one that still answers is another server's.
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)
        except OSError:
            pass  # not a socket, or no access: bind says why
        else:
            raise OSError(errno.EADDRINUSE, "another server listens on this socket")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)
        if listen:
            sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _adopt_fd(fd: int) -> socket.socket:
    sock = socket.socket(fileno=fd)
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(socket.SOL_SOCKET,
                                                            socket.SO_ACCEPTCONN):
        sock.detach()
        raise OSError(errno.EINVAL, f"file descriptor {fd} is not a listening stream socket")
    sock.setblocking(False)
    return sock


def forget_unix_socket(host: str) -> None:
    """Remove a Unix socket's file once nobody listens on it (Caddy does)."""
    unix = unix_address(host)
    if unix is not None:
        try:
            os.unlink(unix[0])
        except OSError:
            pass


def bind_socket(host: str, port: int, reuse_port: bool = True,
                listen: bool = True) -> socket.socket:
    """A non-blocking TCP socket bound to host:port, listening unless told
    not to (then the event loop's create_server makes it listen: in a
    SO_REUSEPORT group, a socket takes its share of connections only from
    then on). ``unix/PATH`` binds a Unix socket, ``fd/N`` adopts an inherited
    listening socket; the port is then only the listener's name."""
    unix = unix_address(host)
    if unix is not None:
        return _bind_unix(unix[0], unix[1], listen=True)
    fd = inherited_fd(host)
    if fd is not None:
        return _adopt_fd(fd)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sys.platform == "win32":
            # There SO_REUSEADDR would let another socket take the port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
        if listen:
            sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def listen_on(listener: Listener) -> socket.socket:
    """A listener's socket bound (without SO_REUSEPORT: one process serves
    it), or a FatalError that names the address."""
    try:
        return bind_socket(listener.host, listener.port, reuse_port=False)
    except OSError as exc:
        raise FatalError(f"cannot listen on {listener.display_address}: "
                         f"{exc.strerror or exc}") from exc


def refuse_new_connections(sock: socket.socket) -> bool:
    """Stop new handshakes on a listening socket, keeping its queue (Linux
    only; elsewhere False, and a connection may still slip in between
    take_queued and close)."""
    if not sys.platform.startswith("linux"):
        return False
    code = b"".join(struct.pack("HBBI", *insn) for insn in REFUSE_SYN)
    program = ctypes.create_string_buffer(code, len(code))
    try:
        # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                        struct.pack("HP", len(REFUSE_SYN), ctypes.addressof(program)))
    except OSError:
        return False
    return True


def take_queued(sock: socket.socket, limit: int = LISTEN_BACKLOG) -> list[socket.socket]:
    """Accept, without waiting, the connections queued on a listening socket
    (at most ``limit``, so that a socket still taking new connections cannot
    keep us here)."""
    taken: list[socket.socket] = []
    while len(taken) < limit:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            break
        except ConnectionAbortedError:
            continue  # the client gave up while queued
        except OSError:  # out of file descriptors, or the socket is gone
            break
        conn.setblocking(False)
        taken.append(conn)
    return taken
