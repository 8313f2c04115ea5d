"""``supervisor off``: what it loads as, and what it refuses at the line that asks."""

from __future__ import annotations

import pytest

from fastsnake.config.model import Runtime
from fastsnake.server.plan import plan_for
from tests.config_helpers import build, build_error

OFF = "{\n\tsupervisor off\n}\n"


def site(lines: str, port: int = 8080) -> str:
    return f':{port} {{\n\tpython {{\n\t\tmodule_wsgi "app:app"\n{lines}\t}}\n}}\n'


def test_supervisor_off_is_one_process_of_the_process_runtime(tmp_path):
    config = build(tmp_path, OFF + site("") + site("\t\tworkers 1\n", 8081)
                   + ":8082 {\n\trespond ok\n}\n")
    assert config.supervised is False
    # The default workers (one per CPU) and an explicit 1 both become this process.
    assert [listener.workers for listener in config.listeners] == [1, 1, 1]
    assert [listener.runtime for listener in config.listeners] == [Runtime.PROCESS] * 3
    assert all(plan_for(listener).processes == 1 for listener in config.listeners)
    assert plan_for(config.listeners[0]).wsgi_threads is None  # WSGI on the loop, as a worker


@pytest.mark.parametrize("options", ["", "supervisor on"])
def test_supervisor_on_is_the_default(tmp_path, options):
    config = build(tmp_path, f"{{\n\t{options}\n}}\n" + site("\t\tworkers 3\n"))
    assert (config.supervised, config.watchdog) == (True, False)
    assert config.listeners[0].workers == 3


def test_supervisor_watchdog_is_one_process_under_the_watchdog(tmp_path):
    config = build(tmp_path, "{\n\tsupervisor watchdog\n}\n" + site(""))
    assert (config.supervised, config.watchdog) == (False, True)
    assert config.listeners[0].workers == 1


def test_thread_runtime_keeps_its_pool_and_autoreload(tmp_path):
    config = build(tmp_path, OFF + site("\t\tworkers_runtime thread\n\t\tworkers 4\n"
                                        "\t\tautoreload\n"))
    plan = plan_for(config.listeners[0])
    assert (plan.processes, plan.reload_in_process) == (1, True)
    assert plan.wsgi_threads is not None


@pytest.mark.parametrize(("lines", "why"), [
    ("\t\tworkers 2\n", "workers 2 needs worker processes"),
    ("\t\tmax_requests 1000\n", "max_requests replaces a worker process"),
    ("\t\tautoreload\n", "autoreload in workers_runtime process replaces worker processes "
                         "(workers_runtime thread reloads in-process)"),
    ("\t\truntime gevent\n", "runtime gevent runs gevent worker processes"),
], ids=["workers", "max_requests", "autoreload", "gevent"])
def test_what_needs_a_supervisor_is_refused_where_it_is_asked(tmp_path, lines, why):
    error = build_error(tmp_path, OFF + site(lines))
    assert error == (f"<dir>/Caddyfile:5: {why}, which needs the supervisor; 'supervisor off' "
                     "at <dir>/Caddyfile:2 serves everything in one process")


@pytest.mark.parametrize(("value", "error"), [
    ("maybe", "<dir>/Caddyfile:2: supervisor must be 'on', 'off' or 'watchdog', got "
              "'maybe'"),
    ("", "<dir>/Caddyfile:2: wrong argument count or unexpected line ending after "
         "'supervisor'"),
])
def test_bad_values(tmp_path, value, error):
    assert build_error(tmp_path, f"{{\n\tsupervisor {value}\n}}\n" + site("")) == error
