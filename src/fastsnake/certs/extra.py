"""The ``https`` extra: ``cryptography`` is not a runtime dependency, so the
code that needs it first asks here, and a missing package becomes one
sentence that says how to install it instead of an ImportError traceback."""

from __future__ import annotations

from fastsnake.errors import FatalError

INSTALL_HINT = "automatic HTTPS needs the 'https' extra: pip install 'fastsnake[https]'"


def require_https_extra() -> None:
    """Raise FatalError unless ``cryptography`` can be imported."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise FatalError(INSTALL_HINT) from None


def https_extra_installed() -> bool:
    """Whether certificates can be managed here: ``cryptography`` and the
    ``acme`` client (found, not imported: the config checks this at load)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("cryptography", "acme"))
