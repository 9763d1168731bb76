"""Cross-sectional factor vocabulary over plain pandas (date, asset) frames (zipline-Pipeline style).

Every function takes a factor Series indexed ``(date, asset)`` (a one-column frame is accepted) and
works per date, optionally within groups (``groupby``: a Series with the same index, or a dict
asset -> group). NaNs stay NaN and are excluded from the statistics.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import ValidationError
from ..signals.aggregate import validate_signals

GroupBy = pd.Series | Mapping[str, str] | None


def as_factor(factor: pd.Series | pd.DataFrame, name: str = "factor") -> pd.Series:
    """The one validator for factor input: a float Series indexed (date, asset), sorted, tz-naive."""
    if isinstance(factor, pd.DataFrame):
        if factor.shape[1] != 1:
            raise ValidationError(f"{name}: pass a Series or a one-column frame, got columns {list(factor.columns)}")
        factor = factor.iloc[:, 0]
    if not isinstance(factor, pd.Series):
        raise ValidationError(f"{name} must be a pandas Series indexed (date, asset), got {type(factor).__name__}")
    factor = validate_signals(factor, name=name)
    if not pd.api.types.is_numeric_dtype(factor):
        raise ValidationError(f"{name} must be numeric, got dtype {factor.dtype}")
    return factor.astype(float)


def _keys(factor: pd.Series, groupby: GroupBy) -> list:
    keys = [factor.index.get_level_values("date")]
    if groupby is not None:
        if isinstance(groupby, Mapping):
            assets = factor.index.get_level_values("asset")
            missing = sorted(set(assets) - set(groupby))
            if missing:
                raise ValidationError(f"groupby mapping lacks assets {missing[:10]}; give every asset a group")
            keys.append(pd.Index(assets).map(groupby))
        else:
            keys.append(groupby.reindex(factor.index).to_numpy())
    return keys


def rank(factor: pd.Series, groupby: GroupBy = None, pct: bool = False, ascending: bool = True) -> pd.Series:
    """Cross-sectional rank (average ties; 1..n, or (0, 1] with pct=True)."""
    f = as_factor(factor)
    return f.groupby(_keys(f, groupby)).rank(method="average", pct=pct, ascending=ascending)


def demean(factor: pd.Series, groupby: GroupBy = None) -> pd.Series:
    f = as_factor(factor)
    return f - f.groupby(_keys(f, groupby)).transform("mean")


def zscore(factor: pd.Series, groupby: GroupBy = None) -> pd.Series:
    """(x - mean) / std (sample std, ddof=1) per date (and group); NaN where std is 0 or undefined."""
    f = as_factor(factor)
    g = f.groupby(_keys(f, groupby))
    std = g.transform("std")
    return (f - g.transform("mean")) / std.where(std > 0)


def winsorize(factor: pd.Series, lower: float = 0.01, upper: float = 0.99, groupby: GroupBy = None) -> pd.Series:
    """Clip each date's values to its [lower, upper] quantiles (linear interpolation)."""
    if not 0 <= lower < upper <= 1:
        raise ValidationError(f"need 0 <= lower < upper <= 1, got lower={lower}, upper={upper}")
    f = as_factor(factor)
    g = f.groupby(_keys(f, groupby))
    return f.clip(g.transform(lambda x: x.quantile(lower)), g.transform(lambda x: x.quantile(upper)))


def quantiles(factor: pd.Series, n: int = 5, groupby: GroupBy = None, ties: str = "drop") -> pd.Series:
    """Equal-count buckets 1..n per date (and group), identical to ``pd.qcut(x, n, labels=False) + 1``.

    Vectorised: each date's bucket edges are the linear-interpolated quantiles; a value falls in bucket
    k when edge[k-1] < x <= edge[k] (the lowest edge included). Dates whose edges are not unique (many
    tied values): ``ties='drop'`` gives NaN, as alphalens' ``no_raise`` does; ``ties='rank'`` buckets
    those dates by order of appearance among ties (``rank(method='first')``), so they are kept.
    """
    if ties not in ("drop", "rank"):
        raise ValidationError(f"ties must be 'drop' or 'rank', got {ties!r}")
    if n < 2:
        raise ValidationError(f"n must be >= 2 quantiles, got {n}")
    f = as_factor(factor).dropna()
    if groupby is not None:
        keys = _keys(f, groupby)
        return f.groupby(keys, group_keys=False).apply(lambda x: _qcut_series(x, n)).reindex(f.index)
    wide = f.unstack("asset")
    values = wide.to_numpy()
    bucket, unique = _buckets(values, n)
    if ties == "rank" and not unique.all():
        ranked, _ = _buckets(wide.rank(axis=1, method="first").to_numpy(), n)
        bucket[~unique] = ranked[~unique]
    out = pd.DataFrame(bucket, index=wide.index, columns=wide.columns).stack(future_stack=True)
    return out.reindex(f.index).rename("factor_quantile")


def row_quantiles(values: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Linear-interpolated quantiles of each row, ignoring NaN (= np.nanquantile(values, probs, axis=1).T)."""
    srt = np.sort(values, axis=1)  # NaN last
    n = np.isfinite(values).sum(axis=1)  # (rows,)
    pos = probs[None, :] * np.maximum(n - 1, 0)[:, None]  # (rows, k)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0)[:, None])
    rows = np.arange(values.shape[0])[:, None]
    a, b = srt[rows, lo], srt[rows, hi]
    out = a + (b - a) * (pos - lo)
    out[np.isclose(pos, lo)] = a[np.isclose(pos, lo)]
    out[n == 0] = np.nan
    return out


def _buckets(values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """qcut buckets per row of a (dates, assets) array; NaN where the value is NaN or the row's edges tie."""
    edges = row_quantiles(values, np.linspace(0, 1, n + 1))  # (dates, n+1)
    inner = edges[:, 1:-1]
    bucket = (values[:, :, None] > inner[:, None, :]).sum(axis=2) + 1.0  # (dates, assets)
    unique = (np.diff(edges, axis=1) > 0).all(axis=1)
    bucket[~np.isfinite(values) | ~unique[:, None]] = np.nan
    return bucket, unique


def _qcut_series(x: pd.Series, n: int) -> pd.Series:
    try:
        return pd.qcut(x, n, labels=False) + 1.0
    except ValueError:
        return pd.Series(np.nan, index=x.index)


def neutralize(factor: pd.Series, exposures: pd.DataFrame, add_intercept: bool = True) -> pd.Series:
    """Residual of a per-date OLS of the factor on ``exposures`` (same (date, asset) index; e.g. beta,
    log size, 5-day momentum). Rows with any NaN are left NaN; dates with fewer rows than regressors + 2
    are NaN."""
    f = as_factor(factor)
    x = validate_signals(exposures, name="exposures", columns=())
    joined = pd.concat([f.rename("__y"), x.reindex(f.index)], axis=1).dropna()
    out = pd.Series(np.nan, index=f.index)
    cols = list(x.columns)
    for _, grp in joined.groupby(level="date"):
        X = grp[cols].to_numpy()
        if add_intercept:
            X = np.column_stack([np.ones(len(X)), X])
        if len(grp) < X.shape[1] + 2:
            continue
        beta, *_ = np.linalg.lstsq(X, grp["__y"].to_numpy(), rcond=None)
        out.loc[grp.index] = grp["__y"].to_numpy() - X @ beta
    return out.rename(f.name)


def combine(factors: Mapping[str, pd.Series], weights: Mapping[str, float] | None = None,
            method: str = "zscore") -> pd.Series:
    """Weighted sum of standardised factors (``zscore`` or ``rank`` pct per date); NaN-aware average."""
    if not factors:
        raise ValidationError("combine() needs at least one factor")
    weights = weights or {k: 1.0 for k in factors}
    if set(weights) != set(factors):
        raise ValidationError(f"weights keys {sorted(weights)} != factor names {sorted(factors)}")
    std = {"zscore": zscore, "rank": lambda f: rank(f, pct=True)}
    if method not in std:
        raise ValidationError(f"method must be 'zscore' or 'rank', got {method!r}")
    parts = pd.concat({k: std[method](v) * weights[k] for k, v in factors.items()}, axis=1)
    wsum = parts.notna().mul(pd.Series(weights)).abs().sum(axis=1)
    return (parts.sum(axis=1, min_count=1) / wsum.where(wsum > 0)).rename("combined")


def standard_exposures(prices: pd.DataFrame, beta_window: int = 60, momentum_window: int = 5) -> pd.DataFrame:
    """Common risk exposures per (date, asset), each known at D's close (no look-ahead):

    - ``beta``: rolling ``beta_window``-session OLS beta of close-to-close returns on the equal-weight
      market return;
    - ``size``: log of the 20-session mean dollar volume (a liquidity/size proxy when market caps are absent);
    - ``momentum``: ``momentum_window``-session close-to-close return.

    Use with ``neutralize(factor, standard_exposures(prices))``.
    """
    from ..data.prices import validate_prices

    prices = validate_prices(prices)
    close = prices["close"].unstack("asset")
    ret = close.pct_change(fill_method=None)
    market = ret.mean(axis=1)
    cov = ret.rolling(beta_window, min_periods=beta_window // 2).cov(market)
    var = market.rolling(beta_window, min_periods=beta_window // 2).var()
    beta = cov.div(var, axis=0)
    dollar = (prices["close"] * prices["volume"]).unstack("asset").rolling(20, min_periods=5).mean()
    size = np.log(dollar.where(dollar > 0))
    mom = close / close.shift(momentum_window) - 1
    out = pd.concat({"beta": beta.stack(), "size": size.stack(), "momentum": mom.stack()}, axis=1)
    out.index = out.index.set_names(["date", "asset"])
    return out.sort_index()
