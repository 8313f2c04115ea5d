"""Automatic HTTPS's foundations: the data directory with Caddy's layout
(``storage``), the local certificate authority (``local_ca``), the ACME
client (``acme``, ``acme_challenges``), the system trust store (``trust``)
and certificate lifetimes (``pem``).

Imported only when HTTPS is used: all but ``storage`` need the optional
``cryptography`` and ``acme`` packages (the ``https`` extra; see ``extra``).
"""
