"""The Python apps a worker serves: importing them (``loader``), wrapping
them in a protocol adapter (``factory``), apps chosen per request
(``dynamic``), the ASGI lifespan (``lifespan``) and the autoreloader
(``reloader``). See docs/architecture.md.
"""
