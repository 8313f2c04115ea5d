"""Automatic HTTPS: what was asked (``policy``, plain data the config
builds), the data directory with Caddy's layout (``storage``), the local
certificate authority (``local_ca``), the ACME client (``acme``,
``acme_challenges``), the supervisor's certificate manager (``manager``,
``challenges_store``, ``on_demand``), the workers' certificate store
(``store``), the system trust store (``trust``) and certificate lifetimes
(``pem``).

``manager``, ``local_ca``, ``acme`` and ``pem`` need the optional
``cryptography`` and ``acme`` packages (the ``https`` extra; see
``extra``); ``policy``, ``storage``, ``store``, ``challenges_store`` and
``on_demand`` need only the standard library, so workers and the config
load without them.
"""
