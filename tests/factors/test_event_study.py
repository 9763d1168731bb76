from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy import stats

from llmos_quant.data.simulate import simulate_market
from llmos_quant.errors import UsageError, ValidationError
from llmos_quant.factors import plots
from llmos_quant.factors.event_study import (
    abnormal_returns,
    close_to_close_returns,
    event_study,
    pooled_quantiles,
)
from tests.conftest import make_prices

# 3 assets, 6 sessions; closes by hand (opens ignored by the event study: it uses close-to-close returns).
CLOSES = {"A": [100.0, 110.0, 99.0, 99.0, 108.9, 108.9],
          "B": [50.0, 50.0, 55.0, 55.0, 55.0, 60.5],
          "C": [20.0, 20.0, 20.0, 22.0, 22.0, 22.0]}
PRICES = make_prices(CLOSES)
DATES = PRICES.index.get_level_values("date").unique()
# returns by hand (row t = close[t]/close[t-1]-1)
R = {"A": [np.nan, 0.10, -0.10, 0.0, 0.10, 0.0],
     "B": [np.nan, 0.0, 0.10, 0.0, 0.0, 0.10],
     "C": [np.nan, 0.0, 0.0, 0.10, 0.0, 0.0]}


def signals(rows):
    frame = pd.DataFrame(rows, columns=["date", "asset", "sentiment_mean", "news_count"])
    frame["date"] = DATES[frame["date"]]
    return frame.set_index(["date", "asset"]).sort_index()


def test_returns_and_abnormal_returns_by_hand():
    r = close_to_close_returns(PRICES)
    for a, vals in R.items():
        np.testing.assert_allclose(r[a].to_numpy(), vals, atol=1e-12)
    mkt = abnormal_returns(r, "market")
    # session 2: returns (-0.1, 0.1, 0) -> mean 0; session 4: (0.1, 0, 0) -> mean 1/30
    assert mkt.loc[DATES[2], "A"] == pytest.approx(-0.10)
    assert mkt.loc[DATES[4], "A"] == pytest.approx(0.10 - 0.1 / 3)
    assert mkt.loc[DATES[4], "C"] == pytest.approx(-0.1 / 3)
    sec = abnormal_returns(r, "sector", {"A": "x", "B": "x", "C": "y"})
    assert sec.loc[DATES[2], "A"] == pytest.approx(-0.10)  # (-0.1 - mean(-0.1, 0.1))
    assert sec.loc[DATES[4], "B"] == pytest.approx(-0.05)
    assert (sec["C"].dropna() == 0).all()  # alone in its sector
    assert abnormal_returns(r, "sector", {"A": "x", "B": "x"})["C"].isna().all()
    with pytest.raises(UsageError, match="sectors="):
        abnormal_returns(r, "sector")


def test_event_study_ar_car_by_hand():
    # two events in the window (-1, 2): A on session 2 (low score), B on session 2 (high score);
    # C on session 1 has no news (news_count 0) and is not an event; A on session 4 lacks offset +2.
    sig = signals([(2, "A", -0.5, 1), (2, "B", 0.8, 2), (1, "C", 0.9, 0), (4, "A", 0.1, 1)])
    res = event_study(sig, PRICES, window=(-1, 2), n_quantiles=2, benchmark="raw")
    assert res.dropped == {"no_price": 0, "no_sector": 0, "incomplete_window": 1}
    assert res.counts.to_dict() == {"Q1": 1, "Q2": 1, "all": 2}
    assert list(res.mean_ar.index) == [-1, 0, 1, 2]
    np.testing.assert_allclose(res.mean_ar["Q1"], [0.10, -0.10, 0.0, 0.10], atol=1e-12)  # A's returns at sessions 1..4
    np.testing.assert_allclose(res.mean_ar["Q2"], [0.0, 0.10, 0.0, 0.0], atol=1e-12)  # B's
    np.testing.assert_allclose(res.car["Q1"], [0.10, 0.0, 0.0, 0.10], atol=1e-12)
    np.testing.assert_allclose(res.car["all"], [0.05, 0.05, 0.05, 0.10], atol=1e-12)
    np.testing.assert_allclose(res.car["Q2-Q1"], [-0.10, 0.10, 0.10, 0.0], atol=1e-12)
    # all: CAR per event A = (.1, 0, 0, .1), B = (0, .1, .1, .1): se = std(ddof=1)/sqrt(2)
    se = np.array([np.std([0.1, 0.0], ddof=1), np.std([0.0, 0.1], ddof=1), np.std([0.0, 0.1], ddof=1), 0.0]) / np.sqrt(2)
    np.testing.assert_allclose(res.car_se["all"], se, atol=1e-12)
    np.testing.assert_allclose(res.car_t["all"].iloc[:3], [1.0, 1.0, 1.0], atol=1e-12)
    assert np.isnan(res.car_t["all"].iloc[3])  # zero dispersion
    half = stats.t.ppf(0.975, 1) * se
    np.testing.assert_allclose(res.car_upper["all"], res.car["all"] + half, atol=1e-12)
    np.testing.assert_allclose(res.car_lower["all"], res.car["all"] - half, atol=1e-12)
    assert np.isnan(res.car_se["Q1"]).all()  # a single event has no standard error
    assert res.events.loc[(DATES[2], "B"), "quantile"] == 2
    assert res.summary().loc["all", "car_+2"] == pytest.approx(0.10)


def test_event_study_market_and_sector_benchmarks_by_hand():
    sig = signals([(2, "A", -0.5, 1), (2, "B", 0.8, 1)])
    mkt = event_study(sig, PRICES, window=(0, 2), n_quantiles=2)
    # market means at sessions 2, 3, 4: 0, 1/30, 1/30
    np.testing.assert_allclose(mkt.mean_ar["Q1"], [-0.10, -0.1 / 3, 0.10 - 0.1 / 3], atol=1e-12)
    np.testing.assert_allclose(mkt.mean_ar["Q2"], [0.10, -0.1 / 3, -0.1 / 3], atol=1e-12)
    sec = event_study(sig, PRICES, window=(0, 2), n_quantiles=2, benchmark="sector",
                      sectors=pd.Series({"A": "x", "B": "x", "C": "y"}))
    np.testing.assert_allclose(sec.mean_ar["Q1"], [-0.10, 0.0, 0.05], atol=1e-12)
    np.testing.assert_allclose(sec.car["Q2"], [0.10, 0.10, 0.05], atol=1e-12)
    only_a = event_study(sig, PRICES, window=(0, 2), n_quantiles=2, benchmark="sector", sectors={"A": "x", "C": "x"})
    assert only_a.dropped["no_sector"] == 1 and only_a.counts["all"] == 1
    with pytest.raises(UsageError, match="sectors="):
        event_study(sig, PRICES, benchmark="sector")
    with pytest.raises(UsageError, match="benchmark"):
        event_study(sig, PRICES, benchmark="beta")
    with pytest.raises(ValidationError, match="no event"):
        event_study(sig, PRICES, window=(-5, 10))


def test_event_types_split_and_labels():
    sig = signals([(2, "A", -0.5, 1), (2, "B", 0.8, 1), (3, "C", 0.2, 1)])
    labels = pd.Series(["earnings", ["earnings", "guidance"], "guidance"], index=sig.index, name="events")
    res = event_study(sig, PRICES, window=(0, 1), n_quantiles=2, events=labels, min_events=1, benchmark="raw")
    assert set(res.by_event) == {"earnings", "guidance"}
    assert res.by_event["earnings"].counts["all"] == 2
    assert res.by_event["guidance"].counts["all"] == 2
    # B (session 2) and C (session 3): offset 0 returns 0.10, 0.10; offset 1 returns 0.0, 0.0
    np.testing.assert_allclose(res.by_event["guidance"].mean_ar["all"], [0.10, 0.0], atol=1e-12)
    # an events column in the signals works the same (comma-separated strings too)
    res2 = event_study(sig.assign(events=["earnings", "earnings,guidance", "guidance"]), PRICES, window=(0, 1),
                       n_quantiles=2, min_events=1, benchmark="raw")
    pd.testing.assert_frame_equal(res2.by_event["guidance"].car, res.by_event["guidance"].car)
    # fixed quantile buckets across types: the Q labels come from the pooled events
    assert res.by_event["earnings"].events["quantile"].tolist() == res.events.loc[res.by_event["earnings"].events.index,
                                                                                 "quantile"].tolist()


def test_pooled_quantiles_ties():
    v = pd.Series([-1.0, -1.0, 0.0, 0.0, 1.0, 1.0])
    assert pooled_quantiles(v, 3).tolist() == [1, 1, 2, 2, 3, 3]
    assert pooled_quantiles(pd.Series([0.0, 0.0, 0.0, 1.0]), 4).nunique() <= 2  # tied edges merge
    assert sorted(pooled_quantiles(pd.Series([0.0, 0.0, 0.0, 1.0]), 4, ties="rank").tolist()) == [1, 2, 3, 4]


def test_simulator_planted_effect_shows_at_offset_two():
    """The simulator moves open[D+1] -> open[D+2] by effect x true polarity of session D's news; with closes
    near the opens, the close-to-close return of session D+2 (offset +2) carries it. Signals built from the
    true polarity must show: top quantile AR(+2) > 0, bottom < 0, nothing before, CAR spread flat after +2."""
    m = simulate_market(n_assets=20, n_sessions=160, effect_bps=300.0, vol_bps=100.0, seed=1)
    sig = m.truth.rename(columns={"true_polarity": "sentiment_mean"}).assign(news_count=1)
    res = event_study(sig, m.prices, n_quantiles=3)
    top, bot = res.quantile_columns[-1], res.quantile_columns[0]
    assert res.events.groupby("quantile")["sentiment_mean"].mean().iloc[-1] > 0
    assert res.events.groupby("quantile")["sentiment_mean"].mean().iloc[0] < 0
    assert res.mean_ar.loc[2, top] > 0.015 and res.ar_t.loc[2, top] > 8
    assert res.mean_ar.loc[2, bot] < -0.005 and res.ar_t.loc[2, bot] < -5
    spread = res.spread_column
    assert res.ar_t.loc[2, spread] > 10
    assert (res.ar_t.loc[-5:1, spread].abs() < 4).all()  # no effect before the trade
    np.testing.assert_allclose(res.car[top], res.mean_ar[top].cumsum(), atol=1e-12)  # same events at every offset
    assert abs(res.car.loc[10, spread] - res.car.loc[2, spread]) < 0.01  # flat after the planted day
    assert 0.04 < res.car.loc[10, spread] - res.car.loc[1, spread] < 0.08  # ~ 2 x 300 bps (+1 vs -1)
    assert (res.car_lower.loc[2:, top] > 0).all()


def test_figures():
    sig = signals([(2, "A", -0.5, 1), (2, "B", 0.8, 1), (2, "C", 0.1, 1), (3, "C", 0.2, 1)])
    res = event_study(sig, PRICES, window=(-1, 2), n_quantiles=2, events=pd.Series("x", index=sig.index))
    for fig in (plots.car_by_quantile(res), plots.mean_ar_by_quantile(res), plots.car_by_event_type(res)):
        assert isinstance(fig, go.Figure)
        assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    fig = plots.car_by_quantile(res)
    assert fig.layout.xaxis.title.text == "sessions relative to the news session"
    assert fig.layout.yaxis.title.text == "cumulative abnormal return"
    assert len(fig.data) == 4  # a band and a line per quantile


# --- evaluate_factor(returns="market" | "sector"): abnormal / neutralised forward returns ---------------------
def _eval_setup():
    from llmos_quant.factors import evaluate as ev

    opens = {"A": [10, 11, 12, 13, 14, 15], "B": [10, 10, 9, 9, 8, 8], "C": [10, 10, 10, 11, 10, 10]}
    px = make_prices({k: [float(x) for x in v] for k, v in opens.items()},
                     opens={k: [float(x) for x in v] for k, v in opens.items()})
    d = px.index.get_level_values("date").unique()
    rows = [(d[0], "A", 3.0), (d[0], "B", 1.0), (d[0], "C", 2.0), (d[1], "A", 1.0), (d[1], "B", 2.0), (d[1], "C", 3.0)]
    f = pd.DataFrame(rows, columns=["date", "asset", "f"]).set_index(["date", "asset"])["f"]
    return ev, px, d, f


def test_clean_factor_data_market_and_sector_returns_by_hand():
    ev, px, d, f = _eval_setup()
    raw = ev.clean_factor_data(f, px, periods=(1,), n_quantiles=3)
    assert raw.equals(ev.clean_factor_data(f, px, periods=(1,), n_quantiles=3, returns="raw"))
    r0 = np.array([12 / 11 - 1, 9 / 10 - 1, 0.0])  # day 0: open[2]/open[1]-1 for A, B, C
    mkt = ev.clean_factor_data(f, px, periods=(1,), n_quantiles=3, returns="market")
    np.testing.assert_allclose(mkt.xs(d[0])["1D"].to_numpy(), r0 - r0.mean(), atol=1e-12)
    sectors = {"A": "x", "B": "x", "C": "y"}
    sec = ev.clean_factor_data(f, px, periods=(1,), n_quantiles=3, returns="sector", sectors=sectors)
    half = (r0[0] - r0[1]) / 2
    np.testing.assert_allclose(sec.xs(d[0])["1D"].to_numpy(), [half, -half, 0.0], atol=1e-12)
    # the market benchmark is every priced asset, not only those with a factor value
    only_ab = f[f.index.get_level_values("asset") != "C"]
    mkt_ab = ev.clean_factor_data(only_ab, px, periods=(1,), n_quantiles=2, returns="market")
    np.testing.assert_allclose(mkt_ab.xs(d[0])["1D"].to_numpy(), r0[:2] - r0.mean(), atol=1e-12)
    # factor rows of assets without a sector are dropped and counted as no_group
    data, counts = ev.clean_factor_counts(f, px, periods=(1,), n_quantiles=2, returns="sector", sectors={"A": "x", "B": "x"})
    assert counts.no_group == 2 and "C" not in data.index.get_level_values("asset")
    abn = ev.abnormal_forward_returns(px, periods=(1,), returns="market")
    np.testing.assert_allclose(abn.xs(d[0])["1D"].to_numpy(), r0 - r0.mean(), atol=1e-12)
    with pytest.raises(UsageError, match="sectors="):
        ev.clean_factor_data(f, px, periods=(1,), returns="sector")
    with pytest.raises(UsageError, match="returns must be"):
        ev.clean_factor_data(f, px, periods=(1,), returns="beta")


def test_evaluate_factor_returns_option():
    ev, px, d, f = _eval_setup()
    kw = dict(periods=(1,), n_quantiles=3, decay_horizons=(1,), max_loss=1.0)
    raw = ev.evaluate_factor(f, px, **kw)
    mkt = ev.evaluate_factor(f, px, returns="market", **kw)
    sec = ev.evaluate_factor(f, px, returns="sector", sectors={"A": "x", "B": "x", "C": "y"}, **kw)
    assert raw.params["returns"] == "raw" and mkt.params["returns"] == "market"
    # a per-date constant leaves rank IC and the long-short return unchanged ...
    pd.testing.assert_frame_equal(raw.rank_ic, mkt.rank_ic)
    pd.testing.assert_frame_equal(raw.factor_returns, mkt.factor_returns, atol=1e-12)
    # ... and quantile returns are then vs the universe: here the universe is the factor's 3 assets, so equal
    pd.testing.assert_frame_equal(raw.quantile_returns, mkt.quantile_returns, atol=1e-12)
    # sector neutralisation changes the cross-section: day 1 raw returns (1/12, 0, 1/10) rank (2, 1, 3) vs the
    # factor (1, 2, 3): IC 0.5; sector-relative (1/24, -1/24, 0) rank (3, 1, 2): IC -0.5
    assert raw.rank_ic.loc[d[1], "1D"] == pytest.approx(0.5)
    assert sec.rank_ic.loc[d[1], "1D"] == pytest.approx(-0.5)
    assert sec.rank_ic.loc[d[1], "1D"] == pytest.approx(stats.spearmanr([1, 2, 3], [1 / 24, -1 / 24, 0.0])[0])
