"""Relaying requests to another HTTP/1.1 server: a pool of connections to
it and the relay of one exchange. Tenant processes use it today;
``reverse_proxy`` is meant to sit on the same seam."""
