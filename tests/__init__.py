"""fastsnake's tests: unit/ (in-process, by layer) and functional/ (real servers).

Paths every test may need, whatever folder it lives in.
"""

from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(os.path.abspath(__file__)).parent
REPO = TESTS.parent
TESTDATA = TESTS / "testdata"
