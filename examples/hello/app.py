"""The smallest WSGI app: what `fastsnake examples/hello/Caddyfile` serves."""


def app(environ, start_response):
    name = environ.get("QUERY_STRING", "").partition("name=")[2] or "world"
    body = f"Hello, {name}! (served by fastsnake)\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body]
