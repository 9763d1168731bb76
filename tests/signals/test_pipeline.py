from __future__ import annotations

import pytest

from llmos_quant.encoders.sentiment import SentimentEncoder
from llmos_quant.errors import UsageError
from llmos_quant.jobs.registry import load_news
from llmos_quant.signals.pipeline import check_universe, run_signals
from llmos_quant.signals.store import SignalStore


def test_backfill_then_daily_rerun_is_idempotent_and_uses_score_cache(tmp_path, market):
    enc = SentimentEncoder.create("lm")
    sessions = market.prices.index.get_level_values("date").unique()
    with SignalStore(tmp_path / "s.duckdb") as st:
        s1 = run_signals(market.news, enc, st, sessions[5], sessions[40], progress=False)
        assert s1.signal_rows == 36 * 12 and s1.scored_new > 0
        before = st.signals()
        s2 = run_signals(market.news, enc, st, sessions[40], sessions[40], kind="daily", progress=False)
        assert s2.scored_new == 0 and s2.scored_cached > 0  # served from the store
        after = st.signals()
        assert len(after) == len(before)
        cols = ["sentiment", "sentiment_mean", "news_count"]
        assert after[cols].equals(before[cols])
        assert st.counts()["runs"] == 2


def test_errors_name_the_problem(tmp_path, market):
    enc = SentimentEncoder.create("lm")
    with SignalStore(tmp_path / "s.duckdb") as st, pytest.raises(UsageError, match="no trading sessions"):
        run_signals(market.news, enc, st, "2021-01-09", "2021-01-10")
    with pytest.raises(UsageError, match="closest"):
        check_universe(["ZACMX"], ["ZACM", "ZBLU"])
    with pytest.raises(UsageError, match="unknown news source"):
        load_news("bloomberg", "2021-01-01", "2021-02-01")


def test_empty_day_gives_rows_without_news(tmp_path, market):
    enc = SentimentEncoder.create("lm")
    sessions = market.prices.index.get_level_values("date").unique()
    with SignalStore(tmp_path / "s.duckdb") as st:
        run_signals(market.news.iloc[0:0], enc, st, sessions[3], sessions[3], universe=["ZACM"], progress=False)
        got = st.signals()
    assert len(got) == 1 and got["news_count"].iloc[0] == 0


def test_event_split_columns_reach_the_store_and_the_report(tmp_path, market):
    from llmos_quant.factors.evaluate import evaluate_factor

    enc = SentimentEncoder.create("lm")
    sessions = market.prices.index.get_level_values("date").unique()
    with SignalStore(tmp_path / "s.duckdb") as st:
        run_signals(market.news, enc, st, sessions[2], sessions[60], events="rules", progress=False)
        sig = st.signals()
    event_cols = [c for c in sig.columns if c.startswith("sentiment_") and c != "sentiment_mean"]
    assert "sentiment_earnings" in event_cols and "sentiment_other" not in event_cols
    assert sig["sentiment_earnings"].notna().any()
    rep = evaluate_factor(sig["sentiment"], market.prices, decay_horizons=(1,), events=sig[event_cols])
    assert rep.by_event is not None and "1D" in rep.by_event.columns
    with SignalStore(tmp_path / "s2.duckdb") as st, pytest.raises(UsageError, match="events must be"):
        run_signals(market.news, enc, st, sessions[2], sessions[3], events="llm", progress=False)
