"""Point-in-time rules: which trading session's signal may use a piece of news.

A signal dated session D uses only news published strictly before D's cutoff (default 16:00
America/New_York) and after the previous session's cutoff; it trades at the next session's open.
News at or after the cutoff, or on a non-trading day, goes to the next session. Date-only timestamps
(no time of day, e.g. the Reuters listing dates) count as after the close of that date.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

import numpy as np
import pandas as pd

from ..errors import UsageError, ValidationError

DEFAULT_CUTOFF = "16:00"
DEFAULT_TZ = "America/New_York"
DEFAULT_CALENDAR = "XNYS"


@lru_cache(maxsize=8)
def _calendar(name: str):  # type: ignore[no-untyped-def]
    import exchange_calendars as xcals

    try:
        return xcals.get_calendar(name)
    except Exception as exc:
        raise UsageError(f"unknown exchange calendar {name!r}; use an exchange_calendars code such as 'XNYS'") from exc


def parse_date(value: object, option: str = "date") -> pd.Timestamp:
    """A session date from user input: ``YYYY-MM-DD`` only for text (``05/06/2016`` would be read month first and
    ``16/06/2016`` day first, so neither is guessed), or a date/timestamp object; ``UsageError`` naming the option
    otherwise."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value.strip()):
        raise UsageError(f"{option} {value!r} is not a date in the form YYYY-MM-DD (e.g. 2016-06-07)")
    try:
        return pd.Timestamp(value.strip() if isinstance(value, str) else value).normalize()
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{option} {value!r} is not a date; expected YYYY-MM-DD") from exc


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def trading_sessions(start: str | pd.Timestamp, end: str | pd.Timestamp, calendar: str = DEFAULT_CALENDAR) -> pd.DatetimeIndex:
    """Trading sessions (tz-naive midnight timestamps) between start and end inclusive."""
    cal = _calendar(calendar)
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    start = max(start, cal.first_session)
    end = min(end, cal.last_session)
    if start > end:
        return pd.DatetimeIndex([], name="date")
    sessions = cal.sessions_in_range(start, end)
    return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz is not None else sessions, name="date")


def next_session(date: str | pd.Timestamp, calendar: str = DEFAULT_CALENDAR) -> pd.Timestamp:
    """The first session strictly after ``date``."""
    d = pd.Timestamp(date).normalize()
    return trading_sessions(d + pd.Timedelta(days=1), d + pd.Timedelta(days=15), calendar)[0]


def parse_cutoff(cutoff: str) -> dt.time:
    try:
        return dt.time.fromisoformat(cutoff)
    except ValueError as exc:
        raise UsageError(f"cutoff must be HH:MM (e.g. '16:00'), got {cutoff!r}") from exc


def assign_sessions(
    published_at: pd.Series,
    date_only: pd.Series | None = None,
    cutoff: str = DEFAULT_CUTOFF,
    tz: str = DEFAULT_TZ,
    calendar: str = DEFAULT_CALENDAR,
) -> pd.Series:
    """Map UTC publication times to the session date D whose signal may first use them.

    ``published_at`` must be tz-aware (naive timestamps are refused: their zone is unknown).
    Returns tz-naive session dates, same index.
    """
    if not isinstance(published_at.dtype, pd.DatetimeTZDtype):
        raise ValidationError(
            f"published_at must be tz-aware (got dtype {published_at.dtype}); localise it first, "
            "e.g. s.dt.tz_localize('America/New_York') or 'UTC', whichever the source uses"
        )
    cut = parse_cutoff(cutoff)
    local = published_at.dt.tz_convert(tz)
    day = local.dt.tz_localize(None).dt.normalize()
    minutes = local.dt.hour * 60 + local.dt.minute + local.dt.second / 60.0
    after = minutes >= cut.hour * 60 + cut.minute
    if date_only is not None:
        after = after | date_only.astype(bool)
    candidate = day + pd.to_timedelta(after.astype(int), unit="D")  # first calendar day it may count for
    valid = candidate.notna()
    out = pd.Series(pd.NaT, index=published_at.index, dtype="datetime64[ns]", name="date")
    if not valid.any():
        return out
    sessions = trading_sessions(candidate[valid].min(), candidate[valid].max() + pd.Timedelta(days=15), calendar)
    values = candidate[valid].to_numpy(dtype="datetime64[ns]")
    pos = np.searchsorted(sessions.to_numpy(dtype="datetime64[ns]"), values, side="left")
    out[valid] = sessions.to_numpy(dtype="datetime64[ns]")[pos]
    return out


def session_cutoff_utc(session: str | pd.Timestamp, cutoff: str = DEFAULT_CUTOFF, tz: str = DEFAULT_TZ) -> pd.Timestamp:
    """The UTC instant of a session's cutoff (news must be strictly before it)."""
    cut = parse_cutoff(cutoff)
    local = pd.Timestamp(session).normalize() + pd.Timedelta(hours=cut.hour, minutes=cut.minute)
    return local.tz_localize(tz).tz_convert("UTC")
