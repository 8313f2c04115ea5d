"""The benchmark harness's readers of wrk's and h2load's reports.

The reports in tests/testdata/loadgen/ are real outputs of wrk 4.1.0 and
h2load 1.52.0 (Debian 12's) against a fastsnake worker.
"""

from __future__ import annotations

import sys

import pytest

from tests import REPO, TESTDATA

BENCH = REPO / "bench"
DATA = TESTDATA / "loadgen"
sys.path.insert(0, str(BENCH))

import h2load  # noqa: E402  (a bench module, found through the path above)
import wrk  # noqa: E402


def test_wrk_report():
    result = wrk.parse((DATA / "wrk-4.1.txt").read_text())
    assert (result.requests, result.seconds, result.rate) == (38918, 1.1, 35370.74)
    assert (result.p50_ms, result.p99_ms) == (pytest.approx(0.106), pytest.approx(0.226))
    assert result.non_2xx == 0 and result.socket_errors == {}


def test_h2load_report():
    result = h2load.parse((DATA / "h2load-1.52.txt").read_text())
    assert (result.requests, result.seconds, result.rate) == (35676, 1.0, 35676.0)
    assert (result.p50_ms, result.p99_ms) == (None, None)  # h2load gives no percentiles
    assert result.non_2xx == 0
    assert result.socket_errors == {"failed": 0, "errored": 0, "timeout": 0}


def test_h2load_counts_non_2xx_and_failures():
    text = (DATA / "h2load-1.52.txt").read_text()
    text = text.replace("35676 done, 35676 succeeded, 0 failed",
                        "35676 done, 35600 succeeded, 76 failed")
    text = text.replace("35676 2xx, 0 3xx, 0 4xx, 0 5xx", "35600 2xx, 0 3xx, 0 4xx, 76 5xx")
    result = h2load.parse(text)
    assert result.non_2xx == 76 and result.socket_errors["failed"] == 76


@pytest.mark.parametrize("module", [wrk, h2load])
def test_a_report_without_summary_is_an_error(module):
    with pytest.raises(ValueError, match="summary"):
        module.parse("connection refused\n")
