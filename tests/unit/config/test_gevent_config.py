"""``runtime gevent`` (caddy-snake 0.6): which ports run gevent workers,
the site shapes they serve, and what is refused at file:line."""

from __future__ import annotations

import sys

import pytest

from fastsnake.config.model import Runtime
from fastsnake.server.plan import plan_for
from tests.config_helpers import build, build_error

APP = '\t\tmodule_wsgi "app:app"\n\t\truntime gevent\n'


def test_runtime_gevent_makes_a_gevent_port(tmp_path):
    config = build(tmp_path, f":8080 {{\n\tpython {{\n{APP}\t\tworkers 3\n\t}}\n}}\n")
    listener = config.listeners[0]
    app = listener.sites[0].routes[0].handler
    assert app.gevent and listener.runtime is Runtime.GEVENT
    plan = plan_for(listener)
    assert (plan.gevent, plan.processes, plan.wsgi_threads) == (True, 3, None)


def test_runtime_sync_stays_the_process_runtime(tmp_path):
    config = build(tmp_path, ':8080 {\n\tpython {\n\t\tmodule_wsgi "app:app"\n'
                             '\t\truntime sync\n\t}\n}\n')
    assert config.listeners[0].runtime is Runtime.PROCESS
    assert not plan_for(config.listeners[0]).gevent


def test_mounted_under_handle_path_with_an_access_log(tmp_path):
    config = build(tmp_path, f"http://localhost:8080 {{\n\tlog\n\thandle_path /api/* {{\n"
                             f"\t\tpython {{\n{APP}\t\t}}\n\t}}\n}}\n")
    assert config.listeners[0].runtime is Runtime.GEVENT


def test_workers_runtime_process_goes_along(tmp_path):
    config = build(tmp_path, f":8080 {{\n\tpython {{\n{APP}\t\tworkers_runtime process\n"
                             "\t}\n}\n")
    assert config.listeners[0].runtime is Runtime.GEVENT


def test_workers_runtime_thread_conflicts(tmp_path):
    message = build_error(tmp_path, f":8080 {{\n\tpython {{\n\t\tworkers_runtime thread\n"
                                    f"{APP}\t}}\n}}\n")
    assert ("Caddyfile:5: runtime gevent runs the app in gevent worker processes; it cannot "
            "be combined with workers_runtime thread (line 3)") in message


def test_asgi_is_refused(tmp_path):
    message = build_error(tmp_path, ':8080 {\n\tpython {\n\t\tmodule_asgi "app:app"\n'
                                    '\t\truntime gevent\n\t}\n}\n')
    assert "Caddyfile:4: runtime for module_asgi must be uvloop or native, got 'gevent'" in (
        message)


SHAPE = ("Caddyfile:2: runtime gevent serves one WSGI or ESGI app per port: "
         "a site block on port 8080 ")


@pytest.mark.parametrize(("extra", "reason"), [
    ("\trespond /health 200\n", "other directives (respond, file_server, matchers"),
    ("\tfile_server\n", "other directives (respond, file_server, matchers"),
    ('\tpython /other/* "other:app"\n', "another python directive is at <dir>/Caddyfile:"),
    ("\thandle_errors {\n\t\trespond 500\n\t}\n", "handle_errors is not served"),
])
def test_other_directives_on_a_gevent_port_are_refused(tmp_path, extra, reason):
    message = build_error(tmp_path, f":8080 {{\n\tpython {{\n{APP}\t}}\n{extra}}}\n")
    assert SHAPE in message
    assert reason in message


def test_a_matcher_on_the_app_is_refused(tmp_path):
    message = build_error(tmp_path, f":8080 {{\n\tpython /api/* {{\n{APP}\t}}\n}}\n")
    assert SHAPE in message and "other directives" in message


def test_a_second_site_on_the_port_is_refused(tmp_path):
    message = build_error(tmp_path, f"a.test:8080 {{\n\tpython {{\n{APP}\t}}\n}}\n"
                                    "b.test:8080 {\n\trespond hi\n}\n")
    assert SHAPE in message and "another site block shares the port" in message


def test_https_is_refused(tmp_path):
    message = build_error(tmp_path, f"localhost:8443 {{\n\tpython {{\n{APP}\t}}\n}}\n")
    assert "runtime gevent serves one WSGI or ESGI app per port" in message
    assert "HTTPS is not served by the gevent worker" in message


def test_apps_chosen_per_request_are_refused(tmp_path):
    message = build_error(tmp_path, ':8080 {\n\tpython {\n'
                                    '\t\tmodule_wsgi "{http.request.host.labels.2}:app"\n'
                                    f'\t\tworking_dir "{tmp_path}"\n\t\truntime gevent\n'
                                    '\t}\n}\n')
    assert SHAPE in message and "placeholders" in message


def test_other_ports_keep_their_directives(tmp_path):
    config = build(tmp_path, f":8080 {{\n\tpython {{\n{APP}\t}}\n}}\n"
                             ":8081 {\n\trespond hi\n\tpython /x/* app:app\n}\n")
    assert [listener.runtime for listener in config.listeners] == [Runtime.GEVENT,
                                                                   Runtime.PROCESS]


def test_without_gevent_installed_the_error_names_the_extra(tmp_path, monkeypatch):
    # A None entry in sys.modules is how Python marks a module as not importable.
    monkeypatch.setitem(sys.modules, "gevent", None)
    message = build_error(tmp_path, f":8080 {{\n\tpython {{\n{APP}\t}}\n}}\n")
    assert ("Caddyfile:4: runtime gevent needs the gevent package, which is not installed: "
            "pip install 'fastsnake[gevent]'") in message
