"""`since` and `until` bounds as every reader takes them (the CLI, the server, the viewer)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from prtrace_core.timestamps import parse_since, parse_until

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, 23, 59, 59, 999000, tzinfo=UTC)),
        ("2026-12-01T09:30:00Z", datetime(2026, 12, 1, 9, 30, tzinfo=UTC), datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
        ("2026-12-01T09:30:00", datetime(2026, 12, 1, 9, 30, tzinfo=UTC), datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
        ("2d", datetime(2026, 12, 1, 12, 0, tzinfo=UTC), datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
        ("9999-12-31", datetime(9999, 12, 31, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    ],
)
def test_a_date_is_a_whole_day_as_until_and_its_midnight_as_since(text: str, since: datetime, until: datetime) -> None:
    assert parse_since(text, now=NOW) == since
    assert parse_until(text, now=NOW) == until


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-12-01 09:30", ""])
def test_anything_else_is_a_value_error_naming_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="not a date"):
        parse_until(text, now=NOW)
