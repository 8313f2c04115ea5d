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
import socket
import struct
import sys

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


def bind_socket(host: str, port: int, reuse_port: bool = True,
                listen: bool = True) -> socket.socket:
    """A non-blocking TCP socket bound to host:port, listening unless told
    not to (then the event loop's create_server makes it listen: in a
    SO_REUSEPORT group, a socket takes its share of connections only from
    then on)."""
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
