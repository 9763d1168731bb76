from __future__ import annotations

import json

import numpy as np
import pandas as pd

from llmos_quant.backtest import report as R
from llmos_quant.backtest.runner import BacktestConfig, run_backtest


def test_report_writes_html_and_results(tmp_path, market):
    sig = market.truth["true_polarity"].rename("sentiment").to_frame().reindex(market.prices.index)
    sig["news_count"], sig["surprise"] = sig["sentiment"].notna().astype(int), np.nan
    res = run_backtest(market.prices, sig, "long_short", BacktestConfig(params={"min_assets": 3}))
    path = R.backtest_report(res, market.prices, sig, tmp_path / "bt.html")
    text = path.read_text()
    for title in ("Equity", "Drawdown", "Monthly returns", "Exposure", "Trades on"):
        assert title in text
    folder = tmp_path / "bt"
    stats = json.loads((folder / "stats.json").read_text())
    assert stats["stats"]["orders"] == len(res.orders) and "sharpe" in stats["analyzers"]
    assert len(pd.read_csv(folder / "returns.csv")) == len(res.returns)
    m = R.monthly_returns(res.returns)
    assert m.shape[1] == 12
    assert res.stats()["total_return"] > 0  # the planted effect makes money
