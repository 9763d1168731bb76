"""Shipped strategies on small deterministic data; trades checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmos_quant.backtest.runner import BacktestConfig, run_backtest, run_sweep
from tests.conftest import make_prices

CLOSES = {"A": [10.0, 10.0, 11.0, 12.0, 12.0, 12.0], "B": [20.0, 20.0, 20.0, 19.0, 18.0, 18.0],
          "C": [5.0, 5.0, 5.0, 5.0, 6.0, 6.0], "D": [8.0, 8.0, 8.0, 8.0, 8.0, 8.0]}
OPENS = {"A": [10.0, 10.5, 11.0, 12.0, 12.0, 12.0], "B": [20.0, 20.0, 20.0, 19.5, 18.0, 18.0],
         "C": [5.0, 5.0, 5.0, 5.0, 5.5, 6.0], "D": [8.0, 8.0, 8.0, 8.0, 8.0, 8.0]}
PX = make_prices(CLOSES, opens=OPENS)
DATES = PX.index.get_level_values("date").unique()


def signals(values: dict[int, dict[str, float]]) -> pd.DataFrame:
    rows = [(DATES[i], a, v) for i, d in values.items() for a, v in d.items()]
    f = pd.DataFrame(rows, columns=["date", "asset", "sentiment"]).set_index(["date", "asset"])
    f = f.reindex(PX.index)
    f["news_count"] = f["sentiment"].notna().astype(int)
    f["surprise"] = np.nan
    return f


def completed(res):
    o = res.orders[res.orders["status"] == "Completed"]
    return [(d.strftime("%m-%d"), a, side, s, p) for d, a, side, s, p in
            o[["date", "asset", "side", "size", "price"]].itertuples(index=False)]


def test_sentiment_threshold_trades_next_open():
    sig = signals({0: {"A": 0.5, "B": 0.1}, 1: {"A": 0.4}, 2: {"A": 0.0}})
    cfg = BacktestConfig(cash=1000.0, commission_bps=0, params={"threshold": 0.2})
    res = run_backtest(PX, sig, "sentiment_threshold", cfg)
    # day 0 (Mon): A above threshold -> sized at day 1's open 10.5: int(1000 / 10.5) = 95 shares, filled at 10.5
    # day 1: still above -> hold; day 2: sentiment 0 -> sell 95 at day 3's open 12
    assert completed(res) == [("01-05", "A", "buy", 95.0, 10.5), ("01-07", "A", "sell", -95.0, 12.0)]
    assert res.trades["pnl"].tolist() == pytest.approx([95 * 1.5])
    assert res.equity.iloc[-1] == pytest.approx(1000 + 95 * 1.5)


def test_long_short_equal_weight_legs():
    sig = signals({0: {"A": 0.9, "B": -0.8, "C": 0.1, "D": 0.0}})
    cfg = BacktestConfig(cash=1000.0, commission_bps=0, params={"quantiles": 4, "min_assets": 4})
    res = run_backtest(PX, sig, "long_short", cfg)
    first = [x for x in completed(res) if x[0] == "01-05"]
    # long A with 500 at day 1's open (int(500/10.5)=47 shares), short B with 500 (int(-500/20)=-25)
    assert ("01-05", "A", "buy", 47.0, 10.5) in first and ("01-05", "B", "sell", -25.0, 20.0) in first
    assert len(first) == 2


def test_commission_is_charged_per_side_in_bps():
    sig = signals({0: {"A": 0.5}, 1: {"A": 0.5}, 2: {"A": 0.0}})
    res = run_backtest(PX, sig, "sentiment_threshold", BacktestConfig(cash=1000.0, commission_bps=10))
    o = res.orders[res.orders["status"] == "Completed"]
    # sizing keeps the commission aside: int(1000 / 1.001 / 10.5) = 95
    assert o["size"].tolist() == [95, -95]
    assert o["commission"].tolist() == pytest.approx([95 * 10.5 * 0.001, 95 * 12.0 * 0.001])


def test_sentiment_momentum_filters_negative_news():
    closes = {a: list(np.linspace(10, 10 + k, 30)) for k, a in enumerate(["A", "B", "C", "D"])}
    px = make_prices(closes)
    dates = px.index.get_level_values("date").unique()
    sig = pd.DataFrame(index=px.index, data={"sentiment": np.nan, "news_count": 0, "surprise": np.nan})
    sig.loc[(dates[25], "D"), "sentiment"] = -0.5  # best momentum but bad news
    cfg = BacktestConfig(cash=1000.0, commission_bps=0, params={"lookback": 5, "top_n": 2})
    res = run_backtest(px, sig, "sentiment_momentum", cfg)
    buys = res.orders[(res.orders["side"] == "buy")]
    # orders for signal date D are created and filled at D+1's open
    assert set(buys[buys["created"] <= dates[25]]["asset"]) == {"C", "D"}
    after = res.orders[res.orders["created"] == dates[26]]
    # top 2 by momentum are D and C; D's news is negative -> sold, all in C
    assert set(after.loc[after["side"] == "sell", "asset"]) == {"D"}
    assert set(after.loc[after["side"] == "buy", "asset"]) == {"C"}
    back = res.orders[res.orders["created"] == dates[27]]  # D's sentiment is NaN again (no news) -> back in
    assert set(back.loc[back["side"] == "buy", "asset"]) == {"D"}


def test_weekly_rebalance_and_sweep():
    sig = signals({i: {"A": 0.5} for i in range(6)})
    res = run_backtest(PX, sig, "sentiment_threshold", BacktestConfig(cash=1000.0, rebalance="weekly"))
    assert res.orders["created"].nunique() == 1
    table = run_sweep(PX, sig, "sentiment_threshold", {"threshold": [0.2, 0.9]}, BacktestConfig(cash=1000.0), workers=2)
    assert table["threshold"].tolist() == [0.2, 0.9]
    assert table.loc[1, "orders"] == 0 and table.loc[0, "orders"] >= 1


@pytest.mark.parametrize(("strategy", "params", "text"), [
    ("long_short", {"quantiles": 0}, "quantiles=0: expected a whole number >= 1"),
    ("long_short", {"quantiles": 2.5}, "quantiles=2.5"),
    ("long_short", {"quantiles": 1}, "one bucket is both legs"),
    ("long_short", {"gross": -1}, "gross=-1"),
    ("long_short", {"weighting": "foo"}, "'equal' or 'signal'"),
    ("sentiment_momentum", {"top_n": -3}, "top_n=-3"),
    ("sentiment_threshold", {"gross": 0}, "gross=0"),
    ("long_short", {"signal": "nosuchcol"}, "signal='nosuchcol'"),
])
def test_parameter_values_a_strategy_cannot_use_are_usage_errors(strategy, params, text):
    """Values of the right type that the strategy cannot use are refused before the run (exit 2), not run as another
    strategy (a negative gross is a flipped book, a negative top_n a Python slice) or crashed on."""
    from llmos_quant.errors import UsageError

    sig = signals({0: {"A": 0.9, "B": -0.8, "C": 0.1, "D": 0.0}})
    with pytest.raises(UsageError, match=text.replace("(", r"\(").replace(")", r"\)")) as err:
        run_backtest(PX, sig, strategy, BacktestConfig(cash=1000.0, params=params))
    assert err.value.exit_code == 2
    # quantiles=1 is valid where it means something: signal weighting over every asset
    if params == {"quantiles": 1}:
        run_backtest(PX, sig, strategy, BacktestConfig(cash=1000.0, params={"quantiles": 1, "weighting": "signal"}))
