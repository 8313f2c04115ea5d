"""Tenant "globex": a plain WSGI function, served for Host globex.localhost.

Each tenant is its own module (named after the tenant), so tenants never
share module names in the one interpreter of the thread runtime.
"""

import json


def app(environ, start_response):
    if environ["PATH_INFO"] == "/status":
        body = json.dumps({"tenant": "globex", "host": environ["HTTP_HOST"]}).encode()
        content_type = "application/json"
    else:
        body = b"Globex Corporation: hello from a plain WSGI app.\n"
        content_type = "text/plain; charset=utf-8"
    start_response("200 OK", [("Content-Type", content_type),
                              ("Content-Length", str(len(body)))])
    return [body]
