"""SQL literals for the few statements built as text (loaders, exports, board queries)."""

from __future__ import annotations

import datetime as dt


def string_literal(value: str) -> str:
    """A ClickHouse string literal: quotes and backslashes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def timestamp_text(at: dt.datetime) -> str:
    """``YYYY-MM-DD hh:mm:ss.fff`` in UTC, as DateTime64(3, 'UTC') reads it (naive = UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def datetime64(at: dt.datetime) -> str:
    """A DateTime64(3, 'UTC') expression for ``at``."""
    return f"toDateTime64({string_literal(timestamp_text(at))}, 3, 'UTC')"
