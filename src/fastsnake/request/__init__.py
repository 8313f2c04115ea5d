"""What a request is matched and rewritten by, in Caddy's terms: placeholders
(``{path.0}``, ``{labels.1}``), request matchers and path patterns.

Read at load time (to check a Caddyfile) and per request (to route it).
Imports only the protocol's request type, ``fastsnake.caddyfile`` and
``fastsnake.errors``. See docs/architecture.md.
"""
