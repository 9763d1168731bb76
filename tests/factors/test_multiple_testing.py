"""Event-type factors as first-class tests: every (factor, horizon) listed with t, p and a Benjamini-Hochberg q."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmos_quant.factors.evaluate import evaluate_factor, forward_returns, multiple_testing
from llmos_quant.factors.tearsheet import report_figures


def test_benjamini_hochberg_known_answer():
    tests = pd.DataFrame({"factor": list("abcde"), "p_value": [0.01, 0.02, 0.03, 0.5, np.nan]})
    out = multiple_testing(tests, fdr=0.05)
    # q_(i) = min_{j >= i} p_(j) m / j with m = 4 finite p-values: 0.04, 0.04, 0.04, 0.5
    assert out["bh_q"].iloc[:4].tolist() == pytest.approx([0.04, 0.04, 0.04, 0.5])
    assert out["survives_bh"].tolist() == [True, True, True, False, False]
    assert np.isnan(out["bh_q"].iloc[4])


def test_event_factors_are_tested_with_bh_and_only_the_planted_one_survives(market):
    prices = market.prices
    fwd = forward_returns(prices, (1,))["1D"]
    rng = np.random.default_rng(0)
    idx = fwd.dropna().index
    planted = (fwd.reindex(idx) + rng.normal(0, fwd.std() * 2, len(idx))).rename("sentiment_planted")
    noise = pd.Series(rng.normal(0, 1, len(idx)), idx, name="sentiment_noise")
    events = pd.concat([planted, noise], axis=1)
    rep = evaluate_factor(noise, prices, periods=(1, 5), events=events, max_loss=0.5)
    t = rep.event_tests
    assert len(t) == 4 and set(t["factor"]) == {"sentiment_planted", "sentiment_noise"}
    assert set(t.columns) >= {"mean_rank_ic", "t_stat", "p_value", "bh_q", "survives_bh", "n_dates"}
    assert (t["bh_q"] >= t["p_value"] - 1e-12).all()
    one_day = t[t["period"] == "1D"].set_index("factor")
    assert one_day.loc["sentiment_planted", "survives_bh"] and one_day.loc["sentiment_planted", "t_stat"] > 3
    assert not one_day.loc["sentiment_noise", "survives_bh"]
    figs = report_figures(rep)
    assert "event_tests" in figs and "Benjamini-Hochberg" in figs["event_tests"].layout.title.text
