from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmos_quant.errors import UsageError, ValidationError
from llmos_quant.factors.movement import mcc, movement_metrics, movement_scores, next_day_returns
from tests.conftest import make_prices


def test_mcc_by_hand():
    assert mcc(5, 5, 0, 0) == 1.0
    assert mcc(0, 0, 5, 5) == -1.0
    assert mcc(3, 0, 2, 0) == 0.0  # only one predicted class: a marginal is empty -> 0
    assert mcc(6, 3, 1, 2) == pytest.approx((6 * 3 - 1 * 2) / np.sqrt(7 * 8 * 4 * 5))


def test_scores_threshold_filter_and_baseline_by_hand():
    # returns: -0.01 (down), -0.005 (down: <= -0.005), -0.004 (dropped), 0.0055 (dropped: not > 0.0055),
    # 0.0056 (up), 0.02 (up), 0.03 (up), 0.01 (up, but signal 0 -> no prediction), NaN (no return)
    r = pd.Series([-0.01, -0.005, -0.004, 0.0055, 0.0056, 0.02, 0.03, 0.01, np.nan])
    s = pd.Series([-1.0, 0.5, 1.0, 1.0, 0.2, 0.3, -0.4, 0.0, 1.0])
    res = movement_scores(s, r)
    assert (res.dropped_threshold, res.dropped_no_signal, res.dropped_no_return) == (2, 1, 1)
    assert res.n == 5 and (res.n_up, res.n_down) == (3, 2)
    # predictions: down, up, up, up, down vs actual down, down, up, up, up
    assert (res.tp, res.tn, res.fp, res.fn) == (2, 1, 1, 1)
    assert res.accuracy == pytest.approx(3 / 5)
    assert res.mcc == pytest.approx((2 * 1 - 1 * 1) / np.sqrt(3 * 3 * 2 * 2))
    assert res.baseline_accuracy == pytest.approx(3 / 5) and res.baseline_mcc == 0.0
    assert res.majority_class == "up" and res.accuracy_lift == pytest.approx(0.0)
    t = res.table()
    assert list(t.index) == ["signal", "majority (up)"] and t.loc["signal", "mcc"] == pytest.approx(res.mcc)
    assert res.confusion().loc["up", "up"] == 2 and res.confusion().loc["down", "up"] == 1
    with pytest.raises(UsageError):
        movement_scores(s, r, down=0.01, up=0.0)
    with pytest.raises(ValidationError, match="no row left"):
        movement_scores(pd.Series([0.0]), pd.Series([0.1]))


def test_movement_metrics_next_day_close_to_close():
    # closes of A: 100, 101 (+1%), 100.9 (-0.099%: dropped), 98 (-2.87%), 99 (+1.02%)
    px = make_prices({"A": [100.0, 101.0, 100.9, 98.0, 99.0], "B": [10.0, 9.0, 9.9, 9.9, 10.0]})
    d = px.index.get_level_values("date").unique()
    nxt = next_day_returns(px)
    assert nxt.loc[(d[0], "A")] == pytest.approx(0.01)
    assert np.isnan(nxt.loc[(d[4], "A")])
    sig = pd.DataFrame({"sentiment": [1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 0.5, 0.5]},
                       index=pd.MultiIndex.from_product([d[:4], ["A", "B"]], names=["date", "asset"]))
    res = movement_metrics(sig, px)
    # A: d0 up (+1%) pred up ok; d1 in the band; d2 down (-2.87%) pred down ok; d3 up (+1.02%) pred up ok
    # B: d0 down (-10%) pred up wrong; d1 up (+10%) pred down wrong; d2 flat dropped; d3 up (+1.01%) pred up ok
    assert res.dropped_threshold == 2 and res.n == 6 and (res.n_up, res.n_down) == (4, 2)
    assert (res.tp, res.tn, res.fp, res.fn) == (3, 1, 1, 1)
    assert res.accuracy == pytest.approx(4 / 6) and res.baseline_accuracy == pytest.approx(4 / 6)
    assert res.mcc == pytest.approx((3 * 1 - 1 * 1) / np.sqrt(4 * 4 * 2 * 2))
    assert movement_metrics(sig["sentiment"], px).accuracy == res.accuracy
