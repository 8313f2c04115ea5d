"""The Date line a worker writes before its first tick: the protocol module
makes one when it loads (includes/connections.pxi), in the same IMF-fixdate
that email.utils would write, without loading the email package."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[3]

# A fresh interpreter, so that no earlier test's tick has replaced the line.
PROBE = """
import json, sys, time
before = int(time.time())
from fastsnake import _http  # noqa: F401  (the line is made here)
after = int(time.time())
email_loaded = "email" in sys.modules  # the harness below may load it, not _http
from tests.protocol_harness import run_exchange

def app(environ, start_response):
    start_response("200 OK", [])
    return [b"x"]

out = run_exchange(app, [b"GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n"])
date = [line for line in out.split(b"\\r\\n") if line.startswith(b"date: ")]
print(json.dumps([before, after, [d.decode() for d in date], email_loaded]))
"""


def test_the_first_date_line_is_an_http_date_of_the_load_time() -> None:
    from fastsnake.request.httpdate import http_date

    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=True)
    before, after, dates, email_loaded = json.loads(done.stdout)
    assert len(dates) == 1
    assert dates[0] in {f"date: {http_date(t)}" for t in range(before, after + 1)}
    assert not email_loaded
