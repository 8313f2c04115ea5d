"""Exception classes, one base per domain.

Only the CLI turns these into exit codes; library code raises and never exits.
"""

from __future__ import annotations


class FatalError(Exception):
    """An error that stops the server: the CLI prints it and exits 1."""


class CaddyfileError(FatalError):
    """A Caddyfile that cannot be read, with where it went wrong.

    ``str(err)`` is ``file:line: message``, the form every config error takes.
    ``imports`` is the chain of ``import`` lines that led to ``file`` (outermost
    first), so an error inside a snippet still points at the place it came from.
    """

    def __init__(self, message: str, file: str = "", line: int = 0,
                 imports: tuple[str, ...] = ()) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.imports = imports
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        via = "".join(f" (imported from {imp})" for imp in reversed(self.imports))
        return f"{where}{self.message}{via}"


class ConfigError(FatalError):
    """A configuration that parses but cannot be served (e.g. mixed runtimes)."""


class AppImportError(FatalError):
    """A ``module:variable`` that cannot be imported or is not callable."""
