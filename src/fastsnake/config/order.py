"""Which directives exist and the order Caddy runs them in.

Kept apart from the route builder so that the global ``order`` option and
the site-address checks can read it without importing the directive parsers.
"""

from __future__ import annotations

# Caddy's standard directive order (caddyserver.com/docs/caddyfile/directives),
# with caddy-snake's ``python`` registered before ``route``.
DIRECTIVE_ORDER = (
    "tracing map vars fs root log_append skip_log log_skip log_name header "
    "copy_response_headers request_body timeouts redir method rewrite uri try_files basic_auth "
    "forward_auth request_header encode push intercept templates invoke handle handle_path "
    "python route abort error copy_response respond metrics reverse_proxy php_fastcgi "
    "file_server acme_server"
).split()


def directive_order(changes: tuple[tuple[str, str, str], ...] = ()) -> dict[str, int]:
    """Each directive's position, after the global ``order`` option's changes."""
    order = list(DIRECTIVE_ORDER)
    for name, position, other in changes:
        order.remove(name)
        if position == "first":
            order.insert(0, name)
        elif position == "last":
            order.append(name)
        else:
            order.insert(order.index(other) + (position == "after"), name)
    return {name: index for index, name in enumerate(order)}


# Caddy's standard directives: an address with one of these names is a
# directive written outside a site block, which deserves its own error.
CADDY_DIRECTIVES = frozenset(
    "abort acme_server basic_auth basicauth bind copy_response copy_response_headers encode "
    "error file_server forward_auth fs handle handle_errors handle_path header intercept "
    "invoke log log_append log_name log_skip map method metrics php_fastcgi push python redir "
    "request_body request_header respond reverse_proxy rewrite root route skip_log templates "
    "timeouts tls tracing try_files uri vars".split()
)
