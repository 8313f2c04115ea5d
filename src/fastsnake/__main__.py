import sys

from fastsnake.cli import main

if __name__ == "__main__":  # a spawned child (Windows, macOS) imports this module too
    sys.exit(main())
