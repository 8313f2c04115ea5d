import sys

from fastsnake.cli import main

sys.exit(main())
