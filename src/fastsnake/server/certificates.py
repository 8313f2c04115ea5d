"""The certificate manager of the running configuration, on the supervisor
side: exactly one process per server talks to the CAs (and a storage lock
keeps two servers sharing a data directory from ordering the same
certificate twice). Started before the first workers, so that names from
the local CA have their certificates when the first handshake comes;
replaced when SIGHUP loads a configuration that asks for other ones.
Workers read what it writes (certs.store), so a renewal needs no restart."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastsnake.certs.extra import require_https_extra

if TYPE_CHECKING:
    from fastsnake.server.on_demand import RequestWatcher

log = logging.getLogger("fastsnake.certs")


class Certificates:
    def __init__(self) -> None:
        self.manager: Any = None
        self.auto: Any = None
        self.watcher: RequestWatcher | None = None
        self.started = False

    def apply(self, auto: Any, start: bool = True) -> None:
        """Manage what ``auto`` (certs.policy.AutoHttps, or None) asks for.
        With ``start`` False the CA work waits for ``start()``: at startup,
        until the workers serve, so that the CA's validation requests find
        someone to answer them."""
        if auto == self.auto:
            if start:
                self.start()
            return
        self.close()
        if auto is None:
            return
        require_https_extra()
        from fastsnake.certs.manager import CertManager

        manager = CertManager(auto)
        manager.prepare()  # local-CA names now; ACME names in the background
        self.manager, self.auto, self.started = manager, auto, False
        if start:
            self.start()

    def start(self) -> None:
        if self.manager is None or self.started:
            return
        self.started = True
        self.manager.start()
        if self.auto.on_demand is not None:
            # Workers ask for on-demand names through the data directory.
            # (Imported only then: on_demand's worker side brings asyncio.)
            from fastsnake.server.on_demand import RequestWatcher

            self.watcher = RequestWatcher(self.auto.storage, self.manager.obtain_now)
            self.watcher.start()

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self.manager is not None:
            self.manager.stop()
            self.manager = self.auto = None
