"""Backtrader long-short vs the factor pipeline's factor-weighted 1D returns on the same signal.

Backtrader marks the book at closes; the factor pipeline measures open-to-open. With close == open on
every bar the two measure the same holding period, and the remaining difference comes from sizing:
Backtrader sizes at D's close and fills at D+1's open (weights drift by that day's move). Tolerance:
daily returns correlate > 0.98 and the mean absolute daily difference is below 10% of the mean absolute
daily return.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmos_quant.backtest.runner import BacktestConfig, run_backtest
from llmos_quant.factors import evaluate as ev


def test_backtrader_long_short_matches_factor_returns(market):
    px = market.prices.copy()
    px["close"] = px["open"]
    px["high"] = px[["high", "open"]].max(axis=1)
    px["low"] = px[["low", "open"]].min(axis=1)
    rng = np.random.default_rng(0)
    sig = pd.DataFrame({"sentiment": rng.normal(size=len(px))}, index=px.index)
    sig["news_count"], sig["surprise"] = 1, np.nan
    data = ev.clean_factor_data(sig["sentiment"], px, periods=(1,), n_quantiles=5)
    fr = ev.factor_returns(data)["1D"]
    cfg = BacktestConfig(cash=1e7, commission_bps=0, fractional=True, band=0.0,
                         params={"quantiles": 1, "weighting": "signal", "min_assets": 2})
    res = run_backtest(px, sig, "long_short", cfg)
    # factor return of D is earned over [open D+1, open D+2] = Backtrader's return on D+2
    dates = px.index.get_level_values("date").unique()
    shifted = pd.Series(fr.to_numpy(), index=[dates[dates.get_loc(d) + 2] for d in fr.index])
    both = pd.concat([res.returns.rename("bt"), shifted.rename("factor")], axis=1).dropna()
    assert len(both) > 50
    assert np.corrcoef(both["bt"], both["factor"])[0, 1] > 0.98
    assert (both["bt"] - both["factor"]).abs().mean() < 0.1 * both["factor"].abs().mean()
