"""Automatic HTTPS in the Caddyfile: the global options, the ``tls``
directive's automatic forms, and Caddy's rules for which site gets HTTPS
and whose certificate.

Global options::

    email <address>                   # the ACME account's contact
    acme_ca <directory_url>           # default: Let's Encrypt
    acme_ca_root <pem_file>           # the private CA's own root, for its HTTPS
    local_certs                       # every site from the local CA
    cert_issuer internal | acme [<directory_url>] [{ ... }]
    storage file_system [<path>] | storage file_system { root <path> }
    on_demand_tls { ask <url> }
    auto_https off | disable_redirects | disable_certs | ignore_loaded_certs
    skip_install_trust                # fastsnake never installs its root by itself

Site ``tls``::

    tls internal | <email> | <cert_file> <key_file> [{
        protocols <min> [<max>]
        issuer internal | acme [<directory_url>] [{ dir <url>; email <addr>;
                                  trusted_roots <pem_file>;
                                  disable_http_challenge; disable_tlsalpn_challenge }]
        ca <directory_url>
        ca_root <pem_file>
        on_demand
    }]

Which names get which issuer follows Caddy: ``localhost``, IP addresses and
names under ``.localhost``, ``.local``, ``.internal``, ``.home.arpa`` get the
local CA; any other name gets ACME (Let's Encrypt unless ``acme_ca`` or the
site's issuer says otherwise); ``local_certs`` and ``tls internal`` send
everything to the local CA.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, replace
from typing import NoReturn

from fastsnake.caddyfile import Dispenser, Token
from fastsnake.certs.policy import LETS_ENCRYPT, Issuer, OnDemand
from fastsnake.errors import CaddyfileError

AUTO_HTTPS_VALUES = ("off", "disable_redirects", "disable_certs", "ignore_loaded_certs")
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


@dataclass(frozen=True)
class HttpsOptions:
    """The global options about automatic HTTPS."""

    email: str = ""
    acme_ca: str = ""
    acme_ca_root: str = ""
    local_certs: bool = False
    issuer: Issuer | None = None         # cert_issuer
    storage: str = ""                    # "" = certs.storage.default_data_dir()
    on_demand: OnDemand | None = None
    auto_https: tuple[str, ...] = ()

    @property
    def off(self) -> bool:
        return "off" in self.auto_https

    @property
    def redirects(self) -> bool:
        return not self.off and "disable_redirects" not in self.auto_https

    @property
    def manage_certs(self) -> bool:
        return not self.off and "disable_certs" not in self.auto_https


@dataclass(frozen=True)
class TlsAuto:
    """A site's ``tls`` without certificate files: how its certificate is
    obtained (``issuer`` None: by name, as Caddy decides)."""

    issuer: Issuer | None = None
    email: str = ""
    on_demand: bool = False
    min_version: str = ""
    max_version: str = ""
    location: str = ""


@dataclass(frozen=True)
class ManagedTls:
    """``Site.tls`` of a site whose certificates fastsnake manages: one per
    name, found by SNI in the data directory (see certs.store)."""

    names: tuple[str, ...]
    storage: str
    issuer_keys: tuple[str, ...]         # the storage folders to look in, in order
    on_demand: bool = False
    min_version: str = ""
    max_version: str = ""
    location: str = ""


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def is_internal_name(host: str) -> bool:
    """Caddy's SubjectIsInternal, with IP addresses: names no public CA signs."""
    name = host.strip("[]").lower()
    return name == "localhost" or name.endswith(INTERNAL_SUFFIXES) or is_ip_address(name)


def qualifies_for_cert(host: str) -> bool:
    """Caddy's SubjectQualifiesForCert: a name a certificate can be issued for."""
    name = host.strip("[]")
    if not name or name.startswith(".") or name.endswith(".") or " " in name:
        return False
    if "*" in name:
        return name.startswith("*.") and "*" not in name[2:] and name.count(".") >= 1
    return True


def parse_https_option(d: Dispenser, name: str, options: HttpsOptions,
                       base_dir: str) -> HttpsOptions | None:
    """One global option, if it is about HTTPS; None when it is not."""
    if name == "email":
        return replace(options, email=_one(d))
    if name == "acme_ca":
        return replace(options, acme_ca=_url(d, _one(d)))
    if name == "acme_ca_root":
        return replace(options, acme_ca_root=_pem_file(d, _one(d), base_dir))
    if name == "local_certs":
        if d.next_arg():
            d.arg_err()
        return replace(options, local_certs=True)
    if name == "skip_install_trust":
        if d.next_arg():
            d.arg_err()
        return options  # fastsnake never installs its root unasked (`fastsnake trust` does)
    if name == "cert_issuer":
        return replace(options, issuer=parse_issuer(d, base_dir))
    if name == "storage":
        return replace(options, storage=_storage(d, base_dir))
    if name == "on_demand_tls":
        return replace(options, on_demand=_on_demand(d, base_dir))
    if name == "auto_https":
        values = d.remaining_args()
        if not values:
            d.arg_err()
        for value in values:
            if value not in AUTO_HTTPS_VALUES:
                d.errf("auto_https must be one of %s", ", ".join(map(repr, AUTO_HTTPS_VALUES)))
        return replace(options, auto_https=(*options.auto_https, *values))
    return None


def parse_tls_auto(d: Dispenser, args: list[str], base_dir: str) -> TlsAuto:
    """``tls internal``, ``tls <email>`` or ``tls { ... }`` (the caller has
    taken the arguments; certificate files go elsewhere)."""
    location = d.token().location
    auto = TlsAuto(location=location)
    if args == ["internal"]:
        auto = replace(auto, issuer=Issuer("internal"))
    elif len(args) == 1 and "@" in args[0]:
        auto = replace(auto, email=args[0])
    elif args:
        d.err("tls takes 'internal', an email address, or <cert_file> <key_file>")
    return auto


def parse_tls_block_option(d: Dispenser, auto: TlsAuto, base_dir: str) -> TlsAuto:
    """One option of a ``tls { ... }`` block that is about obtaining certificates."""
    sub = d.val()
    if sub == "issuer":
        return replace(auto, issuer=parse_issuer(d, base_dir))
    if sub == "ca":
        current = auto.issuer if auto.issuer and auto.issuer.kind == "acme" else Issuer("acme")
        return replace(auto, issuer=replace(current, directory=_url(d, _one(d))))
    if sub == "ca_root":
        current = auto.issuer if auto.issuer and auto.issuer.kind == "acme" else Issuer("acme")
        return replace(auto, issuer=replace(current, ca_root=_pem_file(d, _one(d), base_dir)))
    if sub == "on_demand":
        if d.next_arg():
            d.arg_err()
        return replace(auto, on_demand=True)
    if sub == "dns":
        d.err("tls dns: the DNS challenge is not supported by fastsnake (it needs a DNS "
              "provider plugin); use the HTTP or TLS-ALPN challenge, or tls <cert> <key>")
    d.errf("tls option '%s' is not supported by fastsnake", sub)
    raise AssertionError  # (errf raises)


def parse_issuer(d: Dispenser, base_dir: str) -> Issuer:
    """``issuer internal | acme [<directory_url>] [{ ... }]`` (also ``cert_issuer``)."""
    start = d.token()
    kind = _one_of_args(d)
    if kind == "internal":
        rest = d.remaining_args()
        if rest:
            d.arg_err()
        nesting = d.nesting
        while d.next_block(nesting):
            d.errf("issuer internal option '%s' is not supported by fastsnake", d.val())
        return Issuer("internal")
    if kind in ("zerossl", "acme_dns"):
        d.errf("issuer %s is not supported by fastsnake (acme and internal are)", kind)
    if kind != "acme":
        d.errf("unknown issuer '%s' (acme or internal)", kind)
    issuer = Issuer("acme")
    rest = d.remaining_args()
    if len(rest) > 1:
        d.arg_err()
    if rest:
        issuer = replace(issuer, directory=_url(d, rest[0]))
    challenges = list(issuer.challenges)
    nesting = d.nesting
    while d.next_block(nesting):
        option = d.val()
        if option == "dir":
            issuer = replace(issuer, directory=_url(d, _one(d)))
        elif option == "email":
            issuer = replace(issuer, email=_one(d))
        elif option == "trusted_roots":
            issuer = replace(issuer, ca_root=_pem_file(d, _one(d), base_dir))
        elif option == "disable_http_challenge":
            challenges = [c for c in challenges if c != "http-01"]
        elif option == "disable_tlsalpn_challenge":
            challenges = [c for c in challenges if c != "tls-alpn-01"]
        elif option == "dns":
            d.err("issuer acme dns: the DNS challenge is not supported by fastsnake")
        else:
            d.errf("issuer acme option '%s' is not supported by fastsnake", option)
    if not challenges:
        _fail_at(start, "issuer acme: both challenges are disabled; fastsnake can answer no "
                        "other")
    return replace(issuer, challenges=tuple(challenges))


def issuers_for(host: str, auto: TlsAuto | None, options: HttpsOptions) -> tuple[Issuer, ...]:
    """The issuers to try for a name, by Caddy's rules."""
    chosen = auto.issuer if auto is not None else None
    if chosen is None and options.issuer is not None:
        chosen = options.issuer
    if chosen is None:
        if options.local_certs or is_internal_name(host):
            chosen = Issuer("internal")
        else:
            chosen = Issuer("acme")
    if chosen.kind == "acme":
        chosen = replace(
            chosen,
            directory=(chosen.directory if chosen.directory != LETS_ENCRYPT
                       else options.acme_ca or LETS_ENCRYPT),
            email=chosen.email or (auto.email if auto else "") or options.email,
            ca_root=chosen.ca_root or options.acme_ca_root,
        )
    return (chosen,)


# -- small readers


def _fail_at(token: Token, message: str) -> NoReturn:
    raise CaddyfileError(message, token.file, token.line, token.imports)


def _one(d: Dispenser) -> str:
    args = d.remaining_args()
    if len(args) != 1:
        d.arg_err()
    return args[0]


def _one_of_args(d: Dispenser) -> str:
    if not d.next_arg():
        d.arg_err()
    return d.val()


def _url(d: Dispenser, text: str) -> str:
    if not text.startswith(("https://", "http://")):
        d.errf("'%s' is not an ACME directory URL (https://...)", text)
    return text


def _pem_file(d: Dispenser, text: str, base_dir: str) -> str:
    path = os.path.normpath(os.path.join(base_dir, text))
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as exc:
        d.errf("%s: %s", path, exc.strerror or exc)
    if b"-----BEGIN CERTIFICATE-----" not in head:
        d.errf("%s is not a PEM certificate file", path)
    return path


def _one_before_block(d: Dispenser) -> str:
    """The single argument of a line that may open a block."""
    if not d.next_arg():
        d.arg_err()
    value = d.val()
    if d.next_arg():
        d.arg_err()
    return value


def _permission_http(d: Dispenser) -> str:
    endpoint = ""
    nesting = d.nesting
    while d.next_block(nesting):
        if d.val() != "endpoint":
            d.errf("permission http option '%s' is not supported (endpoint is)", d.val())
        endpoint = _url(d, _one(d))
    if not endpoint:
        d.err("permission http needs 'endpoint <url>'")
    return endpoint


def _permission_python_dir(d: Dispenser, base_dir: str) -> tuple[str, str]:
    """caddy-snake's ``permission python_dir { root <dir>; domain_suffix <suffix> }``."""
    values = {"root": "", "domain_suffix": ""}
    nesting = d.nesting
    while d.next_block(nesting):
        if d.val() not in values:
            d.errf("permission python_dir option '%s' is not supported (root and "
                   "domain_suffix are)", d.val())
        name = d.val()
        values[name] = _one(d)
    if not values["root"] or not values["domain_suffix"]:
        d.err("permission python_dir needs root <dir> and domain_suffix <suffix>")
    root = os.path.normpath(os.path.join(base_dir, values["root"]))
    return root, values["domain_suffix"].strip(".").lower()


def _storage(d: Dispenser, base_dir: str) -> str:
    """``storage file_system [<path>]`` or ``{ root <path> }``."""
    args = d.remaining_args()
    if not args:
        d.arg_err()
    if args[0] != "file_system":
        d.errf("storage module '%s' is not supported by fastsnake (file_system is)", args[0])
    if len(args) > 2:
        d.arg_err()
    root = args[1] if len(args) == 2 else ""
    nesting = d.nesting
    while d.next_block(nesting):
        if d.val() != "root":
            d.errf("storage file_system option '%s' is not supported (root is)", d.val())
        root = _one(d)
    if not root:
        d.err("storage file_system needs a folder: storage file_system <path>")
    return os.path.normpath(os.path.join(base_dir, root))


def _on_demand(d: Dispenser, base_dir: str) -> OnDemand:
    start = d.token()
    location = start.location
    if d.next_arg():
        d.arg_err()
    ask = ""
    python_dir: tuple[str, str] = ("", "")
    nesting = d.nesting
    while d.next_block(nesting):
        option = d.val()
        if option == "ask":
            ask = _url(d, _one(d))
        elif option in ("interval", "burst"):
            d.remaining_args()  # deprecated in Caddy; fastsnake rate-limits by itself
        elif option == "permission":
            module = _one_before_block(d)
            if module == "http":  # Caddy's long form of ask
                ask = _permission_http(d)
            elif module == "python_dir":
                python_dir = _permission_python_dir(d, base_dir)
            else:
                d.errf("on_demand_tls permission '%s' is not supported by fastsnake; "
                       "use ask, permission http or permission python_dir", module)
        else:
            d.errf("on_demand_tls option '%s' is not supported by fastsnake", option)
    if python_dir[0]:
        if ask:
            _fail_at(start, "on_demand_tls: use either ask (permission http) or permission "
                            "python_dir, not both")
        return OnDemand("", location, *python_dir)
    if not ask:
        _fail_at(start, "on_demand_tls needs 'ask <url>': fastsnake never obtains "
                        "certificates for names nobody approved")
    return OnDemand(ask, location)


@dataclass(frozen=True)
class AcmeChallenge:
    """The route every site on the HTTP port gets first while ACME is in use:
    ``/.well-known/acme-challenge/<token>`` answered from the data directory,
    so whichever worker the CA reaches can answer (certs.store)."""

    storage: str


CHALLENGE_PATH = "/.well-known/acme-challenge/*"


def redirect_target(https_port: int) -> str:
    """Where an HTTP request for an HTTPS site goes (Caddy's 308 redirect)."""
    port = "" if https_port == 443 else f":{https_port}"
    return "https://{http.request.host}" + port + "{http.request.uri}"
