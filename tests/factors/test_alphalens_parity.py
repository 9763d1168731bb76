"""Our numbers equal alphalens-reloaded's on the same inputs (alphalens is a test-only dependency)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from llmos_quant.factors import evaluate as ev
from tests.conftest import random_factor

al = pytest.importorskip("alphalens")


@pytest.fixture(scope="module")
def setup(market):
    f = random_factor(market.prices.index, seed=4)
    f = f.drop(f.sample(frac=0.2, random_state=0).index)  # gaps
    px = ev.entry_prices(market.prices)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fd = al.utils.get_clean_factor_and_forward_returns(f, px, quantiles=5, periods=(1, 5, 10),
                                                           filter_zscore=None, max_loss=1.0)
    ours = ev.clean_factor_data(f, market.prices, periods=(1, 5, 10), n_quantiles=5)
    return fd, ours


def test_clean_frame_equal(setup):
    fd, ours = setup
    assert fd.index.equals(ours.index)
    np.testing.assert_allclose(fd[["1D", "5D", "10D", "factor"]].to_numpy(), ours[["1D", "5D", "10D", "factor"]].to_numpy(),
                               atol=1e-12)
    assert (fd["factor_quantile"].to_numpy() == ours["factor_quantile"].to_numpy()).all()


def test_ic_equal(setup):
    fd, ours = setup
    ref = al.performance.factor_information_coefficient(fd)
    got = ev.information_coefficient(ours)
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), atol=1e-9)


def test_mean_return_by_quantile_equal(setup):
    fd, ours = setup
    ref_m, ref_se = al.performance.mean_return_by_quantile(fd)
    m, se = ev.mean_return_by_quantile(ours)
    np.testing.assert_allclose(m.to_numpy(), ref_m.to_numpy(), atol=1e-9)
    np.testing.assert_allclose(se.to_numpy(), ref_se.to_numpy(), atol=1e-9)
    ref_md, _ = al.performance.mean_return_by_quantile(fd, by_date=True)
    md, _ = ev.mean_return_by_quantile(ours, by_date=True)
    np.testing.assert_allclose(md.to_numpy(), ref_md.to_numpy(), atol=1e-9)


def test_factor_returns_equal(setup):
    fd, ours = setup
    ref = al.performance.factor_returns(fd)
    got = ev.factor_returns(ours)
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), atol=1e-9)
    assert pd.DatetimeIndex(got.index).equals(pd.DatetimeIndex(ref.index))


def test_dropped_fraction_and_max_loss_equal(setup, market):
    fd, ours = setup
    f = random_factor(market.prices.index, seed=4)
    f = f.drop(f.sample(frac=0.2, random_state=0).index)
    _, counts = ev.clean_factor_counts(f, market.prices, periods=(1, 5, 10), n_quantiles=5)
    assert counts.no_factor_value == 0 and counts.kept == len(fd) == len(ours)
    loss = (len(f) - len(fd)) / len(f)  # alphalens' tot_loss
    assert counts.dropped_fraction == pytest.approx(loss, abs=1e-12) and loss > 0.1
    px = ev.entry_prices(market.prices)
    for limit in (loss - 0.01, loss + 0.01):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                al.utils.get_clean_factor_and_forward_returns(f, px, quantiles=5, periods=(1, 5, 10), filter_zscore=None,
                                                              max_loss=limit)
                theirs = False
            except al.utils.MaxLossExceededError:
                theirs = True
        try:
            ev.clean_factor_data(f, market.prices, periods=(1, 5, 10), n_quantiles=5, max_loss=limit)
            mine = False
        except ev.MaxLossExceededError:
            mine = True
        assert mine == theirs == (limit < loss)
