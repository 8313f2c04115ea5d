"""Automatic HTTPS's foundations: the data directory with Caddy's layout
(``storage``), the local certificate authority (``local_ca``), the system
trust store (``trust``) and certificate lifetimes (``pem``).

Imported only when HTTPS is used: ``local_ca`` and ``pem`` need the optional
``cryptography`` package (the ``https`` extra; see ``extra``).
"""
