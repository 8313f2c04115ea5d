"""http_date writes what email.utils.formatdate(usegmt=True) writes, whatever
the locale, for times around the edges of days, months and years."""

from __future__ import annotations

import email.utils
import locale
import time

import pytest

from fastsnake.request.httpdate import http_date

TIMES = [0, 784111777, 951782400, 1709164799, 1735689599, 1735689600, 4102444800,
         1700000000.999]


@pytest.mark.parametrize("timestamp", TIMES)
def test_same_as_formatdate(timestamp: float) -> None:
    assert http_date(timestamp) == email.utils.formatdate(timestamp, usegmt=True)


def test_rfc_example() -> None:
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"  # RFC 9110 §5.6.7


def test_now_by_default() -> None:
    before = email.utils.formatdate(time.time(), usegmt=True)
    now = http_date()
    after = email.utils.formatdate(time.time(), usegmt=True)
    assert now in (before, after)


def test_english_names_under_another_locale() -> None:
    saved = locale.setlocale(locale.LC_TIME)
    try:
        for name in ("de_DE.UTF-8", "fr_FR.UTF-8", "C.UTF-8"):
            try:
                locale.setlocale(locale.LC_TIME, name)
            except locale.Error:
                continue
            assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"
    finally:
        locale.setlocale(locale.LC_TIME, saved)
