"""A stand-in app module: the config tests only need the directory to exist."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]
