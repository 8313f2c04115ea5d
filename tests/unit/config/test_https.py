"""Automatic HTTPS in the Caddyfile, by Caddy's rules: which sites get
HTTPS, whose certificate (local CA or ACME), the HTTP->HTTPS redirects and
the ACME challenge route on the HTTP port, the global options and the
site's tls forms, and exact errors for what cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastsnake.certs.policy import LETS_ENCRYPT, Issuer, OnDemand
from fastsnake.config import directives as dv
from fastsnake.config.https import AcmeChallenge, ManagedTls, is_internal_name
from tests.config_helpers import build, build_error


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path


def listeners(config):
    return {lst.port: lst for lst in config.listeners}


@pytest.mark.parametrize(("host", "internal"), [
    ("localhost", True), ("127.0.0.1", True), ("[::1]", True), ("app.localhost", True),
    ("nas.local", True), ("db.internal", True), ("router.home.arpa", True),
    ("example.com", False), ("localhost.example.com", False),
])
def test_internal_names(host: str, internal: bool) -> None:
    assert is_internal_name(host) is internal


def test_a_domain_gets_acme_a_redirect_and_the_challenge_route(project: Path) -> None:
    config = build(project, "{\n storage file_system data\n email me@example.com\n}\n"
                            "example.com, www.example.com {\n respond \"hi\"\n}\n")
    by_port = listeners(config)
    secure = by_port[443].sites[0]
    assert isinstance(secure.tls, ManagedTls)
    assert secure.tls.names == ("example.com", "www.example.com")
    assert secure.tls.storage == str(project / "data")
    assert secure.tls.issuer_keys == ("acme-v02.api.letsencrypt.org-directory",)
    [redirect] = by_port[80].sites
    assert redirect.hosts == ("example.com", "www.example.com")
    challenge, to_https = redirect.routes
    assert challenge.handler == AcmeChallenge(str(project / "data"))
    assert challenge.paths == ("/.well-known/acme-challenge/*",)
    assert to_https.handler == dv.Redirect("https://{http.request.host}{http.request.uri}", 308)
    auto = config.auto_https
    assert [m.names for m in auto.managed] == [("example.com",), ("www.example.com",)]
    assert auto.managed[0].issuers == (Issuer("acme", LETS_ENCRYPT, "me@example.com"),)


def test_localhost_gets_the_local_ca_on_its_port_without_redirects(project: Path) -> None:
    config = build(project, "localhost:8443 {\n respond \"hi\"\n}\n")
    assert [lst.port for lst in config.listeners] == [8443]  # redirects only for the HTTPS port
    assert config.listeners[0].sites[0].tls.issuer_keys == ("local",)
    assert config.auto_https.managed[0].issuers == (Issuer("internal"),)


def test_redirect_keeps_a_custom_https_port_and_spares_hosts_served_over_http(
        project: Path) -> None:
    config = build(project, "{\n http_port 8080\n https_port 8443\n}\n"
                            "a.localhost, b.localhost {\n respond \"s\"\n}\n"
                            "http://b.localhost {\n respond \"plain\"\n}\n")
    plain = listeners(config)[8080]
    assert [site.hosts for site in plain.sites] == [("b.localhost",), ("a.localhost",)]
    assert plain.sites[1].routes[0].handler.to == (
        "https://{http.request.host}:8443{http.request.uri}")
    # No ACME here: no challenge route.
    assert not any(isinstance(r.handler, AcmeChallenge) for s in plain.sites for r in s.routes)


@pytest.mark.parametrize("option", ["auto_https disable_redirects", "auto_https disable_redirects"
                                                                   " ignore_loaded_certs"])
def test_disable_redirects(project: Path, option: str) -> None:
    config = build(project, f"{{\n {option}\n}}\nlocalhost {{\n}}\n")
    assert [lst.port for lst in config.listeners] == [443]


def test_local_certs_and_tls_internal_send_public_names_to_the_local_ca(project: Path) -> None:
    config = build(project, "{\n local_certs\n}\nexample.com {\n}\n")
    assert config.auto_https.managed[0].issuers == (Issuer("internal"),)
    config = build(project, "example.com {\n tls internal\n}\n")
    assert config.auto_https.managed[0].issuers == (Issuer("internal"),)
    assert not config.auto_https.needs_acme()


def test_acme_options_and_issuer_blocks(project: Path) -> None:
    root = project / "root.pem"
    root.write_text("-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n")
    config = build(project, "{\n acme_ca https://ca.test/dir\n acme_ca_root root.pem\n}\n"
                            "a.example.com {\n tls ops@example.com\n}\n"
                            "b.example.com {\n tls {\n  issuer acme https://other.test/dir {\n"
                            "   email b@example.com\n   disable_http_challenge\n  }\n }\n}\n")
    a, b = config.auto_https.managed
    assert a.issuers == (Issuer("acme", "https://ca.test/dir", "ops@example.com", str(root)),)
    assert b.issuers == (Issuer("acme", "https://other.test/dir", "b@example.com", str(root),
                                ("tls-alpn-01",)),)


def test_on_demand(project: Path) -> None:
    config = build(project, "{\n on_demand_tls {\n  ask http://127.0.0.1:9/ok\n }\n}\n"
                            ":443 {\n tls {\n  on_demand\n }\n}\n")
    assert config.auto_https.on_demand == OnDemand("http://127.0.0.1:9/ok",
                                                   config.auto_https.on_demand.location)
    assert config.auto_https.managed[0].on_demand
    site = listeners(config)[443].sites[0]
    assert site.tls.on_demand and site.tls.names == ()


def test_files_keep_working_beside_managed_sites(project: Path) -> None:
    config = build(project, "localhost:8443 {\n}\n")
    assert isinstance(config.listeners[0].sites[0].tls, ManagedTls)


@pytest.mark.parametrize(("source", "message"), [
    ("a.localhost:8443 {\n tls {\n  on_demand\n }\n}",
     "1: tls { on_demand } needs the global option on_demand_tls { ask <url> }"),
    ("{\n auto_https disable_certs\n}\nlocalhost {\n}",
     "4: site address 'localhost' is served over HTTPS, but auto_https disable_certs manages"),
    ("{\n storage redis\n}\n:80 {\n}", "2: storage module 'redis' is not supported"),
    ("{\n on_demand_tls {\n  interval 2m\n }\n}\n:80 {\n}", "2: on_demand_tls needs 'ask <url>'"),
    ("{\n acme_ca letsencrypt\n}\n:80 {\n}", "2: 'letsencrypt' is not an ACME directory URL"),
    ("{\n acme_ca_root nope.pem\n}\n:80 {\n}", "2: <dir>/nope.pem: No such file or directory"),
    ("a.com {\n tls {\n  issuer zerossl KEY\n }\n}",
     "3: issuer zerossl is not supported by fastsnake"),
    ("a.com {\n tls {\n  issuer acme {\n   disable_http_challenge\n"
     "   disable_tlsalpn_challenge\n  }\n }\n}", "3: issuer acme: both challenges are disabled"),
    ("a.com {\n tls a b c\n}", "2: tls takes 'internal', an email address, or <cert_file>"),
    ("a.com {\n tls internal {\n  client_auth\n }\n}",
     "3: tls option 'client_auth' is not supported by fastsnake"),
])
def test_errors(project: Path, source: str, message: str) -> None:
    assert build_error(project, source).startswith(f"<dir>/Caddyfile:{message}")
