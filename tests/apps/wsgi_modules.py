"""WSGI app that answers with the modules its worker has imported, one a line
(tests/functional/test_supervisor_memory.py). It imports nothing itself, so
what it reports is what the server loaded."""

import sys


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["\n".join(sorted(sys.modules)).encode()]
