"""Timestamps as the trace stores them: UTC, ISO 8601, milliseconds, a trailing Z."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["TS_PATTERN", "format_ts", "now_ts", "parse_since", "parse_ts", "parse_until"]

# Accepts what clients send (any offset, any fraction); `format_ts` is what we write.
TS_PATTERN = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
)


def format_ts(moment: datetime) -> str:
    """`2026-11-24T19:06:57.123Z` for an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_ts() -> str:
    """The current time in trace format."""
    return format_ts(datetime.now(UTC))


def parse_ts(text: str) -> datetime:
    """Parse a trace timestamp; raises ValueError for anything that is not ISO 8601 with a zone."""
    if len(text) == 24 and text[10] == "T" and text[19] == "." and text[23] == "Z" and text[20:23].isdigit():
        # the form prtrace writes, parsed without the regex (a trace holds thousands)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    if not TS_PATTERN.match(text):
        raise ValueError(f"not an ISO 8601 timestamp with a time zone: {text!r}")
    head, _, rest = text.partition(".")
    if rest:
        # datetime.fromisoformat takes at most 6 fraction digits; keep microseconds.
        match = re.match(r"(\d+)(.*)", rest)
        assert match is not None
        digits, zone = match.groups()
        text = f"{head}.{(digits + '000000')[:6]}{zone}"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except OverflowError as exc:
        # Year 1 with a positive offset falls before year 1 in UTC.
        raise ValueError(f"timestamp out of range: {text!r}") from exc


_RELATIVE = re.compile(r"^(\d{1,6})([mhdw])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """A `--since` bound: a date (`2026-12-01`, midnight UTC), a timestamp (one without a zone is
    UTC), or an age (`90m`, `12h`, `7d`, `2w`). ValueError, saying which forms work, otherwise."""
    from datetime import timedelta

    text = text.strip()
    if match := _RELATIVE.match(text):
        return (now or datetime.now(UTC)) - timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        except ValueError as exc:
            raise ValueError(f"not a date: {text!r}") from exc
    try:
        return parse_ts(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)  # other ISO 8601 forms; without a zone, UTC
        if "T" in text:
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise ValueError(f"not a date, a timestamp or an age: {text!r} (try 2026-12-01, 2026-12-01T09:00:00Z or 7d)")


def parse_until(text: str, *, now: datetime | None = None) -> datetime:
    """An `until` bound, read as `parse_since` reads its text, except that a date means the whole
    day: its last millisecond (`2026-12-01` keeps what began on that day)."""
    from datetime import timedelta

    moment = parse_since(text, now=now)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        moment += timedelta(days=1) - timedelta(milliseconds=1)  # 9999-12-31 stays in range
    return moment
