"""Planning automatic HTTPS while the Caddyfile loads: each HTTPS site's
certificate source (its own files, or names fastsnake manages), the
HTTP->HTTPS redirects on the HTTP port, and the route that answers ACME's
HTTP challenge there. The result is plain data: ``Site.tls`` values and one
``AutoHttps`` for the certificate manager."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, NoReturn

from fastsnake.caddyfile import Token
from fastsnake.certs.extra import https_extra_installed
from fastsnake.certs.policy import AutoHttps, Issuer, ManagedNames
from fastsnake.certs.storage import default_data_dir, issuer_key
from fastsnake.config import directives as dv
from fastsnake.config.https import (
    CHALLENGE_PATH,
    AcmeChallenge,
    HttpsOptions,
    ManagedTls,
    TlsAuto,
    issuers_for,
    qualifies_for_cert,
    redirect_target,
)
from fastsnake.config.model import Route, Site
from fastsnake.errors import CaddyfileError

log = logging.getLogger("fastsnake.config")


def _fail(token: Token, message: str) -> NoReturn:
    raise CaddyfileError(message, token.file, token.line, token.imports)


def storage_key(issuer: Issuer) -> str:
    """The folder under certificates/ that an issuer's certificates go to."""
    return "local" if issuer.kind == "internal" else issuer_key(issuer.directory)


class HttpsPlanner:
    def __init__(self, options: HttpsOptions, http_port: int, https_port: int) -> None:
        self.options = options
        self.http_port = http_port
        self.https_port = https_port
        self.storage = options.storage or str(default_data_dir())
        self.managed: dict[str, ManagedNames] = {}

    def site_tls(self, key: Token, port: int, hosts: tuple[str, ...], tls: Any) -> Any:
        """The ``Site.tls`` of a site served over HTTPS."""
        if isinstance(tls, dv.TlsFiles):
            return tls
        auto = tls if isinstance(tls, TlsAuto) else None
        options = self.options
        if options.off or not options.manage_certs:
            _fail(key, f"site address '{key.text}' is served over HTTPS, but auto_https "
                       f"{' '.join(options.auto_https)} manages no certificates: give the site "
                       "'tls <cert_file> <key_file>', or serve it over HTTP with "
                       f"'http://{key.text.partition('://')[2] or key.text}'")
        on_demand = bool(auto and auto.on_demand)
        if on_demand and options.on_demand is None:
            _fail(key, "tls { on_demand } needs the global option on_demand_tls { ask <url> }: "
                       "fastsnake never obtains certificates for names nobody approved")
        if not hosts and not on_demand:
            _fail(key, f"site address '{key.text}' is served over HTTPS without a host name to "
                       "get a certificate for: give the site 'tls <cert_file> <key_file>', "
                       "tls { on_demand }, or a host name")
        if not https_extra_installed():
            _fail(key, f"site address '{key.text}' needs automatic HTTPS, which needs the "
                       "'https' extra: pip install 'fastsnake[https]' (or give the site "
                       "'tls <cert_file> <key_file>')")
        folders: list[str] = []
        for host in hosts:
            if not qualifies_for_cert(host):
                _fail(key, f"'{host}' cannot have a certificate: give the site "
                           "'tls <cert_file> <key_file>' or serve it over http://")
            issuers = issuers_for(host, auto, options)
            # On demand, each name under the wildcard gets its own certificate
            # at its first handshake (HTTP or TLS-ALPN challenge), as in Caddy.
            if host.startswith("*.") and not on_demand and any(i.kind == "acme" for i in issuers):
                _fail(key, f"the wildcard '{host}' needs ACME's DNS challenge, which fastsnake "
                           "lacks: use 'tls internal', 'tls <cert_file> <key_file>', or name "
                           "each host")
            location = auto.location if auto else key.location
            if host not in self.managed and issuers[0].kind == "internal":
                log.info("%s: '%s' gets a certificate from fastsnake's local CA: clients trust "
                         "it once 'fastsnake trust' has installed its root", key.location, host)
            self.managed.setdefault(host, ManagedNames((host,), issuers, on_demand, location))
            folders += [storage_key(issuer) for issuer in issuers]
        if on_demand and not hosts:
            issuers = issuers_for("", auto, options)
            self.managed.setdefault("*", ManagedNames((), issuers, True, key.location))
            folders += [storage_key(issuer) for issuer in issuers]
        return ManagedTls(tuple(hosts), self.storage, tuple(dict.fromkeys(folders)), on_demand,
                          auto.min_version if auto else "", auto.max_version if auto else "",
                          key.location)

    def finish(self, sites: dict[int, list[Site]], binds: dict[int, tuple[str, Token]]
               ) -> AutoHttps | None:
        """Add the HTTP port's redirects and ACME challenge route; the plan."""
        if not self.managed and not any(site.tls is not None for group in sites.values()
                                        for site in group):
            return None
        secure = sites.get(self.https_port, [])
        if self.options.redirects and secure and secure[0].tls is not None:
            self.add_redirects(sites, binds, secure)
        managed = tuple(self.managed.values())
        uses_acme = any(i.kind == "acme" for m in managed for i in m.issuers)
        plain = sites.get(self.http_port, [])
        if uses_acme and plain and plain[0].tls is None:
            challenge = Route(AcmeChallenge(self.storage), (CHALLENGE_PATH,),
                              directive="acme_challenge")
            sites[self.http_port] = [
                Site(site.hosts, (challenge, *site.routes), site.access_logs, site.tls,
                     site.error_routes) for site in plain]
        elif uses_acme:
            # Nothing answers on the HTTP port: only the TLS-ALPN challenge can work.
            managed = tuple(_without_http_challenge(m) for m in managed)
        if not managed:
            return None
        return AutoHttps(self.storage, managed, self.options.on_demand, self.http_port,
                         self.https_port, self.options.redirects,
                         tuple(h for site in secure for h in site.hosts))

    def add_redirects(self, sites: dict[int, list[Site]], binds: dict[int, tuple[str, Token]],
                      secure: list[Site]) -> None:
        """Caddy's HTTP->HTTPS redirects (308) for the hosts served on the HTTPS
        port, on the HTTP port, except hosts a site already serves over HTTP."""
        plain = sites.setdefault(self.http_port, [])
        if plain and plain[0].tls is not None:
            return  # the HTTP port serves HTTPS here: nothing to redirect from
        taken = {host for site in plain for host in site.hosts}
        catch_all_taken = any(not site.hosts for site in plain)
        hosts = [h for site in secure for h in site.hosts if h not in taken]
        wants_catch_all = any(not site.hosts for site in secure) and not catch_all_taken
        redirect = Route(dv.Redirect(redirect_target(self.https_port), 308), directive="redir")
        if hosts:
            plain.append(Site(tuple(dict.fromkeys(hosts)), (redirect,)))
        if wants_catch_all:
            plain.append(Site((), (redirect,)))
        if not plain:
            del sites[self.http_port]
            return
        if self.http_port not in binds:
            binds[self.http_port] = binds.get(self.https_port, ("", None))  # type: ignore[assignment]


def _without_http_challenge(managed: ManagedNames) -> ManagedNames:
    issuers = tuple(
        replace(i, challenges=tuple(c for c in i.challenges if c != "http-01") or i.challenges)
        if i.kind == "acme" else i for i in managed.issuers)
    return replace(managed, issuers=issuers)
