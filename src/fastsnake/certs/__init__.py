"""Certificates for automatic HTTPS: an ACME client (and, beside it, storage and a local CA)."""
