"""Look-ahead analysis: the pipeline's signals do not change when later data is removed; a leaky signal is caught."""

from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.cli.main import main
from llmos_quant.encoders.sentiment import SentimentEncoder
from llmos_quant.errors import LookaheadBiasError
from llmos_quant.jobs import LookaheadJobConfig, run_lookahead_job
from llmos_quant.signals.aggregate import attach_sessions, daily_signals
from llmos_quant.signals.lookahead import lookahead_analysis, pipeline_signal_fn


def _scores(news):
    s = SentimentEncoder.create("lm").score(news["headline"].reset_index(drop=True))["score"]
    s.index = news["id"].to_numpy()
    return s


def test_pipeline_signal_has_no_lookahead_on_the_simulator(market):
    sessions = market.prices.index.get_level_values("date").unique()[5:70]
    fn = pipeline_signal_fn(_scores(market.news), universe=sorted(set(market.news["asset"])))
    res = lookahead_analysis(market.news, sessions, fn, prices=market.prices, n_samples=6)
    assert res.passed and res.rows_checked == 6 * market.news["asset"].nunique()
    assert sum(res.news_removed.values()) > 0  # later news existed and was removed
    res.raise_for_bias()


def test_a_leaky_signal_is_caught(market):
    scores = _scores(market.news)
    sessions = market.prices.index.get_level_values("date").unique()[5:70]

    def leaky(news, prices, window):  # counts each item one session early: uses news from after the cutoff
        dated = attach_sessions(news)
        dated["date"] = dated["date"].map(lambda d: window[max(0, window.searchsorted(d) - 1)] if d in window else d)
        return daily_signals(dated.assign(score=scores.reindex(dated["id"]).to_numpy()), window)

    res = lookahead_analysis(market.news, sessions, leaky, n_samples=4)
    assert not res.passed and {"sentiment", "news_count"} <= set(res.mismatches["column"])
    with pytest.raises(LookaheadBiasError, match="after the session's cutoff"):
        res.raise_for_bias()

    def price_peek(news, prices, window):  # a signal that reads the next close: caught through the prices
        close = prices["close"].unstack("asset").reindex(window)
        nxt = close.shift(-1).stack(future_stack=True).rename("sentiment").to_frame()
        nxt.index.names = ["date", "asset"]
        return nxt

    res = lookahead_analysis(market.news, sessions, price_peek, prices=market.prices, n_samples=3)
    assert not res.passed


def test_lookahead_job_and_cli_on_synthetic(capsys):
    res = run_lookahead_job(LookaheadJobConfig(pd.Timestamp("2021-02-01"), pd.Timestamp("2021-06-30"), "synthetic",
                                               samples=4))
    assert res.passed and len(res.sessions) == 4
    assert main(["signals", "lookahead", "--source", "synthetic", "--start", "2021-02-01", "--end", "2021-04-30",
                 "--samples", "3"]) == 0
    assert "PASS" in capsys.readouterr().out


@pytest.mark.data
def test_lookahead_on_reuters(shared_data):
    res = run_lookahead_job(LookaheadJobConfig(pd.Timestamp("2016-03-01"), pd.Timestamp("2016-06-30"), "reuters",
                                               universe=("AAPL", "MSFT", "GOOG", "AMZN", "JPM", "XOM", "GE", "WMT"),
                                               samples=5))
    assert res.passed and sum(res.news_removed.values()) > 0


@pytest.mark.data
def test_lookahead_on_benzinga(shared_data):
    res = run_lookahead_job(LookaheadJobConfig(pd.Timestamp("2019-01-02"), pd.Timestamp("2020-06-30"), "benzinga",
                                               samples=5))
    assert res.passed and sum(res.news_removed.values()) > 0
