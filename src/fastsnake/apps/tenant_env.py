"""Each dynamic app's own environment variables (``env_var``, ``env_file``).

A process has one ``os.environ``, and dynamic apps are many tenants in one
process: setting tenant A's ``DATABASE_URL`` in it would hand it to tenant
B. So when a dynamic app has environment variables, ``os.environ`` becomes
a layered view: while a tenant runs (its import, its calls: the context
variable of ``apps.namespaces`` names it), reads see its variables over the
process's, and its writes and deletions stay in its layer. Outside a tenant
(the server, static apps) it is the process environment, unchanged.

What it cannot reach, said in docs/python-directive.md: C code that calls
getenv(3) and child processes started without an explicit ``env`` see the
process environment; a process per tenant is the complete answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from fastsnake.apps.namespaces import CURRENT

_DELETED = object()


class LayeredEnviron(type(os.environ)):  # type: ignore[misc]
    """``os.environ`` with the running tenant's variables on top."""

    def __init__(self, base: Any) -> None:
        super().__init__(base._data, base.encodekey, base.decodekey, base.encodevalue,
                         base.decodevalue)

    @staticmethod
    def layer() -> dict[str, Any] | None:
        namespace = CURRENT.get()
        return getattr(namespace, "environ", None) if namespace is not None else None

    def __getitem__(self, key: str) -> str:
        layer = self.layer()
        if layer is not None and key in layer:
            value = layer[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: str) -> None:
        layer = self.layer()
        if layer is None:
            super().__setitem__(key, value)
            return
        self.encodekey(key)
        self.encodevalue(value)  # the same type checks as os.environ's
        layer[key] = value

    def __delitem__(self, key: str) -> None:
        layer = self.layer()
        if layer is None:
            super().__delitem__(key)
            return
        if key not in self:
            raise KeyError(key)
        layer[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        layer = self.layer()
        if layer is None:
            yield from super().__iter__()
            return
        for key in super().__iter__():
            if key not in layer:
                yield key
        for key, value in list(layer.items()):
            if value is not _DELETED:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


def install() -> None:
    """Make ``os.environ`` layered (once per process)."""
    if not isinstance(os.environ, LayeredEnviron):
        # Replaced, not cleared: the view shares the process environment.
        os.environ = LayeredEnviron(os.environ)  # noqa: B003
