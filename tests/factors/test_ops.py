from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmos_quant.errors import ValidationError
from llmos_quant.factors.ops import combine, demean, neutralize, quantiles, rank, winsorize, zscore


def frame(values: dict[str, list[float]]) -> pd.Series:
    dates = pd.to_datetime(["2020-01-02", "2020-01-03"])
    idx = pd.MultiIndex.from_product([dates, list(values)], names=["date", "asset"])
    data = [values[a][i] for i in range(2) for a in values]
    return pd.Series(data, index=idx, dtype=float)


F = frame({"A": [1.0, 4.0], "B": [2.0, 4.0], "C": [3.0, np.nan], "D": [10.0, 1.0]})
GROUPS = {"A": "tech", "B": "tech", "C": "bank", "D": "bank"}


def test_rank_demean_zscore_by_hand():
    r = rank(F)
    assert r.xs("2020-01-02").tolist() == [1, 2, 3, 4]
    assert r.xs("2020-01-03").dropna().tolist() == [2.5, 2.5, 1]  # ties averaged, NaN stays NaN
    assert np.isnan(r.loc[("2020-01-03", "C")])
    assert demean(F).xs("2020-01-02").tolist() == [-3, -2, -1, 6]
    z = zscore(F).xs("2020-01-02")
    std = np.std([1, 2, 3, 10], ddof=1)
    assert z.tolist() == pytest.approx([(1 - 4) / std, (2 - 4) / std, (3 - 4) / std, (10 - 4) / std])
    g = demean(F, groupby=GROUPS).xs("2020-01-02")
    assert g.tolist() == [-0.5, 0.5, -3.5, 3.5]


def test_winsorize_clips_to_quantiles():
    s = frame({a: [float(i), float(i)] for i, a in enumerate("ABCDEFGHIJ")})
    w = winsorize(s, 0.1, 0.9).xs("2020-01-02")
    assert w.min() == pytest.approx(0.9) and w.max() == pytest.approx(8.1)
    with pytest.raises(ValidationError):
        winsorize(s, 0.9, 0.1)


def test_quantiles_equal_qcut_and_groupby():
    rng = np.random.default_rng(0)
    idx = pd.MultiIndex.from_product([pd.bdate_range("2020-01-01", periods=30), [f"S{i}" for i in range(37)]],
                                     names=["date", "asset"])
    s = pd.Series(rng.normal(size=len(idx)), index=idx)
    s.iloc[::11] = np.nan
    ours = quantiles(s, 5)
    ref = s.dropna().groupby(level="date", group_keys=False).apply(lambda x: pd.qcut(x, 5, labels=False) + 1)
    assert ours.reindex(ref.index).equals(ref.astype(float))
    by = quantiles(F, 2, groupby=GROUPS).xs("2020-01-02")
    assert by.tolist() == [1, 2, 1, 2]
    with pytest.raises(ValidationError, match="n must be"):
        quantiles(s, 1)


def test_neutralize_removes_exposure():
    rng = np.random.default_rng(1)
    idx = pd.MultiIndex.from_product([pd.bdate_range("2020-01-01", periods=5), [f"S{i}" for i in range(50)]],
                                     names=["date", "asset"])
    beta = pd.Series(rng.normal(size=len(idx)), index=idx)
    f = 2 * beta + rng.normal(scale=0.1, size=len(idx))
    res = neutralize(f, beta.to_frame("beta"))
    for _, grp in res.groupby(level="date"):
        b = beta.loc[grp.index]
        assert abs(np.corrcoef(grp, b)[0, 1]) < 1e-8
        assert abs(grp.mean()) < 1e-10


def test_combine_and_validation():
    c = combine({"x": F, "y": -F}, weights={"x": 1.0, "y": 1.0})
    assert c.dropna().abs().max() < 1e-12
    with pytest.raises(ValidationError, match="weights keys"):
        combine({"x": F}, weights={"z": 1.0})
    with pytest.raises(ValidationError, match="Series indexed"):
        rank([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="MultiIndex"):
        rank(pd.Series([1.0], index=pd.Index(["A"], name="asset")))


def test_quantiles_with_ties_drop_or_rank():
    s = frame({"A": [1.0, 1.0], "B": [1.0, 2.0], "C": [1.0, 3.0], "D": [2.0, 4.0]})
    dropped = quantiles(s, 2)
    assert dropped.xs("2020-01-02").isna().all()  # edges (1, 1, 2) tie
    assert dropped.xs("2020-01-03").tolist() == [1, 1, 2, 2]
    ranked = quantiles(s, 2, ties="rank")
    assert ranked.xs("2020-01-02").tolist() == [1, 1, 2, 2]


def test_standard_exposures_and_neutralize(market):
    from llmos_quant.factors.ops import standard_exposures

    exp = standard_exposures(market.prices, beta_window=20)
    assert list(exp.columns) == ["beta", "size", "momentum"]
    close = market.prices["close"].unstack("asset")
    d, a = close.index[10], close.columns[0]
    assert exp.loc[(d, a), "momentum"] == pytest.approx(close.loc[d, a] / close.iloc[5][a] - 1)
    # a factor that is pure momentum is fully removed by neutralisation
    f = exp["momentum"].dropna() * 3.0
    res = neutralize(f, exp[["momentum"]])
    assert res.dropna().abs().max() < 1e-10
