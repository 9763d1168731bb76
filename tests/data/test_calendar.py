from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.data.calendar import assign_sessions, next_session, session_cutoff_utc, trading_sessions
from llmos_quant.errors import UsageError, ValidationError


def ny(*stamps: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps), format="mixed").tz_localize("America/New_York").tz_convert("UTC"))


def test_sessions_skip_weekends_and_holidays():
    s = trading_sessions("2016-12-22", "2016-12-28")
    assert [d.strftime("%m-%d") for d in s] == ["12-22", "12-23", "12-27", "12-28"]  # 26th: Christmas observed
    assert s.tz is None
    assert next_session("2016-12-23") == pd.Timestamp("2016-12-27")


def test_cutoff_rules():
    # Wednesday 2016-06-01
    t = ny("2016-06-01 09:00", "2016-06-01 15:59:59", "2016-06-01 16:00", "2016-06-01 20:00",
           "2016-06-04 11:00",  # Saturday -> Monday
           "2016-06-03 17:00")  # Friday after close -> Monday
    got = assign_sessions(t)
    assert [d.strftime("%Y-%m-%d") for d in got] == ["2016-06-01", "2016-06-01", "2016-06-02", "2016-06-02",
                                                     "2016-06-06", "2016-06-06"]


def test_date_only_counts_as_after_close():
    t = ny("2016-06-01 00:00", "2016-06-03 00:00")
    got = assign_sessions(t, date_only=pd.Series([True, True]))
    assert list(got) == [pd.Timestamp("2016-06-02"), pd.Timestamp("2016-06-06")]


def test_configurable_cutoff_and_timezone():
    t = ny("2016-06-01 09:00", "2016-06-01 08:00")
    got = assign_sessions(t, cutoff="08:30")
    assert list(got) == [pd.Timestamp("2016-06-02"), pd.Timestamp("2016-06-01")]
    with pytest.raises(UsageError, match="HH:MM"):
        assign_sessions(t, cutoff="4pm")


def test_naive_timestamps_refused():
    with pytest.raises(ValidationError, match="tz-aware"):
        assign_sessions(pd.Series(pd.to_datetime(["2016-06-01 10:00"])))


def test_every_assignment_is_before_its_session_cutoff():
    """Property: news assigned to D is strictly before D's cutoff and at/after the previous session's cutoff."""
    times = pd.Series(pd.date_range("2016-01-01", "2016-03-01", freq="37min", tz="UTC"))
    sessions = assign_sessions(times)
    cut = sessions.map(session_cutoff_utc)
    assert (times < cut).all()
    prev = sessions.map(lambda d: session_cutoff_utc(trading_sessions(d - pd.Timedelta(days=10), d)[-2]))
    assert (times >= prev).all()
