from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


def today() -> dt.date:
    """The civil date in China: cut-off days and "in post today" are judged on Beijing time."""
    return dt.datetime.now(CHINA).date()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
