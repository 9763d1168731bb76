"""Checks the runner makes on what strategies ask for and on the data it is given."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from llmos_quant.backtest import report as R
from llmos_quant.backtest.base import SignalStrategy
from llmos_quant.backtest.feeds import prepare_frames
from llmos_quant.backtest.resolver import resolve_strategy
from llmos_quant.backtest.runner import BacktestConfig, run_backtest, run_sweep
from llmos_quant.errors import MaxLossExceededError, UsageError, ValidationError
from tests.conftest import make_prices

PX = make_prices({"A": [10.0, 10.5, 11.0, 11.5, 12.0, 12.5], "B": [20.0, 19.0, 18.0, 17.0, 16.0, 15.0]})
DATES = PX.index.get_level_values("date").unique()


def sig_frame(rows: list[tuple[pd.Timestamp, str, float]]) -> pd.DataFrame:
    f = pd.DataFrame(rows, columns=["date", "asset", "sentiment"]).set_index(["date", "asset"]).sort_index()
    f["news_count"], f["surprise"] = 1, np.nan
    return f


class Fixed(SignalStrategy):
    interface_version = 1
    params = (("weights", None),)

    def target_weights(self, snapshot):
        return dict(self.p.weights)


def test_gross_leverage_above_the_limit_stops_the_run_with_date_and_fix():
    sig = sig_frame([(DATES[0], "A", 0.5)])
    cfg = BacktestConfig(cash=1000.0, params={"weights": {"A": 1.5, "B": -1.0}})
    with pytest.raises(ValidationError) as err:
        run_backtest(PX, sig, Fixed, cfg)
    assert type(err.value) is ValidationError  # not wrapped by Backtrader
    msg = str(err.value)
    assert f"signal date {DATES[0].date()}" in msg and "gross leverage 2.5" in msg and "max_gross_leverage=2" in msg
    assert "--max-leverage" in msg and "BacktestConfig(max_gross_leverage=" in msg
    # the same weights run with a higher limit; a lower limit refuses a plain long book
    res = run_backtest(PX, sig, Fixed, BacktestConfig(cash=1000.0, max_gross_leverage=2.5,
                                                       params={"weights": {"A": 1.5, "B": -1.0}}))
    assert len(res.orders) > 0
    with pytest.raises(ValidationError, match=r"gross leverage 1 .*max_gross_leverage=0\.5"):
        run_backtest(PX, sig, "sentiment_threshold", BacktestConfig(cash=1000.0, max_gross_leverage=0.5))
    with pytest.raises(ValidationError, match="gross leverage 3"):
        run_backtest(PX, sig_frame([(d, a, v) for d in DATES for a, v in (("A", 1.0), ("B", -1.0))]), "long_short",
                     BacktestConfig(cash=1000.0, params={"gross": 3.0, "min_assets": 2, "quantiles": 2}))


def test_leverage_error_crosses_the_sweep_process_boundary_unchanged():
    sig = sig_frame([(DATES[0], "A", 0.5)])
    with pytest.raises(ValidationError, match="above the limit max_gross_leverage=2") as err:
        run_sweep(PX, sig, "sentiment_threshold", {"gross": [1.0, 3.0]}, BacktestConfig(cash=1000.0), workers=2)
    assert type(err.value) is ValidationError


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, "x"])
def test_non_finite_weights_are_refused_with_asset_and_date(bad):
    sig = sig_frame([(DATES[0], "A", 0.5)])
    with pytest.raises(ValidationError, match=rf"for B on signal date {DATES[0].date()}.*finite") as err:
        run_backtest(PX, sig, Fixed, BacktestConfig(cash=1000.0, params={"weights": {"A": 0.5, "B": bad}}))
    assert type(err.value) is ValidationError


@pytest.mark.parametrize("value", [0.0, -1.0, np.nan, np.inf])
def test_max_gross_leverage_config_is_validated(value):
    with pytest.raises(UsageError, match=r"max_gross_leverage must be a finite number > 0.*--max-leverage"):
        BacktestConfig(max_gross_leverage=value)


@pytest.mark.parametrize("name,params", [
    ("long_short", {}), ("long_short", {"weighting": "signal"}), ("long_short", {"weighting": "signal", "quantiles": 1}),
    ("sentiment_threshold", {"threshold": -1.0}), ("sentiment_momentum", {"lookback": 5, "min_sentiment": -1.0}),
])
def test_built_in_strategies_stay_within_the_default_limit(market, name, params):
    base = resolve_strategy(name)
    seen: list[float] = []

    class Recording(base):
        def checked_weights(self, weights):
            out = super().checked_weights(weights)
            seen.append(sum(abs(v) for v in out.values()))
            return out

    sig = market.truth["true_polarity"].rename("sentiment").to_frame().reindex(market.prices.index)
    sig["sentiment"] = sig["sentiment"].fillna(0.0) + np.random.default_rng(1).normal(0, 0.1, len(sig))
    sig["news_count"], sig["surprise"] = 1, np.nan
    run_backtest(market.prices, sig, Recording, BacktestConfig(params={"min_assets": 3, **params}
                                                                 if name == "long_short" else params))
    assert max(seen) > 0.99  # the strategy did ask for positions
    assert max(seen) <= 1.0 + 1e-9 < BacktestConfig().max_gross_leverage  # about 1.0 gross, within 2.0


def test_signals_without_prices_are_dropped_counted_logged_and_reported(tmp_path, caplog):
    px = PX.drop((DATES[2], "B"))  # B has no bar on day 2
    sig = sig_frame([(DATES[0], "A", 0.5), (DATES[1], "A", 0.4), (DATES[2], "B", 0.3),
                     (pd.Timestamp("2021-01-09"), "A", 0.9),  # a Saturday: not a session
                     (DATES[0], "ZZZ", 0.9), (DATES[1], "ZZZ", 0.9), (DATES[1], "YYY", 0.1)])
    with caplog.at_level("WARNING", logger="llmos_quant.backtest.runner"):
        res = run_backtest(px, sig, "sentiment_threshold", BacktestConfig(cash=1000.0, max_loss=1.0))
    di = res.data_issues
    assert (di.signal_rows, di.signal_rows_without_prices, di.signal_rows_off_calendar, di.signal_rows_on_missing_bars) \
        == (7, 3, 1, 1)
    assert di.assets_without_prices == ("YYY", "ZZZ") and (di.filled_bars, di.bars) == (1, 12)
    assert "3 of 7 signal rows dropped: 2 asset(s) have no prices" in caplog.text and "ZZZ" in caplog.text
    assert "1 of 7 signal rows dropped: dated on days that are not price sessions" in caplog.text
    assert set(res.orders["asset"]) == {"A"}
    path = R.backtest_report(res, px, sig, tmp_path / "bt.html")
    text = path.read_text()
    assert "Data issues" in text and "assets with signals but no prices" in text and "2: YYY, ZZZ" in text
    assert "price bars filled because missing (tradable=0)" in text and "1 of 12" in text
    stats = json.loads((tmp_path / "bt" / "stats.json").read_text())
    assert stats["data_issues"]["signal_rows_without_prices"] == 3
    assert stats["data_issues"]["assets_without_prices"] == ["YYY", "ZZZ"]


def test_dropping_more_signal_rows_than_max_loss_is_an_error_that_names_the_counts():
    """4 of 7 rows cannot be used (57%): above the default max_loss 0.35 the run stops (exit 3) instead of reporting
    a backtest of the few rows left; at exactly the fraction it runs."""
    sig = sig_frame([(DATES[0], "A", 0.5), (DATES[1], "A", 0.4), (DATES[2], "B", 0.3),
                     (pd.Timestamp("2021-01-09"), "A", 0.9),
                     (DATES[0], "ZZZ", 0.9), (DATES[1], "ZZZ", 0.9), (DATES[1], "YYY", 0.1)])
    with pytest.raises(MaxLossExceededError, match=r"drop 4 of the 7 signal rows .*57\.1%.*max_loss=0\.35: 3 belong to "
                                                   r"assets without prices, 1 are dated .*--max-loss 0\.58") as info:
        run_backtest(PX, sig, "sentiment_threshold", BacktestConfig(cash=1000.0))
    assert info.value.exit_code == 3
    res = run_backtest(PX, sig, "sentiment_threshold", BacktestConfig(cash=1000.0, max_loss=4 / 7))
    assert res.data_issues.signal_rows_dropped == 4
    for bad in (-0.1, 1.5, True, "0.3"):
        with pytest.raises(UsageError, match="max_loss must be a fraction between 0 and 1"):
            BacktestConfig(max_loss=bad)


def test_no_signal_asset_with_prices_is_an_error():
    sig = sig_frame([(DATES[0], "ZZZ", 0.9), (DATES[1], "YYY", 0.1)])
    with pytest.raises(ValidationError, match=r"none of the 2 signal assets has prices.*\['YYY', 'ZZZ'\].*\['A', 'B'\]"):
        run_backtest(PX, sig, "sentiment_threshold", BacktestConfig(cash=1000.0))


def test_prepare_frames_counts_without_signals_and_windows():
    frames, di = prepare_frames(PX, start=str(DATES[1].date()))
    assert len(frames["A"]) == 5 and di.signal_rows == 0 and (di.filled_bars, di.bars) == (0, 10)
    sig = sig_frame([(DATES[0], "ZZZ", 0.9), (DATES[3], "A", 0.1)])
    _, di = prepare_frames(PX, sig, start=str(DATES[1].date()))
    assert di.signal_rows == 1 and di.signal_rows_without_prices == 0  # the ZZZ row is before the window


def test_an_asset_whose_closes_are_all_missing_is_counted_not_traded():
    """Rows without a close for a whole asset (NaN in every bar of the window) are an asset without prices: its
    signals are counted and the others trade, instead of the strategy failing on a NaN price."""
    px = PX.copy()
    px.loc[px.index.get_level_values("asset") == "B", ["open", "high", "low", "close"]] = np.nan
    sig = sig_frame([(DATES[0], "A", 0.5), (DATES[0], "B", 0.4), (DATES[1], "B", 0.3)])
    res = run_backtest(px, sig, "sentiment_threshold", BacktestConfig(cash=1000.0, max_loss=1.0))
    assert res.data_issues.assets_without_prices == ("B",) and res.data_issues.signal_rows_without_prices == 2
    assert set(res.orders["asset"]) <= {"A"}
