"""Our Backtrader runner vs a bare Backtrader script doing the same long-short run, same data, same run.

Data: 100 S&P 500 assets x ~1,000 sessions (2013-02-08 .. 2016-12-30) from ../shared/data; signal: 5-day
momentum (a stand-in with the same shape as a sentiment signal). Strategy: daily cross-sectional long-short,
top/bottom quintile, equal weight, decided on bar D and filled at D+1's open, 10 bps per side.
The bare script builds one PandasData per asset the usual way (a per-asset loop of pandas filtering).

    python bench/backtest_overhead.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import isolated, machine, write  # noqa: E402

START, END, N_ASSETS = "2013-02-08", "2016-12-30", 100


def inputs():
    import pandas as pd

    from llmos_quant.data.prices import read_sp500_csvs

    prices = read_sp500_csvs(start=START, end=END)
    counts = prices["close"].groupby(level="asset").count()
    assets = sorted(counts[counts == counts.max()].index)[:N_ASSETS]
    prices = prices[prices.index.get_level_values("asset").isin(assets)]
    close = prices["close"].unstack("asset")
    mom = (close / close.shift(5) - 1).stack().rename("sentiment")
    sig = mom.to_frame()
    sig.index = sig.index.set_names(["date", "asset"])
    sig["news_count"], sig["surprise"] = 1, float("nan")
    return prices, sig.reindex(prices.index), pd


def run_ours() -> dict:
    from llmos_quant.backtest.runner import BacktestConfig, run_backtest

    prices, sig, _ = inputs()
    t0 = time.perf_counter()
    res = run_backtest(prices, sig, "long_short", BacktestConfig(commission_bps=10, band=0.0))
    dt = time.perf_counter() - t0
    bars = len(prices)
    return {"seconds": dt, "bars": bars, "final_value": float(res.equity.iloc[-1]), "orders": len(res.orders)}


def run_bare() -> dict:
    import backtrader as bt
    import numpy as np

    prices, sig, pd = inputs()
    t0 = time.perf_counter()

    class Data(bt.feeds.PandasData):
        lines = ("sentiment",)
        params = (("sentiment", -1),)

    class LS(bt.Strategy):
        def next_open(self):
            if len(self.datas[0]) < 2:
                return
            s = {d._name: d.sentiment[-1] for d in self.datas if np.isfinite(d.sentiment[-1])}
            if len(s) < 4:
                return
            order = sorted(s, key=lambda a: s[a])
            n = max(1, len(order) // 5)
            target = {a: -0.5 / n for a in order[:n]}
            target.update({a: 0.5 / n for a in order[-n:]})
            value = self.broker.getcash() + sum(self.getposition(d).size * d.open[0] for d in self.datas)
            value /= 1.001
            for d in self.datas:
                size = float(int(target.get(d._name, 0.0) * value / d.open[0]))
                if abs(size - self.getposition(d).size) > 1e-9:
                    self.order_target_size(data=d, target=size)

    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    for asset in sorted(set(prices.index.get_level_values("asset"))):
        frame = prices.xs(asset, level="asset")[["open", "high", "low", "close", "volume"]].copy()
        frame["sentiment"] = sig.xs(asset, level="asset")["sentiment"]
        cerebro.adddata(Data(dataname=frame, openinterest=None), name=asset)
    cerebro.broker.setcash(1_000_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.broker.set_checksubmit(False)
    cerebro.addstrategy(LS)
    strat = cerebro.run()[0]
    dt = time.perf_counter() - t0
    return {"seconds": dt, "bars": len(prices), "final_value": float(strat.broker.getvalue())}


def main() -> None:
    bare = isolated(run_bare)
    ours = isolated(run_ours)
    rows = [{"impl": "bare Backtrader script", "seconds": round(bare["seconds"], 2),
             "bars_per_s": round(bare["bars"] / bare["seconds"]), "final_value": round(bare["final_value"], 2),
             "peak_rss_mb": round(bare["peak_rss_mb"])},
            {"impl": "llmos_quant runner", "seconds": round(ours["seconds"], 2),
             "bars_per_s": round(ours["bars"] / ours["seconds"]), "final_value": round(ours["final_value"], 2),
             "peak_rss_mb": round(ours["peak_rss_mb"])}]
    overhead = ours["seconds"] / bare["seconds"] - 1
    print(f"{'impl':24s} {'seconds':>8s} {'bars/s':>8s} {'final value':>13s} {'RSS MB':>7s}")
    for r in rows:
        print(f"{r['impl']:24s} {r['seconds']:8.2f} {r['bars_per_s']:8d} {r['final_value']:13.2f} {r['peak_rss_mb']:7d}")
    print(f"our overhead vs bare: {overhead:+.1%} (bars: {ours['bars']:,})")
    print("written", write("backtest_overhead", {"machine": machine(), "window": [START, END], "assets": N_ASSETS,
                                                  "rows": rows, "overhead": overhead}))


if __name__ == "__main__":
    main()
