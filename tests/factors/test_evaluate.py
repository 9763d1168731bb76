from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from llmos_quant.errors import MaxLossExceededError, UsageError, ValidationError
from llmos_quant.factors import evaluate as ev
from tests.conftest import make_prices

# 3 assets, 6 business days from Mon 2021-01-04; opens chosen by hand.
OPENS = {"A": [10, 11, 12, 13, 14, 15], "B": [10, 10, 9, 9, 8, 8], "C": [10, 10, 10, 11, 10, 10]}
PRICES = make_prices({k: [float(x) for x in v] for k, v in OPENS.items()},
                     opens={k: [float(x) for x in v] for k, v in OPENS.items()})
DATES = PRICES.index.get_level_values("date").unique()


def factor(values_by_date):
    rows = [(DATES[i], a, v) for i, vals in values_by_date.items() for a, v in vals.items()]
    return pd.DataFrame(rows, columns=["date", "asset", "f"]).set_index(["date", "asset"])["f"]


def test_forward_returns_open_to_open_from_next_session():
    fwd = ev.forward_returns(PRICES, periods=(1, 2))
    # signal on day 0 trades at day 1 open; 1D return = open[2]/open[1]-1
    assert fwd.loc[(DATES[0], "A"), "1D"] == pytest.approx(12 / 11 - 1)
    assert fwd.loc[(DATES[0], "B"), "2D"] == pytest.approx(9 / 10 - 1)
    assert fwd.loc[(DATES[3], "A"), "1D"] == pytest.approx(15 / 14 - 1)  # open[5] / open[4]
    assert np.isnan(fwd.loc[(DATES[4], "A"), "1D"])  # would need open[6]
    assert DATES[5] not in fwd.index.get_level_values("date")  # its next session is not in the data
    with pytest.raises(ValidationError, match="positive integers"):
        ev.forward_returns(PRICES, periods=(0,))


def test_ic_and_quantile_returns_by_hand():
    f = factor({0: {"A": 3.0, "B": 1.0, "C": 2.0}, 1: {"A": 1.0, "B": 2.0, "C": 3.0}})
    data = ev.clean_factor_data(f, PRICES, periods=(1,), n_quantiles=3)
    r0 = [12 / 11 - 1, 9 / 10 - 1, 10 / 10 - 1]
    r1 = [13 / 12 - 1, 9 / 9 - 1, 11 / 10 - 1]
    ic = ev.information_coefficient(data)
    assert ic.loc[DATES[0], "1D"] == pytest.approx(stats.spearmanr([3, 1, 2], r0).statistic)
    assert ic.loc[DATES[1], "1D"] == pytest.approx(stats.spearmanr([1, 2, 3], r1).statistic)
    pic = ev.information_coefficient(data, "pearson")
    assert pic.loc[DATES[0], "1D"] == pytest.approx(np.corrcoef([3, 1, 2], r0)[0, 1])
    mean, se = ev.mean_return_by_quantile(data)
    # quantile 3 holds A on day 0 and C on day 1 (demeaned returns)
    q3 = [r0[0] - np.mean(r0), r1[2] - np.mean(r1)]
    assert mean.loc[3, "1D"] == pytest.approx(np.mean(q3))
    assert se.loc[3, "1D"] == pytest.approx(np.std(q3, ddof=1) / np.sqrt(2))
    w = ev.factor_weights(data)
    assert w.loc[(DATES[0], "A")] == pytest.approx(0.5) and w.loc[(DATES[0], "B")] == pytest.approx(-0.5)
    fr = ev.factor_returns(data)
    assert fr.loc[DATES[0], "1D"] == pytest.approx(0.5 * r0[0] - 0.5 * r0[1])
    turn = ev.turnover(w)
    # day 0: from nothing to (0.5, -0.5, 0); day 1: to (-0.5, 0, 0.5) -> |Δ| = 1 + 0.5 + 0.5
    assert turn.tolist() == pytest.approx([1.0, 2.0])
    net = ev.cost_adjusted_returns(fr["1D"], turn, cost_bps=10)
    assert net.iloc[1] == pytest.approx(fr["1D"].iloc[1] - 0.001 * 2.0)


def test_ic_summary_spread_coverage():
    ic = pd.DataFrame({"1D": [0.1, 0.2, 0.3, -0.1]})
    s = ev.ic_summary(ic).loc["1D"]
    assert s["mean"] == pytest.approx(0.125)
    assert s["t_stat"] == pytest.approx(0.125 / np.std([0.1, 0.2, 0.3, -0.1], ddof=1) * 2)
    assert s["positive"] == 0.75 and s["n_dates"] == 4
    f = factor({0: {"A": 3.0, "B": 1.0, "C": 2.0}, 1: {"A": 1.0, "B": np.nan, "C": 3.0}})
    cov = ev.coverage(f, PRICES)
    assert cov["assets_with_signal"].tolist() == [3, 2]
    assert cov["share"].tolist() == pytest.approx([1.0, 2 / 3])


def test_errors_when_nothing_aligns():
    f = pd.Series([1.0], index=pd.MultiIndex.from_tuples([(pd.Timestamp("1999-01-04"), "A")], names=["date", "asset"]))
    with pytest.raises(ValidationError, match="no \\(date, asset\\) row"):
        ev.clean_factor_data(f, PRICES)


def test_full_report_on_simulated_signal(market):
    truth = market.truth["true_polarity"]
    rep = ev.evaluate_factor(truth, market.prices, periods=(1, 5), decay_horizons=(1, 2, 5))
    assert rep.rank_ic_summary.loc["1D", "mean"] > 0.1  # the planted effect is found at 1 day
    assert rep.decay.loc[1, "rank_ic"] > rep.decay.loc[5, "rank_ic"]
    assert set(rep.summary().columns) >= {"rank_ic_mean", "spread_mean", "ls_mean"}
    # the spread's summary is a field of the report (not DataFrame.attrs), computed from the spread itself
    x = rep.spread["1D"].dropna()
    assert rep.spread_summary.loc["1D", "mean"] == pytest.approx(x.mean())
    assert rep.spread_summary.loc["1D", "t_stat"] == pytest.approx(x.mean() / (x.std(ddof=1) / np.sqrt(len(x))))
    assert rep.spread_summary.loc["1D", "n_dates"] == len(x) and not rep.spread.attrs
    assert rep.summary().loc["5D", "spread_mean"] == pytest.approx(rep.spread["5D"].mean())


def test_dropped_rows_are_counted_by_reason():
    sat = pd.Timestamp("2021-01-09")  # a Saturday: not a session
    rows = [(DATES[i], a, float(k)) for i in range(6) for k, a in enumerate("ABC")]
    rows += [(sat, "A", 1.0), (DATES[0], "ZZZ", 1.0), (DATES[1], "ZZZ", 2.0)]
    f = pd.DataFrame(rows, columns=["date", "asset", "f"]).set_index(["date", "asset"])["f"].sort_index()
    f.loc[(DATES[1], "B")] = np.nan
    f.loc[DATES[2]] = 5.0  # all tied: no distinct quantile edges
    data, c = ev.clean_factor_counts(f, PRICES, periods=(1,), n_quantiles=3, ties="drop")
    # 18 + 3 rows; 1 NaN. No price: the Saturday and 2 ZZZ rows. No forward return: DATES[4] (needs open[6]) and
    # DATES[5] (its next session is not in the data): 6 rows. DATES[2]'s tied values get no quantile: 3 rows
    assert (c.rows_in, c.no_factor_value, c.with_factor) == (21, 1, 20)
    assert (c.no_price, c.no_forward_return, c.binning, c.no_group, c.kept) == (3, 6, 3, 0, 8)
    assert c.kept == len(data) and c.dropped + c.kept == c.with_factor
    assert c.assets_without_prices == ("ZZZ",) and c.dropped_fraction == pytest.approx(12 / 20)
    assert ev.clean_factor_counts(f, PRICES, periods=(1,), n_quantiles=3, ties="rank")[1].binning == 0
    groups = {"A": "x", "B": "x", "C": None, "ZZZ": "y"}
    g = ev.clean_factor_counts(f, PRICES, periods=(1,), n_quantiles=2, groupby=pd.Series(
        f.index.get_level_values("asset").map(groups), index=f.index), ties="rank")[1]
    assert g.no_group == 4 and g.kept == 7 and g.dropped + g.kept == g.with_factor  # C on 4 kept dates
    table = c.table()
    assert table.loc["kept", "count"] == 8 and table.loc["dropped: no price for the asset/date", "count"] == 3


def test_kept_rows_that_use_a_forward_filled_price_are_counted_and_logged(caplog):
    """B has no open on day 3: the 1D returns of day 1 (exit at day 3's open) and of day 2 (entry at day 3's open)
    use day 2's open carried forward, as alphalens does. Those two kept rows are counted, not hidden."""
    px = PRICES.copy()
    px.loc[(DATES[3], "B"), "open"] = np.nan
    f = factor({i: {"A": 1.0, "B": 2.0, "C": 3.0} for i in range(4)})
    with caplog.at_level("WARNING", logger="llmos_quant.factors.evaluate"):
        data, c = ev.clean_factor_counts(f, px, periods=(1,), n_quantiles=3)
    assert c.kept == 12 and c.kept_with_filled_price == 2
    assert data.loc[(DATES[1], "B"), "1D"] == pytest.approx(0.0)  # exit at day 3's open: day 2's 9 carried
    assert data.loc[(DATES[2], "B"), "1D"] == pytest.approx(8 / 9 - 1)  # entry at day 3's open: the same 9
    assert "2 of the 12 kept factor rows use a forward-filled open price" in caplog.text
    assert c.table().loc["kept, with a forward-filled entry or exit price (missing price)", "count"] == 2
    assert ev.clean_factor_counts(f, PRICES, periods=(1,), n_quantiles=3)[1].kept_with_filled_price == 0
    # with a 2D horizon day 0 also exits at day 3's open (day 3's rows are dropped: no 2D return)
    assert ev.clean_factor_counts(f, px, periods=(1, 2), n_quantiles=3)[1].kept_with_filled_price == 3


def test_max_loss_raises_with_counts_fraction_limit_and_fix(market):
    truth = market.truth["true_polarity"]
    dates = market.prices.index.get_level_values("date").unique()
    short = market.prices[market.prices.index.get_level_values("date") <= dates[len(dates) // 2]]
    with pytest.raises(MaxLossExceededError) as err:
        ev.evaluate_factor(truth, short, periods=(1, 5), decay_horizons=(1, 2))
    assert isinstance(err.value, ValidationError) and err.value.exit_code == 3
    msg = str(err.value)
    for part in ("above max_loss=0.35", "no forward return", "no price", "kept", "max_loss=0.", "prices cover the signals'"):
        assert part in msg, part
    counts = ev.clean_factor_counts(truth, short, periods=(1, 5), ties="rank")[1]
    assert f"drop {counts.dropped:,} of the {counts.with_factor:,}" in msg and f"({counts.dropped_fraction:.1%})" in msg
    rep = ev.evaluate_factor(truth, short, periods=(1, 5), decay_horizons=(1, 2), max_loss=1.0)
    assert rep.row_counts == counts and rep.params["max_loss"] == 1.0
    s = rep.summary()
    assert (s["rows_kept"] == counts.kept).all() and s["dropped_fraction"].iloc[0] == pytest.approx(counts.dropped_fraction)
    with pytest.raises(UsageError, match="max_loss must be a fraction between 0 and 1, got 2"):
        ev.evaluate_factor(truth, market.prices, max_loss=2)
    # an unpriced asset's rows count as no price and are named
    extra = pd.Series(1.0, index=pd.MultiIndex.from_product([dates[:40], ["NOPX"]], names=["date", "asset"]))
    with pytest.raises(MaxLossExceededError, match=r"assets without prices e\.g\. \['NOPX'\]"):
        ev.evaluate_factor(pd.concat([truth.dropna().head(30), extra]).sort_index(), market.prices, periods=(1,),
                           decay_horizons=(1,))
