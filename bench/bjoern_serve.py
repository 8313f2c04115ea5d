"""Run a bench WSGI app under bjoern: ``bjoern_serve.py --port N --app-dir DIR module:attr``.

bjoern has no command line of its own; it is one process, one thread, libev.
"""

from __future__ import annotations

import argparse
import importlib
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app-dir", required=True)
    parser.add_argument("target")
    args = parser.parse_args()
    sys.path.insert(0, args.app_dir)
    module, _, attribute = args.target.partition(":")
    app = getattr(importlib.import_module(module), attribute)
    import bjoern  # the bjoern venv's, not the harness's

    bjoern.run(app, "127.0.0.1", args.port)


if __name__ == "__main__":
    main()
