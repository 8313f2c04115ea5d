"""Serve a Config until stopped: the one place that picks the process model.

Worker processes under a supervisor where the platform can fork; everything
in this process otherwise (Windows, or a platform without SO_REUSEPORT).
"""

from __future__ import annotations

from fastsnake.config.model import Config
from fastsnake.server.plan import uses_worker_processes
from fastsnake.server.supervisor import Supervisor


def serve(config: Config) -> int:
    """Serve a config until stopped: worker processes under a supervisor
    where there is fork, else everything in this process."""
    if uses_worker_processes():
        return Supervisor(config).run()
    # Only here: the supervisor must not load what only workers use.
    from fastsnake.server.inprocess import serve_in_process

    return serve_in_process(config)
