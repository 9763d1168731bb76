from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmos_quant.data.calendar import session_cutoff_utc, trading_sessions
from llmos_quant.errors import ValidationError
from llmos_quant.signals.aggregate import SIGNAL_COLUMNS, daily_signals, validate_signals


def news_frame(rows):
    frame = pd.DataFrame(rows, columns=["published_at", "asset", "score"])
    frame["published_at"] = pd.to_datetime(frame["published_at"]).dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    frame["date_only"] = False
    for c in ("headline", "body", "source", "url"):
        frame[c] = "x"
    frame["id"] = [f"n{i}" for i in range(len(frame))]
    return frame


SESSIONS = trading_sessions("2016-06-01", "2016-06-10")  # W Th F M Tu W Th F


def test_hand_computed_mean_count_decay_and_surprise():
    news = news_frame([
        ("2016-06-01 09:00", "A", 0.6),
        ("2016-06-01 12:00", "A", 0.2),   # session 06-01: mean 0.4, count 2
        ("2016-06-01 17:00", "A", -0.5),  # after close -> 06-02
        ("2016-06-04 10:00", "A", 1.0),   # Saturday -> 06-06
        ("2016-06-02 10:00", "B", 0.3),
    ])
    out = daily_signals(news, SESSIONS, ["A", "B", "C"], half_life=2.0, surprise_lookback=2)
    assert list(out.columns) == SIGNAL_COLUMNS
    a = out.xs("A", level="asset")
    assert a.loc["2016-06-01", "sentiment_mean"] == pytest.approx(0.4)
    assert a.loc["2016-06-01", "news_count"] == 2
    assert a.loc["2016-06-02", "sentiment"] == pytest.approx(-0.5)
    # 06-03 has no news: one session of decay with half-life 2 -> * 0.5 ** 0.5
    assert a.loc["2016-06-03", "sentiment"] == pytest.approx(-0.5 * 0.5**0.5)
    assert a.loc["2016-06-03", "days_since_news"] == 1
    assert np.isnan(a.loc["2016-06-03", "sentiment_mean"]) and a.loc["2016-06-03", "news_count"] == 0
    assert a.loc["2016-06-06", "sentiment"] == pytest.approx(1.0)
    # surprise: 06-02: -0.5 - mean(0.4) ; 06-06: 1.0 - mean(0.4, -0.5)
    assert np.isnan(a.loc["2016-06-01", "surprise"])
    assert a.loc["2016-06-02", "surprise"] == pytest.approx(-0.9)
    assert a.loc["2016-06-06", "surprise"] == pytest.approx(1.0 - (-0.05))
    c = out.xs("C", level="asset")
    assert c["sentiment"].isna().all() and (c["news_count"] == 0).all()
    assert out.index.is_monotonic_increasing and len(out) == len(SESSIONS) * 3


def test_point_in_time_no_signal_uses_news_after_its_cutoff():
    """Perturbing every news item published at/after D's cutoff leaves the signal for D unchanged."""
    rng = np.random.default_rng(0)
    times = pd.date_range("2016-06-01", "2016-06-10 23:00", freq="47min")
    news = news_frame([(str(t), rng.choice(["A", "B"]), rng.uniform(-1, 1)) for t in times])
    base = daily_signals(news, SESSIONS, ["A", "B"])
    for d in SESSIONS[:-1]:
        cut = session_cutoff_utc(d)
        changed = news.copy()
        late = changed["published_at"] >= cut
        changed.loc[late, "score"] = -changed.loc[late, "score"] + 5.0
        after = daily_signals(changed, SESSIONS, ["A", "B"])
        upto = base.index.get_level_values("date") <= d
        pd.testing.assert_frame_equal(base[upto], after[upto])
        # and the next session does change (the perturbation is visible once allowed)
        nxt = base.index.get_level_values("date") > d
        assert not base[nxt].equals(after[nxt])


def test_event_type_columns_and_errors():
    news = news_frame([("2016-06-01 09:00", "A", 0.5), ("2016-06-01 10:00", "A", -0.5)])
    news["events"] = [["earnings"], ["legal"]]
    out = daily_signals(news, SESSIONS, ["A"], event_types=["earnings", "legal"])
    assert out.loc[("2016-06-01", "A"), "sentiment_earnings"] == 0.5
    assert out.loc[("2016-06-01", "A"), "sentiment_legal"] == -0.5
    with pytest.raises(ValidationError, match="score"):
        daily_signals(news.drop(columns="score"), SESSIONS)
    with pytest.raises(ValidationError, match="half_life"):
        daily_signals(news, SESSIONS, half_life=0)
    with pytest.raises(ValidationError, match="MultiIndex"):
        validate_signals(pd.DataFrame({"sentiment": [1.0]}))
