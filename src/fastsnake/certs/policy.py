"""What automatic HTTPS was asked to do, as plain data: the config layer
builds these from the Caddyfile (site addresses, ``tls``, the global
``email``, ``acme_ca``, ``local_certs``, ``storage``, ``on_demand_tls``),
``fastsnake adapt`` shows them, and the certificate manager and the workers
act on them. Picklable and free of any optional dependency, so a Config
that holds them loads without the ``https`` extra."""

from __future__ import annotations

from dataclasses import dataclass, field

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


@dataclass(frozen=True)
class Issuer:
    """Who signs a site's certificate: ``internal`` (the local CA) or
    ``acme`` (``directory``, with ``email`` and, for a private CA,
    ``ca_root``: a PEM file the CA's own HTTPS is checked against)."""

    kind: str                        # "internal" | "acme"
    directory: str = LETS_ENCRYPT    # acme only
    email: str = ""
    ca_root: str = ""                # path of a PEM file; "" = the system's roots
    challenges: tuple[str, ...] = ("http-01", "tls-alpn-01")  # acme: those we may answer


@dataclass(frozen=True)
class ManagedNames:
    """Names whose certificates fastsnake obtains and renews, one
    certificate per name (as Caddy), from the first issuer that works."""

    names: tuple[str, ...]
    issuers: tuple[Issuer, ...]
    on_demand: bool = False          # obtained at the first handshake (ask first)
    location: str = ""               # the site address's file:line, for messages


@dataclass(frozen=True)
class OnDemand:
    """The global ``on_demand_tls { ask <url> }``: the endpoint that must
    answer 200 for ``?domain=<name>`` before a certificate is obtained; or
    caddy-snake's ``permission python_dir { root, domain_suffix }``: a name
    ``<slug>.<domain_suffix>`` is allowed when ``<root>/<slug>`` is a folder."""

    ask: str = ""
    location: str = ""
    python_dir_root: str = ""
    python_dir_suffix: str = ""


@dataclass(frozen=True)
class AutoHttps:
    """Everything automatic HTTPS does for one Config."""

    storage: str                                       # the data directory
    managed: tuple[ManagedNames, ...] = ()
    on_demand: OnDemand | None = None
    http_port: int = 80
    https_port: int = 443
    redirects: bool = True           # an HTTP listener on http_port sends HTTPS hosts there
    redirect_hosts: tuple[str, ...] = field(default=())  # hosts the redirect covers

    def needs_acme(self) -> bool:
        return any(issuer.kind == "acme" for site in self.managed for issuer in site.issuers)
