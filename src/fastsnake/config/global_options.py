"""The Caddyfile's global options block, and Caddy's duration and size syntax.

fastsnake reads the options that change how it serves (ports, grace period,
``servers`` timeouts and limits, ``debug``). A few options that only make
sense for Caddy itself are so common in real Caddyfiles (``admin
<address>``) that refusing them would make every copied Caddyfile fail:
those are accepted and ignored with a logged notice. The options of
automatic HTTPS are read by ``fastsnake.config.https``.
``log`` configures fastsnake's own log (see ``fastsnake.config.log``). Any
other Caddy option is refused as unsupported, and anything else as
unrecognized (in Caddy's words), because a silently ignored option is a
misconfiguration nobody notices.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace

from fastsnake.caddyfile import Dispenser, Segment, Token
from fastsnake.config.args import (
    expect_no_args,
    expect_one_arg,
    parse_duration,
    parse_size,
    refuse_block,
)
from fastsnake.config.https import HttpsOptions, parse_https_option
from fastsnake.config.log import ServerLogSpec, parse_global_log
from fastsnake.config.model import ClientIPPolicy, Config, Limits, Timeouts
from fastsnake.config.order import DIRECTIVE_ORDER
from fastsnake.request.client_ip import parse_ranges

__all__ = ["GlobalOptions", "parse_global_options"]

log = logging.getLogger("fastsnake.config")

# Caddy's registered global options that fastsnake refuses as unsupported
# (rather than unrecognized): the user wrote valid Caddy, fastsnake lacks it.
_CADDY_ONLY_OPTIONS = frozenset(
    "acme_dns acme_eab cert_lifetime default_bind default_sni dns ech events fallback_sni "
    "filesystem key_type metrics ocsp_interval ocsp_stapling persist_config pki "
    "preferred_chains renew_interval renewal_window_ratio shutdown_delay storage_check "
    "storage_clean_interval tls_resolvers".split()
)


@dataclass(frozen=True)
class GlobalOptions:
    http_port: int = 80
    https_port: int = 443
    grace_period: float = Config.grace_period
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    debug: bool = False
    log: ServerLogSpec | None = None  # the global ``log`` option; None: not written
    order: tuple[tuple[str, str, str], ...] = ()  # (directive, position, other)
    client_ip: ClientIPPolicy | None = None       # servers { trusted_proxies ... }
    admin: bool = True                            # admin off: no control file
    supervisor: str = "on"                        # on, off or watchdog
    supervisor_at: str = ""                       # "file:line" of the supervisor option
    https: HttpsOptions = field(default_factory=HttpsOptions)  # automatic HTTPS's options


def parse_global_options(segments: tuple[Segment, ...]) -> GlobalOptions:
    options = GlobalOptions()
    for segment in segments:
        d = Dispenser(segment)
        d.next()
        name = d.val()
        if name == "debug":
            expect_no_args(d)
            options = replace(options, debug=True)
        elif name == "http_port":
            options = replace(options, http_port=_port(d, name))
        elif name == "https_port":
            options = replace(options, https_port=_port(d, name))
        elif name == "grace_period":
            value = expect_one_arg(d)
            seconds = _duration(d, value, name)
            if seconds < 0:
                d.errf("grace_period must not be negative, got '%s'", value)
            options = replace(options, grace_period=seconds)
        elif name == "servers":
            options = _servers(d, options)
        elif (https := parse_https_option(d, name, options.https,
                                          _root_dir(d.token()))) is not None:
            options = replace(options, https=https)
        elif name == "admin":
            args = d.remaining_args()
            if args == ["off"]:
                options = replace(options, admin=False)
                log.info("%s: admin off: 'fastsnake reload' and 'fastsnake stop' cannot reach "
                         "this server (it writes no control file)", d.token().location)
            else:
                _ignored(d, name, "fastsnake has no admin API; 'fastsnake reload' and "
                                  "'fastsnake stop' reach a server through its control file")
                while d.next_block(d.nesting):
                    pass  # the admin block's own options: all about that API
        elif name == "supervisor":
            value = expect_one_arg(d)
            if value not in ("on", "off", "watchdog"):
                d.errf("supervisor must be 'on', 'off' or 'watchdog', got '%s'", value)
            options = replace(options, supervisor=value, supervisor_at=d.token().location)
        elif name == "order":
            options = replace(options, order=(*options.order, _order(d)))
        elif name == "log":
            # relative paths resolve against the main Caddyfile's directory
            spec = parse_global_log(d, _root_dir(d.token()), options.log is not None)
            options = replace(options, log=spec)
        elif name in _CADDY_ONLY_OPTIONS:
            d.errf("global option '%s' is not supported by fastsnake", name)
        else:
            d.errf("unrecognized global option: %s", name)
    return options


def _servers(d: Dispenser, options: GlobalOptions) -> GlobalOptions:
    if d.next_arg():
        d.errf(
            "per-listener servers options ('servers %s') are not supported by fastsnake yet; "
            "use 'servers { ... }' for all listeners",
            d.val(),
        )
    timeouts, limits = options.timeouts, options.limits
    client_ip = options.client_ip or ClientIPPolicy()
    nesting = d.nesting
    while d.next_block(nesting):
        option = d.val()
        if option == "timeouts":
            if d.next_arg():
                d.arg_err()
            inner = d.nesting
            while d.next_block(inner):
                kind = d.val()
                if kind not in ("read_header", "read_body", "write", "idle"):
                    d.errf("timeouts option '%s' is not supported by fastsnake", kind)
                value = expect_one_arg(d)
                seconds = _duration(d, value, f"{kind} timeout")
                timeouts = replace(timeouts, **{kind: seconds if seconds > 0 else None})
        elif option == "max_header_size":
            value = expect_one_arg(d)
            try:
                size = parse_size(value)
            except ValueError as exc:
                d.errf("parsing max_header_size: %s", exc)
            if size <= 0:
                d.errf("max_header_size must be positive, got '%s'", value)
            limits = replace(limits, max_header_size=size)
        elif option == "trusted_proxies":
            args = d.remaining_args()
            if not args or args[0] != "static":
                d.err("trusted_proxies takes the 'static' source: "
                      "trusted_proxies static <ranges...> | private_ranges")
            if len(args) < 2:
                d.arg_err()
            try:
                parse_ranges(args[1:])
            except ValueError as exc:
                d.errf("trusted_proxies: %s", exc)
            client_ip = replace(client_ip, trusted=(*client_ip.trusted, *args[1:]))
        elif option == "client_ip_headers":
            headers = d.remaining_args()
            if not headers:
                d.arg_err()
            client_ip = replace(client_ip, headers=tuple(headers))
        elif option == "trusted_proxies_strict":
            expect_no_args(d)
            client_ip = replace(client_ip, strict=True)
        else:
            d.errf("servers option '%s' is not supported by fastsnake", option)
    return replace(options, timeouts=timeouts, limits=limits,
                   client_ip=client_ip if client_ip.trusted else None)


def _root_dir(token: Token) -> str:
    """The directory of the Caddyfile that ``token`` was read for (imports included)."""
    root = token.imports[0].rpartition(":")[0] if token.imports else token.file
    return os.path.dirname(os.path.abspath(root))


def _ignored(d: Dispenser, name: str, why: str) -> None:
    log.info("%s: global option '%s' is ignored: %s", d.token().location, name, why)


def _order(d: Dispenser) -> tuple[str, str, str]:
    """``order <directive> first|last|before <other>|after <other>``."""
    args = d.remaining_args()
    refuse_block(d, "order")
    if len(args) < 2 or (args[1] in ("before", "after")) != (len(args) == 3) or len(args) > 3:
        d.err("order takes: order <directive> first|last|before <directive>|after <directive>")
    if args[1] not in ("first", "last", "before", "after"):
        d.errf("order position must be first, last, before or after, not '%s'", args[1])
    for name in (args[0], *args[2:]):
        if name not in DIRECTIVE_ORDER:
            d.errf("order: '%s' is not a directive fastsnake orders", name)
    if len(args) == 3 and args[0] == args[2]:
        d.errf("order: '%s' cannot be ordered relative to itself", args[0])
    return (args[0], args[1], args[2] if len(args) == 3 else "")


def _port(d: Dispenser, name: str) -> int:
    value = expect_one_arg(d)
    if not value.isdigit() or int(value) > 65535:
        d.errf("%s must be a port number between 0 and 65535, got '%s'", name, value)
    return int(value)


def _duration(d: Dispenser, value: str, what: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        d.errf("invalid %s duration '%s': %s", what, value, exc)
