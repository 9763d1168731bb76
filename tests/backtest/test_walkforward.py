"""Walk-forward selection and the deflated Sharpe ratio (llmos_quant.backtest.walkforward)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from llmos_quant.backtest.walkforward import (
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
    sharpe,
    walk_forward,
)
from llmos_quant.errors import UsageError

DAYS = pd.bdate_range("2020-01-01", periods=400)


def regime_returns(seed: int = 0) -> dict[str, pd.Series]:
    """'a' earns in the first 200 sessions and loses after; 'b' the reverse; 'flat' is noise."""
    rng = np.random.default_rng(seed)
    first = np.arange(400) < 200
    noise = lambda: rng.normal(0, 0.01, 400)  # noqa: E731
    return {"a": pd.Series(np.where(first, 0.004, -0.004) + noise(), DAYS),
            "b": pd.Series(np.where(first, -0.004, 0.004) + noise(), DAYS),
            "flat": pd.Series(noise(), DAYS)}


def test_walk_forward_picks_the_in_sample_winner_and_stitches_its_out_of_sample_returns():
    rets = regime_returns()
    wf = walk_forward(rets, in_sample=100, out_sample=50, params={"a": {"k": 1}, "b": {"k": 2}, "flat": {"k": 0}})
    assert list(wf.folds["fold"]) == [1, 2, 3, 4, 5, 6]
    # folds whose in-sample window lies in the first regime choose 'a'; those wholly in the second choose 'b'
    assert list(wf.folds["chosen"][:2]) == ["a", "a"] and list(wf.folds["chosen"][-2:]) == ["b", "b"]
    assert list(wf.folds["k"][:2]) == [1, 1]
    # the stitched series is exactly the chosen combinations' returns on each out-of-sample window
    expected = pd.concat([rets[r.chosen].loc[r.oos_start:r.oos_end] for r in wf.folds.itertuples()])
    pd.testing.assert_series_equal(wf.oos_returns, expected, check_names=False)
    assert wf.oos_returns.index[0] == DAYS[100] and len(wf.oos_returns) == 300
    assert not wf.oos_returns.index.duplicated().any()
    # no look-ahead: every fold's in-sample window ends before its out-of-sample window starts
    assert (wf.folds["is_end"] < wf.folds["oos_start"]).all()
    s = wf.summary
    assert s["trials"] == 3 and s["folds"] == 6 and s["oos_sessions"] == 300
    # in sample the chosen combinations look better than they do out of sample (the regime switch costs a fold)
    assert s["mean_is_sharpe_of_chosen"] > s["oos_sharpe"]
    assert 0 <= s["best_full_window_deflated_sharpe"] <= 1


def test_walk_forward_does_not_see_the_future():
    """Changing returns after a fold's in-sample window cannot change that fold's choice."""
    rets = regime_returns()
    base = walk_forward(rets, 100, 50)
    changed = {k: v.copy() for k, v in rets.items()}
    changed["flat"].iloc[150:] += 0.05  # 'flat' becomes the best from session 150 on
    alt = walk_forward(changed, 100, 50)
    assert list(alt.folds["chosen"][:2]) == list(base.folds["chosen"][:2])  # folds choosing on sessions < 150
    assert alt.folds["chosen"].iloc[-1] == "flat"


def test_walk_forward_errors_name_the_fix():
    rets = regime_returns()
    with pytest.raises(UsageError, match="at least 2 parameter combinations"):
        walk_forward({"a": rets["a"]}, 100, 50)
    with pytest.raises(UsageError, match="needs at least 500 sessions"):
        walk_forward(rets, 400, 100)
    with pytest.raises(UsageError, match="in-sample >= 20"):
        walk_forward(rets, 5, 5)


def test_probabilistic_and_deflated_sharpe_match_the_formulas():
    rng = np.random.default_rng(1)
    r = pd.Series(rng.normal(0.0008, 0.01, 750))
    sr = r.mean() / r.std()
    skew, kurt = stats.skew(r), stats.kurtosis(r, fisher=False)
    psr = stats.norm.cdf(sr * math.sqrt(len(r) - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2))
    assert probabilistic_sharpe(r) == pytest.approx(psr)
    trials = [0.01, 0.03, -0.02, 0.05, 0.0, 0.02, 0.04, -0.01, 0.015, 0.025]
    v = np.var(trials, ddof=1)
    sr0 = math.sqrt(v) * ((1 - 0.5772156649015329) * stats.norm.ppf(1 - 1 / 10)
                          + 0.5772156649015329 * stats.norm.ppf(1 - 1 / (10 * math.e)))
    assert expected_max_sharpe(trials) == pytest.approx(sr0)
    assert deflated_sharpe(r, trials) == pytest.approx(probabilistic_sharpe(r, sr0))
    # more trials with the same spread raise the bar: the DSR falls
    assert deflated_sharpe(r, trials * 10) < deflated_sharpe(r, trials) < probabilistic_sharpe(r)
    assert expected_max_sharpe([0.02]) == 0.0  # one trial: nothing to deflate
    assert math.isnan(sharpe(pd.Series([0.01])))


def test_backtest_walk_forward_through_the_cli(tmp_path, capsys):
    from llmos_quant.cli.main import main

    store = str(tmp_path / "s.duckdb")
    assert main(["signals", "backfill", "--start", "2021-01-05", "--end", "2021-12-30", "--source", "synthetic",
                 "--backend", "lm", "--store", store, "--quiet"]) == 0
    out = tmp_path / "bt.html"
    code = main(["backtest", "--strategy", "sentiment_threshold", "--signals", store, "--prices", "synthetic",
                 "--sweep", "threshold=0.05,0.2,0.4", "--walk-forward", "60,30", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "walk-forward summary" in text and "deflated" in text
    folds = pd.read_csv(tmp_path / "bt.walk_forward_folds.csv")
    assert len(folds) >= 5 and set(folds["threshold"]) <= {0.05, 0.2, 0.4}
    returns = pd.read_csv(tmp_path / "bt.walk_forward_returns.csv", index_col=0, parse_dates=True)
    assert returns.index.is_monotonic_increasing and not returns.index.duplicated().any() and len(returns) > 100
    html = (tmp_path / "bt.walk_forward.html").read_text()
    assert "SYNTHETIC" in html and "López de Prado" in html
    assert main(["backtest", "--strategy", "sentiment_threshold", "--signals", store, "--prices", "synthetic",
                 "--walk-forward", "60,30", "--out", str(out)]) == 2  # no --sweep
    assert "add a grid" in capsys.readouterr().err
    assert main(["backtest", "--strategy", "sentiment_threshold", "--signals", store, "--prices", "synthetic",
                 "--sweep", "threshold=0.1,0.2", "--walk-forward", "sixty", "--out", str(out)]) == 2
    assert "IN,OUT" in capsys.readouterr().err
