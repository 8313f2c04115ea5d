"""The package's floor plan, enforced: imports point down the layers, never up,
and no two modules import each other through any chain.

Reads every module's imports (Python through ``ast``, including imports
inside functions and under ``TYPE_CHECKING``; Cython's ``import`` and
``cimport`` lines, the included ``.pxi`` files counted as their module's) and
fails naming ``file:line`` of each offending import. The layers and the
rules are docs/architecture.md's; a module that no layer names fails too, so
a new module is placed on purpose.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "fastsnake"

# Lowest first. A module may import from its own layer or any layer below.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("fastsnake", "fastsnake.errors")),
    ("protocol", ("fastsnake._llhttp", "fastsnake._exchange", "fastsnake._http",
                  "fastsnake._websocket", "fastsnake._wsgi", "fastsnake._asgi",
                  "fastsnake._respond", "fastsnake._relay")),
    ("caddyfile", ("fastsnake.caddyfile",)),
    ("request", ("fastsnake.request",)),
    ("certs", ("fastsnake.certs",)),
    ("config", ("fastsnake.config",)),
    ("files", ("fastsnake.files",)),
    ("upstream", ("fastsnake.upstream",)),
    ("routing", ("fastsnake.routing",)),
    ("apps", ("fastsnake.apps",)),
    ("server", ("fastsnake.server",)),
    ("commands", ("fastsnake.cli", "fastsnake.quickstart", "fastsnake.adapt",
                  "fastsnake.hash_password", "fastsnake.__main__")),
]

# Imports that the layer order allows but the design does not: the adapters
# answer through the exchange seam, so a new connection type (HTTP/2) needs
# no change to them.
ADAPTERS = ("fastsnake._wsgi", "fastsnake._asgi", "fastsnake._respond")
FORBIDDEN = {(adapter, "fastsnake._http"): "adapters see only fastsnake._exchange"
             for adapter in ADAPTERS}

# Imports inside functions, each with why it is deferred. Dodging a circle is
# never a reason: the layers above make the circle impossible instead.
DEFERRED = {
    ("fastsnake.cli", "fastsnake.config.loader"): "start-up cost of `fastsnake version`",
    ("fastsnake.cli", "fastsnake.config.model"): "start-up cost of `fastsnake version`",
    ("fastsnake.cli", "fastsnake.server.serve"): "start-up cost of `fastsnake version`",
    ("fastsnake.cli", "fastsnake.quickstart"): "start-up cost of `fastsnake version`",
    ("fastsnake.cli", "fastsnake.caddyfile.fmt"): "start-up cost of `fastsnake version`",
    ("fastsnake.cli", "fastsnake.adapt"): "start-up cost of `fastsnake version`",
    ("fastsnake.cli", "fastsnake.server.control"): "start-up cost of `fastsnake version`",
    ("fastsnake.cli", "fastsnake.hash_password"): "start-up cost of `fastsnake version`",
    ("fastsnake.cli", "fastsnake.certs.trust"): "start-up cost of `fastsnake version`",
    ("fastsnake.certs.trust", "fastsnake.certs.local_ca"):
        "cryptography is optional (the https extra): imported after require_https_extra",
    ("fastsnake.server.worker", "fastsnake.server.tls"): "ssl is imported by TLS listeners only",
    ("fastsnake.server.worker_start", "fastsnake.server.worker"):
        "a supervisor of one worker loads no event loop, protocol or app: the worker imports "
        "them after the fork (with more workers, the supervisor loads them once to share)",
    ("fastsnake.server.worker_start", "fastsnake.server.gevent_worker"):
        "gevent is optional (the gevent extra) and monkey-patches the process that imports "
        "it: only a gevent worker, after its fork",
    ("fastsnake.server.certificates", "fastsnake.server.on_demand"):
        "on-demand TLS only: the module's worker side brings asyncio, no use to a supervisor",
    ("fastsnake.quickstart", "fastsnake.apps.loader"):
        "only the child interpreter that looks at the app imports it: not the supervisor",
    ("fastsnake.server.serve", "fastsnake.server.inprocess"):
        "the supervisor loads no event loop, protocol or app: only the no-fork path needs them",
    ("fastsnake.server.serve", "fastsnake.server.supervisor"):
        "a server in one process (supervisor off, no fork) loads none of the supervisor",
    ("fastsnake.server.inprocess", "fastsnake.server.control"):
        "the control file (and tempfile with it) only where fork exists and admin is on",
    ("fastsnake.server.serve", "fastsnake.server.watchdog"):
        "supervisor watchdog only: it brings the handover (and asyncio) with it",
    ("fastsnake.server.serve", "fastsnake.server.handover"):
        "only after a reload's re-exec that found a supervised Caddyfile: it brings asyncio",
    ("fastsnake.server.inprocess", "fastsnake.config.loader"):
        "a reload only: the first load happened before serving",
    ("fastsnake.server.certificates", "fastsnake.certs.manager"):
        "cryptography and acme are optional (the https extra): imported only when certificates "
        "are managed",
    # What a worker loads only when its Caddyfile uses the feature (memory:
    # every module a hello worker skips is RSS it does not have).
    ("fastsnake.routing.compiler", "fastsnake.files.server"):
        "file_server, root and try_files only: mimetypes, listings, conditionals",
    ("fastsnake.routing.compiler", "fastsnake.files.paths"): "file_server and try_files only",
    ("fastsnake.routing.compiler", "fastsnake.certs.store"):
        "the ACME HTTP-01 route only (sites with automatic HTTPS)",
    ("fastsnake.routing.compiler", "fastsnake.routing.auth"): "basic_auth only: hashing, bcrypt",
    ("fastsnake.server.worker", "fastsnake.server.tenants"):
        "tenant processes (isolation process) load the relay and the process manager only for "
        "a Caddyfile with dynamic apps",
    ("fastsnake.server.worker", "fastsnake.apps.dynamic"):
        "per-request (placeholder) apps only: tenant environments, namespaces",
    ("fastsnake.server.worker", "fastsnake.server.on_demand"): "on-demand TLS listeners only",
    ("fastsnake.server.lifecycle", "fastsnake.routing.accesslog"):
        "the global log option only: log writers, rolling, JSON lines",
    ("fastsnake.server.worker", "fastsnake.routing.accesslog"):
        "sites with a log directive only: log writers, rolling, JSON lines",
    ("fastsnake.apps.factory", "fastsnake._asgi"):
        "ASGI apps only: a WSGI worker loads no ASGI adapter or WebSocket codec",
    ("fastsnake.request.matchers", "fastsnake._exchange"):
        "annotations only (TYPE_CHECKING): a supervisor loads no Cython protocol module",
    ("fastsnake.request.path_matcher", "fastsnake._exchange"):
        "annotations only (TYPE_CHECKING): a supervisor loads no Cython protocol module",
    ("fastsnake.server.worker_start", "fastsnake._asgi"):
        "as for server.worker: loaded before forking several workers, and only for ASGI apps",
}


@dataclass(frozen=True)
class Import:
    source: str          # the importing module
    target: str          # the imported module (a package when a name is imported from it)
    where: str           # file:line
    deferred: bool       # inside a function (or a TYPE_CHECKING block)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, list[Path]]:
    """Each module and the files that make it (a .pyx with its .pxd and .pxi)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in (".py", ".pyx", ".pxd") and "includes" not in path.parts:
            found.setdefault(module_name(path), []).append(path)
    for paths in found.values():
        for path in list(paths):
            if path.suffix == ".pyx":
                for line in path.read_text().splitlines():
                    match = re.match(r'include "(.+\.pxi)"', line)
                    if match:
                        paths.append(path.parent / match[1])
    return found


def shown(path: Path) -> str:
    """A path as a maintainer types it: from the repository root when inside it."""
    try:
        return str(path.relative_to(PACKAGE.parents[1]))
    except ValueError:
        return str(path)


def resolve(name: str, known: dict[str, list[Path]]) -> str:
    """``fastsnake.config.directives`` is a module; ``fastsnake.config.model.Config``
    is a name in one: the longest known module prefix."""
    while name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


def python_imports(source: str, path: Path, known: dict[str, list[Path]]) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    deferred_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or (
                isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
            deferred_lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        targets = {resolve(name, known) for name in names
                   if name == "fastsnake" or name.startswith("fastsnake.")}
        found += [Import(source, target, f"{shown(path)}:{node.lineno}",
                         node.lineno in deferred_lines)
                  for target in sorted(targets)]
    return found


CYTHON_IMPORT = re.compile(
    r"^(?P<indent>\s*)(?:from\s+(?P<module>[\w.]+)\s+c?import\s+(?P<names>[\w, ]+)"
    r"|c?import\s+(?P<plain>[\w.]+))")


def cython_imports(source: str, path: Path, known: dict[str, list[Path]]) -> list[Import]:
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = CYTHON_IMPORT.match(line)
        if not match:
            continue
        if match["plain"]:
            names = [match["plain"]]
        else:
            names = [f"{match['module']}.{n.split(' as ')[0].strip()}"
                     for n in match["names"].split(",") if n.strip()]
        targets = {resolve(name, known) for name in names
                   if name == "fastsnake" or name.startswith("fastsnake.")}
        found += [Import(source, target, f"{shown(path)}:{number}", bool(match["indent"]))
                  for target in sorted(targets)]
    return found


def all_imports() -> list[Import]:
    known = modules()
    found = []
    for name, paths in known.items():
        for path in paths:
            read = python_imports if path.suffix == ".py" else cython_imports
            found += [i for i in read(name, path, known) if i.target != name]
    return found


def layer_of(module: str) -> int | None:
    for index, (_, prefixes) in enumerate(LAYERS):
        # "fastsnake" names the package root alone, not everything under it.
        if any(module == p or (p != "fastsnake" and module.startswith(p + "."))
               for p in prefixes):
            return index
    return None


def cycles(edges: list[Import]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name in modules() if layer_of(name) is None]
    assert unplaced == [], f"modules in no layer (add them to LAYERS): {unplaced}"


def test_no_import_points_up() -> None:
    upward = []
    for edge in all_imports():
        low, high = layer_of(edge.source), layer_of(edge.target)
        if low is not None and high is not None and high > low:
            upward.append(f"{edge.where}: {edge.source} ({LAYERS[low][0]}) imports "
                          f"{edge.target} ({LAYERS[high][0]})")
    assert upward == [], "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_forbidden_imports() -> None:
    bad = [f"{e.where}: {e.source} imports {e.target}: {FORBIDDEN[e.source, e.target]}"
           for e in all_imports() if (e.source, e.target) in FORBIDDEN]
    assert bad == [], "\n".join(bad)


def test_no_import_circles() -> None:
    edges = all_imports()
    problems = []
    for component in cycles(edges):
        members = set(component)
        lines = [f"  {e.where}: {e.source} -> {e.target}" for e in edges
                 if e.source in members and e.target in members]
        problems.append("circle among " + ", ".join(component) + ":\n" + "\n".join(lines))
    assert problems == [], "\n".join(problems)


def test_deferred_imports_have_a_reason() -> None:
    unexplained = [f"{e.where}: {e.source} imports {e.target} inside a function"
                   for e in all_imports()
                   if e.deferred and (e.source, e.target) not in DEFERRED]
    assert unexplained == [], (
        "deferred imports without a reason (move them to the top, or add to DEFERRED "
        "why they wait):\n" + "\n".join(unexplained))


# -- the checker itself: each rule catches what it is for --------------------

def test_cycles_finds_a_circle_and_only_that() -> None:
    chain = [Import("a", "b", "a.py:1", False), Import("b", "c", "b.py:1", False),
             Import("c", "a", "c.py:1", False), Import("c", "d", "c.py:2", False)]
    assert cycles(chain) == [["a", "b", "c"]]
    assert cycles(chain[:2] + chain[3:]) == []


def test_upward_import_is_reported_with_its_line(tmp_path: Path) -> None:
    source = tmp_path / "fake.py"
    source.write_text("import os\n\nfrom fastsnake.server.worker import Worker\n")
    known = modules()
    found = python_imports("fastsnake.config.model", source, known)
    assert [(i.target, i.where.rsplit(":", 1)[1]) for i in found] == [
        ("fastsnake.server.worker", "3")]
    assert layer_of("fastsnake.server.worker") > layer_of("fastsnake.config.model")


@pytest.mark.parametrize(("line", "target", "deferred"), [
    ("from fastsnake._exchange cimport Channel, Exchange", "fastsnake._exchange", False),
    ("from fastsnake cimport _llhttp as llhttp", "fastsnake._llhttp", False),
    ("    from fastsnake._exchange import reason_phrase", "fastsnake._exchange", True),
    ("cimport fastsnake._http", "fastsnake._http", False),
])
def test_cython_import_lines_are_read(tmp_path: Path, line: str, target: str,
                                      deferred: bool) -> None:
    source = tmp_path / "fake.pyx"
    source.write_text(f"# cython\n{line}\n")
    found = cython_imports("fastsnake._wsgi", source, modules())
    assert [(i.target, i.deferred) for i in found] == [(target, deferred)]
