"""fastsnake.certs.manager against a real Pebble, with the challenges answered
by worker-like servers that read only the data directory (``CertStore``).

A module-wide Pebble validates at the ports of ``WorkerServers`` (see
served.py): HTTP-01 answers come from ``CertStore.http_challenge`` and
TLS-ALPN-01 from ``CertStore.sni_callback``, as in a fastsnake worker. The
manager's clock is injected where a test needs to be "later"; Pebble tests
are skipped where pebble is not installed.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fastsnake.certs.challenges_store import StorageSolver
from fastsnake.certs.local_ca import LocalCA
from fastsnake.certs.manager import CertManager
from fastsnake.certs.on_demand import OnDemandGate
from fastsnake.certs.policy import AutoHttps, Issuer, ManagedNames, OnDemand
from fastsnake.certs.storage import Storage, account_prefix, cert_key, issuer_key, safe_key
from fastsnake.certs.store import CertStore
from tests.pebble import CHALLTESTSRV, MISSING, PEBBLE, Pebble, free_port
from tests.unit.certs.served import WorkerServers, handshake

REPO = Path(__file__).resolve().parents[3]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- fixtures: one data directory, its worker servers, one Pebble ----------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def worker(data: Path) -> Iterator[WorkerServers]:
    servers = WorkerServers(CertStore(data))
    yield servers
    servers.close()


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory, worker: WorkerServers) -> Iterator[Pebble]:
    if PEBBLE is None or CHALLTESTSRV is None:
        pytest.skip(MISSING)
    server = Pebble(tmp_path_factory.mktemp("pebble"), worker.http_port, worker.tls_port)
    try:
        server.start()
        # The worker serves what the manager stores for this CA (and the local CA).
        worker.store = CertStore(data_root(worker), ("local", issuer_key(server.directory_url)))
        yield server
    finally:
        server.stop()


def data_root(worker: WorkerServers) -> Path:
    return worker.store.storage.root


def acme_issuer(pebble: Pebble, *challenges: str, email: str = "") -> Issuer:
    return Issuer("acme", directory=pebble.directory_url, email=email,
                  ca_root=str(pebble.ca_root_file),
                  challenges=challenges or ("http-01", "tls-alpn-01"))


def managed(storage: Path, *sites: ManagedNames, ask: str = "") -> AutoHttps:
    return AutoHttps(storage=str(storage), managed=sites,
                     on_demand=OnDemand(ask=ask) if ask else None)


def site(names: tuple[str, ...], *issuers: Issuer, on_demand: bool = False) -> ManagedNames:
    return ManagedNames(names, issuers, on_demand=on_demand, location="Caddyfile:7")


def served_serial(worker: WorkerServers, name: str, root_pem: bytes) -> int:
    return handshake(worker.tls_port, name, root_pem)[0].serial_number


# -- ACME through the worker's store ---------------------------------------------------------


def test_obtains_via_http_01_answered_from_the_store(pebble: Pebble, worker: WorkerServers,
                                                     data: Path) -> None:
    name = "http01.site.test"
    manager = CertManager(managed(data, site((name,), acme_issuer(pebble, "http-01"))))
    manager.prepare()                       # ACME is left to the loop: nothing yet
    assert manager.status()[0]["serial"] is None
    manager.run_due()
    row = manager.status()[0]
    assert row["issuer"] == issuer_key(pebble.directory_url) and row["last_error"] is None
    assert len(worker.tokens_for(name)) == 1          # Pebble fetched the answer from "a worker"
    assert Storage(data).list("challenges/http-01") == []   # and it was withdrawn
    key = Storage(data).path(cert_key(issuer_key(pebble.directory_url), name, "key"))
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert f"{served_serial(worker, name, pebble.issuing_root_pem()):x}" == row["serial"]


def test_obtains_via_tls_alpn_01_answered_by_the_sni_callback(
        pebble: Pebble, worker: WorkerServers, data: Path) -> None:
    name = "alpn01.site.test"
    manager = CertManager(managed(data, site((name,), acme_issuer(pebble, "tls-alpn-01"))))
    manager.run_due()
    row = manager.status()[0]
    assert row["serial"] is not None, row
    assert (name, "acme-tls/1") in worker.tls_handshakes
    assert not worker.tokens_for(name)
    assert Storage(data).list("challenges/tls-alpn-01") == []
    assert f"{served_serial(worker, name, pebble.issuing_root_pem()):x}" == row["serial"]


def test_the_account_is_stored_and_reused(pebble: Pebble, data: Path) -> None:
    issuer = acme_issuer(pebble, "http-01", email="ops@site.test")
    first = CertManager(managed(data, site(("acct1.site.test",), issuer)))
    first.run_due()
    prefix = account_prefix(issuer_key(pebble.directory_url), "ops@site.test")
    storage = Storage(data)
    files = storage.list(prefix)
    assert [f.rpartition("/")[2] for f in files] == ["ops.json", "ops.key"]
    account = json.loads(storage.read(f"{prefix}/ops.json") or b"")
    assert account["registration"]["contact"] == ["mailto:ops@site.test"]
    # A new manager (a restart) orders with the stored account: no new registration.
    second = CertManager(managed(data, site(("acct2.site.test",), issuer)))
    second.run_due()
    assert second.status()[0]["serial"] is not None
    assert json.loads(storage.read(f"{prefix}/ops.json") or b"") == account
    assert storage.list(prefix) == files


def test_renewal_replaces_the_certificate_and_workers_pick_it_up(
        pebble: Pebble, data: Path) -> None:
    name = "renew.site.test"
    store_clock = Clock(0.0)
    servers = WorkerServers(CertStore(data, ("local", issuer_key(pebble.directory_url)),
                                      clock=store_clock))
    try:
        clock = Clock(time.time())
        manager = CertManager(managed(data, site((name,), acme_issuer(pebble, "http-01"))),
                              clock=clock)
        manager.run_due()
        first = manager.status()[0]
        root = pebble.issuing_root_pem()
        assert f"{served_serial(servers, name, root):x}" == first["serial"]
        manager.run_due()                                   # not due: nothing happens
        assert manager.status()[0]["serial"] == first["serial"]
        # Move to the renewal time: a third of the lifetime left.
        clock.now = dt.datetime.fromisoformat(first["renew_at"]).timestamp() + 1
        manager.run_due()
        second = manager.status()[0]
        assert second["serial"] != first["serial"] and second["last_error"] is None
        # The same TLS server, not restarted: the old one until the store rechecks.
        assert f"{served_serial(servers, name, root):x}" == first["serial"]
        store_clock.now += servers.store.recheck_s
        assert f"{served_serial(servers, name, root):x}" == second["serial"]
    finally:
        servers.close()


def test_two_processes_sharing_the_storage_order_once(pebble: Pebble, worker: WorkerServers,
                                                      data: Path) -> None:
    name = "twice.site.test"
    issuer = acme_issuer(pebble, "http-01")
    code = f"""
import json, sys
from fastsnake.certs.manager import CertManager
from fastsnake.certs.policy import AutoHttps, Issuer, ManagedNames
issuer = Issuer("acme", directory={issuer.directory!r}, ca_root={issuer.ca_root!r},
                challenges=("http-01",))
manager = CertManager(AutoHttps(storage={str(data)!r},
                                managed=(ManagedNames(({name!r},), (issuer,)),)))
print("ready", flush=True)
manager.run_due()
print(json.dumps(manager.status()[0]), flush=True)
"""
    # Hold the certificate's lock until both are started, so they race for it.
    with Storage(data).lock(f"issue_cert_{safe_key(name)}"):
        children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=REPO)
                    for _ in range(2)]
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
    rows = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        rows.append(json.loads(out))
    assert rows[0]["serial"] == rows[1]["serial"] is not None
    assert len(worker.tokens_for(name)) == 1        # one order, one validation


# -- failures and backoff --------------------------------------------------------------------


def down_ca() -> Issuer:
    return Issuer("acme", directory=f"https://127.0.0.1:{free_port()}/dir", email="",
                  challenges=("http-01",))


def test_a_ca_that_is_down_is_logged_and_retried_per_backoff(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(1_000_000.0)
    manager = CertManager(managed(tmp_path, site(("down.site.test",), down_ca())), clock=clock)
    caplog.set_level(logging.INFO, "fastsnake.certs")
    manager.prepare()                                    # does not raise, does not try
    assert manager.run_due() == 60.0                     # tried, failed, back in a minute
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "Caddyfile:7" in errors[0].getMessage() and "cannot reach" in errors[0].getMessage()
    row = manager.status()[0]
    assert row["failures"] == 1 and row["serial"] is None and "cannot reach" in row["last_error"]
    clock.now += 59
    manager.run_due()                                    # not yet
    assert manager.status()[0]["failures"] == 1
    clock.now += 1
    assert manager.run_due() == 120.0                    # the second failure doubles it
    assert manager.status()[0]["failures"] == 2
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2


def test_issuers_are_tried_in_order(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manager = CertManager(managed(tmp_path, site(("fallback.site.test",), down_ca(),
                                                 Issuer("internal"))))
    caplog.set_level(logging.ERROR, "fastsnake.certs")
    manager.run_due()
    row = manager.status()[0]
    assert row["issuer"] == "local" and row["failures"] == 0
    assert any("cannot reach" in r.getMessage() for r in caplog.records)


def test_the_loop_runs_in_a_thread_and_stops_on_request(tmp_path: Path) -> None:
    manager = CertManager(managed(tmp_path, site(("thread.site.test",), Issuer("internal"))))
    done = threading.Event()
    manager.log = logging.getLogger("fastsnake.certs.test-thread")
    manager.log.addHandler(_Signal(done))
    manager.log.setLevel(logging.INFO)
    manager.start()
    try:
        assert done.wait(60)
        assert manager.status()[0]["issuer"] == "local"
    finally:
        assert manager.stop(timeout=30)


class _Signal(logging.Handler):
    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if "obtained" in record.getMessage():
            self.event.set()


# -- the local CA at startup -----------------------------------------------------------------


def test_local_names_are_issued_in_prepare(tmp_path: Path) -> None:
    names = ("localhost", "127.0.0.1", "local.site.test")
    auto = managed(tmp_path, site(names, Issuer("internal")), site(("later.site.test",),
                                                                  down_ca()))
    manager = CertManager(auto)
    manager.prepare()
    rows = {row["name"]: row for row in manager.status()}
    assert all(rows[n]["issuer"] == "local" for n in names)
    assert rows["later.site.test"]["serial"] is None          # the loop's job
    root = LocalCA(Storage(tmp_path)).root_pem()
    servers = WorkerServers(CertStore(tmp_path))
    try:
        assert f"{served_serial(servers, 'local.site.test', root):x}" == \
            rows["local.site.test"]["serial"]
    finally:
        servers.close()
    again = CertManager(auto)                                 # a restart reuses them
    again.prepare()
    assert {row["name"]: row["serial"] for row in again.status()} == \
        {name: row["serial"] for name, row in rows.items()}


# -- on demand -------------------------------------------------------------------------------


class Recorder:
    """A tiny HTTP server: answers ``status_for(query)`` and records each request."""

    def __init__(self, status_for: Callable[[dict[str, list[str]]], int]) -> None:
        self.requests: list[str] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                recorder.requests.append(self.path)
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                self.send_response(status_for(query))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ask() -> Iterator[Recorder]:
    approved = {"yes.site.test", "yes2.site.test", "yes3.site.test", "od.site.test",
                "ca.site.test", "pebble-od.site.test"}
    recorder = Recorder(lambda q: 200 if q.get("domain", [""])[0] in approved else 403)
    yield recorder
    recorder.close()


def test_the_gate_asks_caches_and_rate_limits(ask: Recorder) -> None:
    clock = Clock(0.0)
    gate = OnDemandGate(f"{ask.url}/check", rate=2, per=60, clock=clock)
    assert gate.allowed("yes.site.test")
    assert ask.requests == ["/check?domain=yes.site.test"]
    assert not gate.allowed("no.site.test")
    assert gate.allowed("yes.site.test") and not gate.allowed("no.site.test")
    assert len(ask.requests) == 2                         # answers cached
    assert gate.allowed("yes2.site.test")
    assert not gate.allowed("yes3.site.test")             # a third new name within the minute
    clock.now += 60
    assert gate.allowed("yes3.site.test")                 # the window moved on
    assert len(ask.requests) == 5                         # the cache expired too


def test_the_gate_refuses_when_the_endpoint_is_down() -> None:
    gate = OnDemandGate(f"http://127.0.0.1:{free_port()}/check")
    assert not gate.allowed("yes.site.test")


def test_obtain_now_asks_first_and_never_calls_the_ca_for_a_refused_name(
        tmp_path: Path, ask: Recorder) -> None:
    ca = Recorder(lambda q: 500)                          # a CA that records its callers
    try:
        issuer = Issuer("acme", directory=f"{ca.url}/dir", challenges=("http-01",))
        auto = managed(tmp_path, site(("*.site.test",), issuer, on_demand=True),
                       ask=f"{ask.url}/check")
        manager = CertManager(auto)
        manager.prepare()
        assert manager.status() == []                     # nothing obtained ahead
        assert not manager.obtain_now("no.site.test")
        assert not manager.obtain_now("deep.no.site.test")    # not covered by *.site.test
        assert ca.requests == []
        assert not manager.obtain_now("ca.site.test")     # approved, but the CA fails
        assert ca.requests
        seen = len(ca.requests)
        assert not manager.obtain_now("ca.site.test")     # backing off: no new request
        assert len(ca.requests) == seen
        # Nor does the loop retry it: only a later handshake does (after the backoff).
        assert manager.run_due() == 3600.0
        assert len(ca.requests) == seen
    finally:
        ca.close()


def test_obtain_now_with_the_local_ca(tmp_path: Path, ask: Recorder) -> None:
    auto = managed(tmp_path, site(("*.site.test",), Issuer("internal"), on_demand=True),
                   ask=f"{ask.url}/check")
    manager = CertManager(auto)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(manager.obtain_now(
        "od.site.test"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 4
    assert CertStore(tmp_path).context_for("od.site.test") is not None
    [row] = manager.status()
    assert row["on_demand"] and row["issuer"] == "local"
    # A restart adopts it, so it is renewed although no handshake asks again.
    again = CertManager(auto)
    again.prepare()
    assert [r["serial"] for r in again.status()] == [row["serial"]]


def test_obtain_now_through_pebble(pebble: Pebble, worker: WorkerServers, data: Path,
                                   ask: Recorder) -> None:
    auto = managed(data, site((), acme_issuer(pebble, "http-01"), on_demand=True),
                   ask=f"{ask.url}/check")
    manager = CertManager(auto)
    assert manager.obtain_now("pebble-od.site.test")
    assert worker.tokens_for("pebble-od.site.test")
    root = pebble.issuing_root_pem()
    assert f"{served_serial(worker, 'pebble-od.site.test', root):x}" == \
        manager.status()[0]["serial"]


class WrongAnswers(StorageSolver):
    """Publishes a wrong HTTP-01 answer, so the CA refuses the validation."""

    def present_http(self, token: str, key_authorization: str) -> None:
        super().present_http(token, key_authorization + "-wrong")


def test_a_refused_validation_is_logged_with_its_problem_and_retried(
        pebble: Pebble, data: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(time.time())
    name = "refused.site.test"
    manager = CertManager(managed(data, site((name,), acme_issuer(pebble, "http-01"))),
                          clock=clock, solver=WrongAnswers(Storage(data)))
    caplog.set_level(logging.ERROR, "fastsnake.certs")
    assert manager.run_due() == 60.0                  # no raise; back in a minute
    [error] = caplog.records
    assert "Caddyfile:7" in error.getMessage()
    assert "urn:ietf:params:acme:error:unauthorized" in error.getMessage()
    row = manager.status()[0]
    assert row["problem"]["type"] == "urn:ietf:params:acme:error:unauthorized"
    assert row["failures"] == 1 and row["serial"] is None
    clock.now += 60                                   # a refusal is retried, as Caddy does
    manager.solver = StorageSolver(Storage(data))
    manager.run_due()
    assert manager.status()[0]["serial"] is not None and manager.status()[0]["failures"] == 0


def test_a_certificate_removed_from_the_storage_is_issued_again(tmp_path: Path) -> None:
    manager = CertManager(managed(tmp_path, site(("gone.site.test",), Issuer("internal"))))
    manager.prepare()
    first = manager.status()[0]["serial"]
    Storage(tmp_path).delete("certificates/local/gone.site.test")
    manager.run_due()
    assert manager.status()[0]["serial"] not in (None, first)
    assert CertStore(tmp_path).context_for("gone.site.test") is not None
