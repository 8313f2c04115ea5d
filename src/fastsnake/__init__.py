"""fastsnake: serve Python WSGI and ASGI apps from a Caddyfile."""

__version__ = "0.1.0"
