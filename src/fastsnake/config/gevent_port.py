"""What a port that runs gevent workers may serve (``runtime gevent``, ``module_esgi``).

Apart from python.py, which reads one ``python`` block: this checks a whole
port once every site is read (config/loader.py), and tells the gevent worker
where its one app is mounted (server/gevent_worker.py). See
docs/python-directive.md, "runtime gevent".
"""

from __future__ import annotations

from typing import NoReturn

from fastsnake.config.model import Interface, PythonApp, Route, Site, python_apps
from fastsnake.config.python import has_placeholder
from fastsnake.errors import CaddyfileError

_GEVENT_SHAPE = ("runtime gevent serves one WSGI or ESGI app per port: a site block on port %d "
                 "may hold only that python directive (optionally inside handle_path "
                 "/prefix/*) and log; %s")


def check_gevent_port(port: int, sites: tuple[Site, ...]) -> bool:
    """Whether a port runs gevent workers (one of its apps says ``runtime
    gevent``); CaddyfileError when its sites have a shape the gevent worker
    does not serve. What it serves (server/gevent_worker.py): one site, one
    WSGI app, either for every path or under one ``handle_path /prefix/*``,
    with the site's access ``log``."""
    apps = [(app, site) for site in sites for app in python_apps(site.all_routes)]
    asking = [app for app, _ in apps if app.gevent]
    if not asking:
        return False
    first = asking[0]

    def fail(reason: str) -> NoReturn:
        file, _, line = first.location.rpartition(":")
        raise CaddyfileError(_GEVENT_SHAPE % (port, reason), file,
                             int(line) if line.isdigit() else 0)

    if len(apps) > 1:
        other = next(app for app, _ in apps if app is not first)
        fail(f"another python directive is at {other.location}")
    if len(sites) > 1:
        fail("another site block shares the port; give the gevent app a port of its own")
    site = sites[0]
    if site.error_routes:
        fail("handle_errors is not served by the gevent worker")
    if first.interface is Interface.ASGI:  # _check_runtime refused it already
        fail("it must be a WSGI or ESGI app")
    if site.tls is not None:
        fail("HTTPS is not served by the gevent worker; serve it over HTTP (behind a proxy)")
    if any(has_placeholder(value or "") for value in (first.target, first.working_dir,
                                                      first.venv)):
        fail("apps chosen per request (placeholders) are not served by the gevent worker")
    if gevent_mount(site.routes) is None:
        fail("other directives (respond, file_server, matchers, rewrites...) need fastsnake's "
             "own worker: drop 'runtime gevent' or move them to another port")
    return True


# Path matchers that take every request (caddy-snake's docs write ``python /* {``).
_EVERY_PATH = ((), ("*",), ("/*",))


def gevent_mount(routes: tuple[Route, ...]) -> str | None:
    """The prefix a gevent port's one app is mounted at ("" for every path),
    or None when the routes are not that shape."""
    if len(routes) != 1 or routes[0].matcher is not None:
        return None
    route = routes[0]
    if isinstance(route.handler, PythonApp):
        return "" if route.paths in _EVERY_PATH else None
    nested = getattr(route.handler, "routes", None)
    prefix = getattr(route.handler, "strip_prefix", "")
    if (nested is None or not prefix or len(route.paths) != 1
            or route.paths[0] != prefix.rstrip("/") + "/*"
            or len(nested) != 1 or nested[0].matcher is not None
            or not isinstance(nested[0].handler, PythonApp) or nested[0].paths not in _EVERY_PATH):
        return None
    return prefix.rstrip("/")
