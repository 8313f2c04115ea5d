"""Per request: the site by Host, then the site's handler chain
(``router``), and Caddy's access log (``accesslog``).
See docs/architecture.md.
"""
