"""The listening sockets the supervisor binds, holds and lends to its workers.

Apart from supervisor.py, whose job is the workers' lives: this is where a
socket's life is decided (bound once, kept across a worker's death, closed
only when nobody will accept from it again). See docs/architecture.md,
"Supervisor".
"""

from __future__ import annotations

import socket

from fastsnake.config.model import Config, Listener
from fastsnake.errors import FatalError
from fastsnake.server.listening import (
    bind_socket,
    forget_unix_socket,
    is_shared_only,
    refuse_new_connections,
)
from fastsnake.server.plan import plan_for, shares_listening_socket


def check_address_free(listener: Listener) -> None:
    """Refuse an address another server already listens on.

    Our sockets bind with SO_REUSEPORT, which would let them silently share
    the port with any other process of the same user (a second fastsnake,
    say) and split its traffic. A probe bound without SO_REUSEPORT fails if any
    listener holds the port, so the conflict is reported instead.
    """
    if is_shared_only(listener.host):
        return  # one socket only: binding it tells (see listening.bind_socket)
    try:
        probe = bind_socket(listener.host, listener.port, reuse_port=False)
    except OSError as exc:
        raise FatalError(f"cannot listen on {listener.display_address}: "
                         f"{exc.strerror or exc}") from exc
    probe.close()


def listener_key(listener: Listener) -> tuple[str, int]:
    return (listener.host, listener.port)



class ListeningSockets:
    """Every listening socket, bound and held here and lent to the workers.

    Per listener: one SO_REUSEPORT socket per worker position, or one for all
    its workers where they share (runtime.shares_listening_socket). Because
    the supervisor holds them, a worker's exit closes no socket: its
    replacement (same position) accepts from the same queue. A socket is
    closed only by ``release`` (nobody will accept from it again: the server
    stops, SIGHUP drops its listener or position), which first refuses new
    connections; the workers still on it take what is queued as they stop.

    The sockets of the first start (and of a listener SIGHUP adds) listen at
    once, so connections wait for the workers rather than being refused.
    One bound later (another worker position, or anew for a worker that kept
    dying) starts listening when its worker is ready: until then the kernel
    gives its share to the workers that are.
    """

    def __init__(self) -> None:
        self.shared = shares_listening_socket()
        self.held: dict[tuple[str, int, int], socket.socket] = {}

    def shared_by(self, listener: Listener) -> bool:
        return self.shared or is_shared_only(listener.host)

    def key(self, listener: Listener, position: int) -> tuple[str, int, int]:
        return (*listener_key(listener), 0 if self.shared_by(listener) else position)

    def holds(self, listener: Listener) -> bool:
        return any(key[:2] == listener_key(listener) for key in self.held)

    def open(self, config: Config) -> None:
        """Bind the sockets of every listener not held yet: all, or none and
        FatalError."""
        bound: list[tuple[str, int, int]] = []
        try:
            for listener in config.listeners:
                if self.holds(listener):
                    continue
                for position in range(1 if self.shared_by(listener)
                                      else plan_for(listener).processes):
                    self.get(listener, position, listen=True)
                    bound.append(self.key(listener, position))
        except FatalError:
            for key in bound:
                self.held.pop(key).close()
            raise

    def get(self, listener: Listener, position: int, listen: bool = False) -> socket.socket:
        """The socket of a worker position, bound if need be (FatalError if
        the address cannot be had)."""
        key = self.key(listener, position)
        if key not in self.held:
            shared = self.shared_by(listener)
            if not shared and not self.holds(listener):
                check_address_free(listener)
            try:
                self.held[key] = bind_socket(listener.host, listener.port,
                                             reuse_port=not shared, listen=listen)
            except OSError as exc:
                raise FatalError(f"cannot listen on {listener.display_address}: "
                                 f"{exc.strerror or exc}") from exc
        return self.held[key]

    def others(self, sock: socket.socket) -> list[socket.socket]:
        return [other for other in self.held.values() if other is not sock]

    def drop(self, key: tuple[str, int, int]) -> None:
        """Let go of a socket nobody accepts from for a while (its worker
        died and waits to be respawned): the kernel then sends its share of
        connections to the other workers. What was queued on it is lost, as
        it would be with the worker's own socket."""
        sock = self.held.pop(key, None)
        if sock is not None:
            sock.close()

    def release(self, keep: set[tuple[str, int, int]]) -> None:
        """Close every socket not in ``keep`` without losing a queued
        connection: refuse new ones, then close our copy; the workers still
        on it must be told to stop after this (they take the queue)."""
        for key in [key for key in self.held if key not in keep]:
            sock = self.held.pop(key)
            refuse_new_connections(sock)
            sock.close()
            forget_unix_socket(key[0])
