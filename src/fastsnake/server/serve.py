"""Serve a Config until stopped: the one place that picks the process model.

Worker processes under a supervisor where the platform can fork; everything
in this process otherwise (Windows, or a platform without SO_REUSEPORT), or
when the Caddyfile says ``supervisor off``.
"""

from __future__ import annotations

import os

from fastsnake.config.model import Config, Runtime
from fastsnake.errors import ConfigError
from fastsnake.server.plan import uses_worker_processes


def serve(config: Config) -> int:
    """Serve a config until stopped: worker processes under a supervisor
    where there is fork, else everything in this process."""
    if uses_worker_processes() and config.supervised:
        if os.environ.get("FASTSNAKE_HANDOVER"):
            # A one-process server re-executed for a reload whose Caddyfile
            # changed again meanwhile (no more supervisor off): the handed
            # over sockets would keep the supervisor from binding its own.
            from fastsnake.server.handover import close_inherited

            close_inherited()
        # Only here: a server in one process needs none of the supervisor.
        from fastsnake.server.supervisor import Supervisor

        return Supervisor(config).run()
    if config.watchdog and uses_worker_processes():
        from fastsnake.server.watchdog import is_watched, watch

        if not is_watched():
            watch(config)  # execs the watchdog, which runs this command again
    for listener in config.listeners:
        if listener.runtime is Runtime.GEVENT:
            # A gevent worker monkey-patches its whole process, which
            # serving every listener on one loop here cannot allow.
            raise ConfigError(f"{listener.display_address}: runtime gevent needs fork (worker "
                              "processes), which this platform lacks; use runtime sync")
    # Only here: the supervisor must not load what only workers use.
    from fastsnake.server.inprocess import serve_in_process

    return serve_in_process(config)
