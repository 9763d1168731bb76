"""The runner against two independent computations of the same long-short run.

1. A bare Backtrader script (plain ``PandasData`` feeds, its own ``next_open`` sizing the factor-weighted
   book at D+1's open, fractional sizes, no costs) must give the same equity curve to rounding.
2. The factor pipeline's factor-weighted 1D returns: with close == open on every bar Backtrader's close-to-
   close return on D+2 is the open-to-open return of D's weights over [open D+1, open D+2], which is the
   factor return of D; sizes are taken at D+1's open, so the two agree to rounding as well.

Both agree to ~1e-15 today; the tolerances (rtol 1e-9) leave room for summation order only.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from llmos_quant.backtest.runner import BacktestConfig, run_backtest
from llmos_quant.factors import evaluate as ev

CASH = 1e7


@pytest.fixture(scope="module")
def run(market):
    px = market.prices.copy()
    px["close"] = px["open"]
    px["high"] = px[["high", "open"]].max(axis=1)
    px["low"] = px[["low", "open"]].min(axis=1)
    rng = np.random.default_rng(0)
    sig = pd.DataFrame({"sentiment": rng.normal(size=len(px))}, index=px.index)
    sig["news_count"], sig["surprise"] = 1, np.nan
    cfg = BacktestConfig(cash=CASH, commission_bps=0, fractional=True, band=0.0,
                         params={"quantiles": 1, "weighting": "signal", "min_assets": 2})
    return px, sig, run_backtest(px, sig, "long_short", cfg)


def bare_backtrader(px: pd.DataFrame, sig: pd.DataFrame) -> pd.Series:
    class Data(bt.feeds.PandasData):
        lines = ("sentiment",)
        params = (("sentiment", -1),)

    class Comm(bt.CommInfoBase):
        params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_PERC), ("percabs", True))

        def getsize(self, price, cash):
            return self.p.leverage * (cash / price)

    class FactorWeighted(bt.Strategy):
        def __init__(self):
            self.values = []

        def next(self):
            self.values.append((pd.Timestamp(self.datas[0].datetime.date(0)), self.broker.getvalue()))

        def next_open(self):
            if len(self.datas[0]) < 2:
                return
            s = {d._name: d.sentiment[-1] for d in self.datas}
            mean = sum(s.values()) / len(s)
            denom = sum(abs(v - mean) for v in s.values())
            value = self.broker.getcash() + sum(self.getposition(d).size * d.open[0] for d in self.datas)
            for d in self.datas:
                size = (s[d._name] - mean) / denom * value / d.open[0]
                if abs(size - self.getposition(d).size) > 1e-9:
                    self.order_target_size(data=d, target=size)

    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    for asset in sorted(set(px.index.get_level_values("asset"))):
        frame = px.xs(asset, level="asset")[["open", "high", "low", "close", "volume"]].copy()
        frame["sentiment"] = sig.xs(asset, level="asset")["sentiment"]
        cerebro.adddata(Data(dataname=frame, openinterest=None), name=asset)
    cerebro.broker.setcash(CASH)
    cerebro.broker.addcommissioninfo(Comm(commission=0.0))
    cerebro.broker.set_checksubmit(False)
    cerebro.addstrategy(FactorWeighted)
    strat = cerebro.run()[0]
    return pd.Series(dict(strat.values), name="bare")


def test_runner_equity_equals_bare_backtrader_script(run):
    px, sig, res = run
    assert res.data_issues.filled_bars == 0  # every asset has every bar: the bare script needs aligned feeds
    bare = bare_backtrader(px, sig)
    assert res.equity.index.equals(pd.DatetimeIndex(bare.index)) and len(bare) > 50
    assert bare.iloc[-1] != pytest.approx(CASH, rel=1e-3)  # the run trades: equity is not flat
    np.testing.assert_allclose(res.equity.to_numpy(), bare.to_numpy(), rtol=1e-9, atol=0)
    assert np.isclose(res.equity.iloc[-1], bare.iloc[-1], rtol=1e-9, atol=0)


def test_backtrader_long_short_matches_factor_returns(run):
    px, sig, res = run
    data = ev.clean_factor_data(sig["sentiment"], px, periods=(1,), n_quantiles=5)
    fr = ev.factor_returns(data)["1D"]
    # factor return of D is earned over [open D+1, open D+2] = Backtrader's return on D+2
    dates = px.index.get_level_values("date").unique()
    shifted = pd.Series(fr.to_numpy(), index=[dates[dates.get_loc(d) + 2] for d in fr.index])
    both = pd.concat([res.returns.rename("bt"), shifted.rename("factor")], axis=1).dropna()
    assert len(both) == len(fr) > 50
    np.testing.assert_allclose(both["bt"].to_numpy(), both["factor"].to_numpy(), rtol=1e-9, atol=1e-12)
