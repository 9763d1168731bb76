"""Factor evaluation: forward returns, IC, quantile returns, long-short returns, turnover, costs, coverage.

Conventions (the same as alphalens-reloaded, so the numbers match it to 1e-9 on the same inputs):

- A factor value dated D trades at the next session's open: the ``p``-day forward return of D is
  ``open[D+1+p] / open[D+1] - 1`` (``price_field`` and ``from_next_session`` change this). Prices are
  forward-filled per asset before the returns are taken, as alphalens does; the kept rows that use a filled
  price are counted (``FactorRowCounts.kept_with_filled_price``) and logged.
- The *clean* factor frame keeps the (date, asset) rows with a finite factor and every forward return
  known, and adds ``factor_quantile`` (equal-count buckets per date, ``pd.qcut`` semantics). The rows it
  drops are counted by reason (``FactorRowCounts``); as alphalens' ``max_loss``, ``evaluate_factor`` raises
  ``MaxLossExceededError`` when more than ``max_loss`` (default 0.35) of the rows with a factor value are
  dropped (alphalens also counts NaN factor values as lost; here they are reported apart and not counted).
- IC is per-date Spearman rank correlation (``rank_ic``; alphalens' IC) or Pearson (``ic``).
- Quantile mean returns are demeaned per date, averaged per (quantile, date), then over dates; the
  standard error is the std across dates / sqrt(number of dates).
- Factor-weighted long-short returns use weights (f - mean_D f) / sum |f - mean_D f| (gross 1).
- ``returns="market"`` / ``"sector"`` (not in alphalens; default ``"raw"``) subtract, per date, the equal-weight
  mean forward return of every priced asset (of the asset's sector, ``sectors=``) before any metric
  (``abnormal_forward_returns``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..data.prices import validate_prices
from ..errors import MaxLossExceededError, UsageError, ValidationError
from .ops import GroupBy, _buckets, _keys, as_factor, quantiles

log = logging.getLogger(__name__)


def period_columns(periods: Sequence[int]) -> list[str]:
    return [f"{int(p)}D" for p in periods]


def to_wide(series: pd.Series) -> pd.DataFrame:
    """(date x asset) frame of a (date, asset) Series with sorted axes; fast path through the index codes."""
    from ..signals.aggregate import level_ranks

    idx = series.index
    lv0, lv1 = idx.levels
    r0, r1 = level_ranks(lv0)[idx.codes[0]], level_ranks(lv1)[idx.codes[1]]
    used0, inv0 = np.unique(r0, return_inverse=True)
    used1, inv1 = np.unique(r1, return_inverse=True)
    out = np.full((len(used0), len(used1)), np.nan)
    out[inv0, inv1] = series.to_numpy(dtype=float)
    dates = lv0[np.argsort(lv0, kind="stable")][used0]
    assets = lv1[np.argsort(lv1, kind="stable")][used1]
    return pd.DataFrame(out, index=pd.DatetimeIndex(dates, name="date"), columns=pd.Index(assets, name="asset"))


def entry_prices(prices: pd.DataFrame, price_field: str = "open", from_next_session: bool = True) -> pd.DataFrame:
    """Wide (date x asset) prices at which a signal dated D is traded (D+1's open by default).

    The last date is dropped when shifting, since its next session is not in the data.
    """
    prices = validate_prices(prices)
    if price_field not in prices.columns:
        raise ValidationError(f"price_field {price_field!r} not in prices columns {list(prices.columns)}")
    wide = to_wide(prices[price_field])
    if from_next_session:
        wide = wide.shift(-1).iloc[:-1]
    return wide


def forward_returns(prices: pd.DataFrame, periods: Sequence[int] = (1, 5, 10), price_field: str = "open",
                    from_next_session: bool = True) -> pd.DataFrame:
    """(date, asset) frame of forward returns, one column per period ("1D", "5D", ...)."""
    if not periods or any(int(p) < 1 for p in periods):
        raise ValidationError(f"periods must be positive integers, got {list(periods)}")
    wide = entry_prices(prices, price_field, from_next_session).ffill()
    cols = {}
    for p in sorted(int(x) for x in periods):
        cols[f"{p}D"] = (wide / wide.shift(p) - 1.0).shift(-p).stack(future_stack=True)
    out = pd.DataFrame(cols)
    out.index = out.index.set_names(["date", "asset"])
    return out


RETURNS = ("raw", "market", "sector")


def _check_returns(returns: str, sectors: Mapping[str, str] | pd.Series | None) -> None:
    if returns not in RETURNS:
        raise UsageError(f"returns must be one of {list(RETURNS)}, got {returns!r}")
    if returns == "sector" and sectors is None:
        raise UsageError("returns='sector' needs sectors=: a mapping or Series asset -> sector")


def _sector_of(sectors: Mapping[str, str] | pd.Series, assets: pd.Index) -> np.ndarray:
    s = sectors if isinstance(sectors, pd.Series) else pd.Series(dict(sectors), dtype=object)
    return s.reindex(assets).to_numpy(dtype=object)


def _benchmark(fwd: np.ndarray, returns: str, sector_of: np.ndarray | None) -> np.ndarray:
    """(dates x assets) benchmark of a (dates x assets) return array: the row's equal-weight mean over the finite
    values (``market``) or over the asset's sector (``sector``; NaN for assets without a sector)."""
    out = np.full_like(fwd, np.nan)
    finite = np.isfinite(fwd)
    with np.errstate(invalid="ignore", divide="ignore"):
        if returns == "market":
            mean = np.where(finite, fwd, 0.0).sum(axis=1) / finite.sum(axis=1)
            out[:] = mean[:, None]
        else:
            assert sector_of is not None
            for sec in pd.unique(sector_of[pd.notna(sector_of)]):
                cols = sector_of == sec
                x, ok = fwd[:, cols], finite[:, cols]
                out[:, cols] = (np.where(ok, x, 0.0).sum(axis=1) / ok.sum(axis=1))[:, None]
    return out


def abnormal_forward_returns(prices: pd.DataFrame, periods: Sequence[int] = (1, 5, 10), price_field: str = "open",
                             from_next_session: bool = True, returns: str = "market",
                             sectors: Mapping[str, str] | pd.Series | None = None) -> pd.DataFrame:
    """``forward_returns`` minus, per date and period, the equal-weight mean forward return of every asset priced
    that date (``returns="market"``) or of the asset's sector (``"sector"`` with ``sectors`` asset -> sector;
    assets without a sector get NaN). ``"raw"`` is ``forward_returns``."""
    _check_returns(returns, sectors)
    fwd = forward_returns(prices, periods, price_field, from_next_session)
    if returns == "raw":
        return fwd
    out = {}
    sector_of = None
    for c in fwd.columns:
        wide = to_wide(fwd[c])
        if returns == "sector":
            sector_of = _sector_of(sectors, wide.columns)  # type: ignore[arg-type]
        x = wide.to_numpy(dtype=float)
        out[c] = pd.DataFrame(x - _benchmark(x, returns, sector_of), index=wide.index,
                              columns=wide.columns).stack(future_stack=True)
    res = pd.DataFrame(out).reindex(fwd.index)
    res.index = res.index.set_names(["date", "asset"])
    return res


@dataclass(frozen=True)
class FactorRowCounts:
    """What happened to the factor's (date, asset) rows on the way to the clean frame.

    ``rows_in`` = ``no_factor_value`` (NaN/inf factor, not counted as a loss) + ``with_factor``;
    ``with_factor`` = ``no_price`` (the date is not a price session, the asset has no prices, or no price yet
    at entry) + ``no_forward_return`` (the horizon runs past the price history) + ``binning`` (no quantile:
    tied edges with ``ties='drop'``) + ``no_group`` (no group label) + ``kept``. Of the kept rows,
    ``kept_with_filled_price`` have an entry or exit price that was missing and carried forward from the asset's
    last earlier session (alphalens' convention; counted here because it is a fill, not a quote).
    """

    rows_in: int
    no_factor_value: int
    no_price: int
    no_forward_return: int
    binning: int
    no_group: int
    kept: int
    assets_without_prices: tuple[str, ...] = ()
    kept_with_filled_price: int = 0  # kept rows whose entry or an exit price was forward-filled (a missing price)

    @property
    def with_factor(self) -> int:
        return self.rows_in - self.no_factor_value

    @property
    def dropped(self) -> int:
        return self.no_price + self.no_forward_return + self.binning + self.no_group

    @property
    def dropped_fraction(self) -> float:
        return self.dropped / self.with_factor if self.with_factor else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["assets_without_prices"] = list(self.assets_without_prices)
        d.update(with_factor=self.with_factor, dropped=self.dropped, dropped_fraction=self.dropped_fraction)
        return d

    def table(self) -> pd.DataFrame:
        """One row per count (rows in, dropped by reason, kept) for reports."""
        rows = [("rows in", self.rows_in), ("no factor value (NaN/inf; not a loss)", self.no_factor_value),
                ("rows with a factor value", self.with_factor), ("dropped: no price for the asset/date", self.no_price),
                ("dropped: no forward return (past the price history)", self.no_forward_return),
                ("dropped: no quantile (tied edges)", self.binning), ("dropped: no group", self.no_group),
                ("kept", self.kept),
                ("kept, with a forward-filled entry or exit price (missing price)", self.kept_with_filled_price),
                ("dropped fraction (of rows with a factor value)", round(self.dropped_fraction, 4))]
        return pd.DataFrame(rows, columns=["rows", "count"]).set_index("rows")

    def check(self, max_loss: float) -> None:
        """``MaxLossExceededError`` when ``dropped_fraction`` exceeds ``max_loss``."""
        if self.dropped_fraction <= max_loss:
            return
        unpriced = (f" (assets without prices e.g. {list(self.assets_without_prices[:5])})"
                    if self.assets_without_prices else "")
        suggestion = min(1.0, np.ceil(self.dropped_fraction * 100) / 100)
        raise MaxLossExceededError(
            f"factor evaluation would drop {self.dropped:,} of the {self.with_factor:,} factor rows with a value "
            f"({self.dropped_fraction:.1%}), above max_loss={max_loss:g} ({max_loss:.0%}): {self.no_price:,} have no price "
            f"for the asset/date{unpriced}, {self.no_forward_return:,} no forward return (the horizon runs past the "
            f"price history), {self.binning:,} no quantile, {self.no_group:,} no group; {self.kept:,} kept. Check that the "
            "prices cover the signals' assets and dates (through the last signal date plus the longest period), "
            f"or accept the loss with --max-loss {suggestion:g} (max_loss={suggestion:g} in Python; 1 turns the check off)")


def clean_factor_data(factor: pd.Series, prices: pd.DataFrame, periods: Sequence[int] = (1, 5, 10),
                      n_quantiles: int = 5, price_field: str = "open", from_next_session: bool = True,
                      groupby: GroupBy = None, quantiles_by_group: bool = False, ties: str = "drop",
                      max_loss: float | None = None, returns: str = "raw",
                      sectors: Mapping[str, str] | pd.Series | None = None) -> pd.DataFrame:
    """Factor, forward returns, quantile (and group) per (date, asset): the frame every metric uses.

    ``ties='drop'`` (alphalens behaviour) drops dates whose quantile edges are not unique; ``ties='rank'``
    keeps them (see ``ops.quantiles``). Computed on dense (date x asset) arrays, stacked once at the end.
    ``max_loss`` (None: no check) raises ``MaxLossExceededError`` above that dropped fraction;
    ``clean_factor_counts`` also returns the counts. ``returns="market"`` / ``"sector"`` subtract the per-date
    equal-weight mean forward return of all priced assets (of the asset's sector in ``sectors``; factor rows of
    assets without a sector are dropped and counted as ``no_group``) from the forward return columns.
    """
    return clean_factor_counts(factor, prices, periods, n_quantiles, price_field, from_next_session, groupby,
                               quantiles_by_group, ties, max_loss, returns, sectors)[0]


def _span(dates: pd.Index) -> str:
    """``first..last`` as dates, or ``no dates`` (instead of NaT..NaT)."""
    return f"{dates.min().date()}..{dates.max().date()}" if len(dates) else "no dates"


def _check_max_loss(max_loss: float | None) -> None:
    if max_loss is None:
        return
    if isinstance(max_loss, bool) or not isinstance(max_loss, int | float) or not 0 <= max_loss <= 1:
        raise UsageError(f"max_loss must be a fraction between 0 and 1, got {max_loss!r}; e.g. max_loss=0.35 "
                         "(the default) or max_loss=1.0 to accept any loss")


def clean_factor_counts(factor: pd.Series, prices: pd.DataFrame, periods: Sequence[int] = (1, 5, 10),
                        n_quantiles: int = 5, price_field: str = "open", from_next_session: bool = True,
                        groupby: GroupBy = None, quantiles_by_group: bool = False, ties: str = "drop",
                        max_loss: float | None = None, returns: str = "raw",
                        sectors: Mapping[str, str] | pd.Series | None = None) -> tuple[pd.DataFrame, FactorRowCounts]:
    """``clean_factor_data`` and the ``FactorRowCounts`` of the rows it kept and dropped (by reason)."""
    if not periods or any(int(p) < 1 for p in periods):
        raise ValidationError(f"periods must be positive integers, got {list(periods)}")
    _check_max_loss(max_loss)
    _check_returns(returns, sectors)
    f = as_factor(factor)
    fw = to_wide(f)
    raw = entry_prices(prices, price_field, from_next_session)
    px = raw.ffill()
    dates = fw.index.intersection(px.index)
    assets = fw.columns
    if len(dates) == 0:
        raise ValidationError(
            f"no (date, asset) row has a factor value and prices: the factor's dates ({_span(fw.index)}) are not "
            f"sessions of the price history ({_span(px.index)}); pass prices that cover the factor's dates")
    F = fw.reindex(dates).to_numpy(dtype=float)
    P = px.reindex(columns=assets).to_numpy(dtype=float)
    where = px.index.get_indexer(dates)
    cols = {}
    mask = np.isfinite(F)
    if returns != "raw":  # benchmark over every priced asset, not only the factor's
        P_all = px.to_numpy(dtype=float)
        sector_all = _sector_of(sectors, px.columns) if returns == "sector" else None  # type: ignore[arg-type]
        in_px = px.columns.get_indexer(assets)
    filled = (raw.isna() & px.notna()).reindex(columns=assets, fill_value=False).to_numpy(dtype=bool)
    uses_fill = filled[where].copy()  # the entry price was carried forward from an earlier session ...
    for p in sorted(int(x) for x in periods):
        later = np.zeros_like(filled)
        later[:-p] = filled[p:]
        uses_fill |= later[where]  # ... or an exit price was
        fwd = np.full_like(P, np.nan)
        fwd[:-p] = P[p:] / P[:-p] - 1.0  # row t: price[t+p] / price[t] - 1
        if returns != "raw":
            fwd_all = np.full_like(P_all, np.nan)
            fwd_all[:-p] = P_all[p:] / P_all[:-p] - 1.0
            bench = _benchmark(fwd_all, returns, sector_all)
            bench_f = np.where(in_px[None, :] >= 0, bench[:, np.maximum(in_px, 0)], np.nan)
            if returns == "sector":  # rows without a sector are counted as no_group, not as no forward return
                bench_f = np.where(np.isfinite(fwd) & ~np.isfinite(bench_f), 0.0, bench_f)
            fwd = fwd - bench_f
        cols[f"{p}D"] = fwd[where]
        mask &= np.isfinite(cols[f"{p}D"])
    # Counts of the finite factor rows the grid loses, by reason (before quantiles).
    finite_all = np.isfinite(fw.to_numpy(dtype=float))
    sessions = pd.DatetimeIndex(prices.index.get_level_values("date").unique())
    in_sessions = fw.index.isin(sessions)[:, None]
    priced = assets.isin(px.columns)[None, :]
    in_grid = fw.index.isin(px.index)[:, None]
    no_price = int((finite_all & (~in_sessions | ~priced)).sum())
    no_fwd = int((finite_all & in_sessions & priced & ~in_grid).sum())  # the last session when trading at D+1
    finite_grid = np.isfinite(F)
    entry_ok = np.isfinite(P[where])
    no_price += int((finite_grid & priced & ~entry_ok).sum())
    no_fwd += int((finite_grid & entry_ok & ~mask).sum())
    no_group = 0
    if returns == "sector":
        has_sector = pd.notna(_sector_of(sectors, assets)).astype(bool)[None, :]  # type: ignore[arg-type]
        no_group = int((mask & ~has_sector).sum())
        mask &= has_sector
    before_binning = int(mask.sum())
    if groupby is not None and quantiles_by_group:
        q_long = None
    else:
        Fm = np.where(mask, F, np.nan)
        Q, unique = _buckets(Fm, n_quantiles)
        if ties == "rank" and not unique.all():
            ranked, _ = _buckets(pd.DataFrame(Fm).rank(axis=1, method="first").to_numpy(), n_quantiles)
            Q[~unique] = ranked[~unique]
        elif ties not in ("drop", "rank"):
            raise ValidationError(f"ties must be 'drop' or 'rank', got {ties!r}")
        q_long = Q
        mask &= np.isfinite(Q)
    binning = before_binning - int(mask.sum())
    i, j = np.nonzero(mask)
    index = pd.MultiIndex(levels=[pd.DatetimeIndex(dates, name="date"), pd.Index(assets, name="asset")],
                          codes=[i, j], names=["date", "asset"], verify_integrity=False)
    data = pd.DataFrame({c: v[i, j] for c, v in cols.items()}, index=index)
    data["factor"] = F[i, j]
    if groupby is not None:
        data["group"] = _keys(data["factor"], groupby)[1]
        n = len(data)
        data = data.dropna(subset=["group"])
        no_group += n - len(data)
    if q_long is not None:
        data["factor_quantile"] = q_long[data.index.codes[0], data.index.codes[1]]
    else:
        data["factor_quantile"] = quantiles(data["factor"], n_quantiles, groupby=data["group"], ties=ties)
        n = len(data)
        data = data.dropna(subset=["factor_quantile"])
        binning += n - len(data)
    unpriced = tuple(str(a) for a in assets[~assets.isin(px.columns) & finite_all.any(axis=0)])
    counts = FactorRowCounts(rows_in=len(f), no_factor_value=int(len(f) - finite_all.sum()), no_price=no_price,
                             no_forward_return=no_fwd, binning=binning, no_group=no_group, kept=len(data),
                             assets_without_prices=unpriced,
                             kept_with_filled_price=int(uses_fill[data.index.codes[0], data.index.codes[1]].sum()))
    if counts.kept_with_filled_price:
        log.warning("%d of the %d kept factor rows use a forward-filled %s price (the asset had no %s that session; "
                    "the last earlier one is carried, as alphalens does)", counts.kept_with_filled_price, counts.kept,
                    price_field, price_field)
    if max_loss is not None:
        counts.check(max_loss)
    if data.empty:
        raise ValidationError(
            "no (date, asset) row has a factor value, all forward returns and a quantile; check that factor dates "
            "are trading sessions inside the price history, that the assets match the price frame's assets, and "
            f"that dates have {n_quantiles} distinct quantile edges (else use ties='rank' or fewer quantiles)")
    return data, counts


def _returns_cols(data: pd.DataFrame) -> list[str]:
    return [c for c in data.columns if c.endswith("D") and c[:-1].isdigit()]


def _dense(data: pd.DataFrame, column: str) -> np.ndarray:
    """(dates x assets) array of a column of a (date, asset) frame, NaN where a row is absent."""
    codes = data.index.codes
    levels = data.index.levels
    out = np.full((len(levels[0]), len(levels[1])), np.nan)
    out[codes[0], codes[1]] = data[column].to_numpy(dtype=float)
    return out


def information_coefficient(data: pd.DataFrame, method: str = "spearman") -> pd.DataFrame:
    """Per-date correlation of factor and each forward return (date x period)."""
    if method not in ("spearman", "pearson"):
        raise ValidationError(f"method must be 'spearman' or 'pearson', got {method!r}")
    cols = _returns_cols(data)
    present = np.unique(data.index.codes[0])
    dates = data.index.levels[0][present]

    def prep(col: str) -> np.ndarray:
        x = _dense(data, col)[present]
        if method == "spearman":
            x = pd.DataFrame(x).rank(axis=1, method="average").to_numpy()
        return x - np.nanmean(x, axis=1, keepdims=True)

    fx = prep("factor")
    out = {}
    with np.errstate(all="ignore"):
        for c in cols:
            x = prep(c)
            num = np.nansum(x * fx, axis=1)
            den = np.sqrt(np.nansum(x**2, axis=1) * np.nansum(fx**2, axis=1))
            out[c] = np.where(den > 0, num / den, np.nan)
    return pd.DataFrame(out, index=pd.DatetimeIndex(dates, name="date"))


def ic_summary(ic: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, ICIR, t-stat, p-value, share of positive days, skew and kurtosis per period."""
    rows = {}
    for c in ic.columns:
        x = ic[c].dropna()
        n = len(x)
        mean, std = x.mean(), x.std(ddof=1)
        t = mean / std * np.sqrt(n) if n > 1 and std > 0 else np.nan
        rows[c] = {"mean": mean, "std": std, "icir": mean / std if std > 0 else np.nan, "t_stat": t,
                   "p_value": 2 * stats.t.sf(abs(t), n - 1) if np.isfinite(t) else np.nan,
                   "positive": (x > 0).mean(), "skew": stats.skew(x) if n > 2 else np.nan,
                   "kurtosis": stats.kurtosis(x) if n > 3 else np.nan, "n_dates": n}
    return pd.DataFrame(rows).T


def mean_return_by_quantile(data: pd.DataFrame, demeaned: bool = True,
                            by_date: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean forward return per quantile (and its standard error); ``by_date`` keeps the per-date means."""
    cols = _returns_cols(data)
    rets = data[cols]
    if demeaned:
        rets = rets - rets.groupby(level="date").transform("mean")
    q = data["factor_quantile"].astype(int)
    per_date = rets.groupby([q, data.index.get_level_values("date")]).agg(["mean", "std", "count"])
    per_date.index = per_date.index.set_names(["factor_quantile", "date"])
    mean_d = per_date.xs("mean", axis=1, level=1)
    if by_date:
        return mean_d, per_date.xs("std", axis=1, level=1) / np.sqrt(per_date.xs("count", axis=1, level=1))
    g = mean_d.groupby(level="factor_quantile")
    return g.mean(), g.std() / np.sqrt(g.count())


def quantile_spread(data: pd.DataFrame, upper: int | None = None, lower: int = 1) -> pd.DataFrame:
    """Top-minus-bottom quantile mean return per date (demeaned); one column per period (``spread_summary`` gives
    its mean, standard error and t-stat)."""
    mean_d, _ = mean_return_by_quantile(data, by_date=True)
    upper = upper or int(mean_d.index.get_level_values("factor_quantile").max())
    return mean_d.xs(upper, level="factor_quantile") - mean_d.xs(lower, level="factor_quantile")


def spread_summary(spread: pd.DataFrame) -> pd.DataFrame:
    """Per period (rows) of a ``quantile_spread``: ``mean``, ``std_err``, ``t_stat`` and ``n_dates`` over its dates."""
    summ = {}
    for c in spread.columns:
        x = spread[c].dropna()
        se = x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan
        summ[c] = {"mean": x.mean(), "std_err": se, "t_stat": x.mean() / se if se and se > 0 else np.nan,
                   "n_dates": len(x)}
    return pd.DataFrame(summ).T


def factor_weights(data: pd.DataFrame, demeaned: bool = True) -> pd.Series:
    """Per-date weights proportional to (demeaned) factor values, gross exposure 1."""
    f = data["factor"]
    if demeaned:
        f = f - f.groupby(level="date").transform("mean")
    denom = f.abs().groupby(level="date").transform("sum")
    return (f / denom.where(denom > 0)).fillna(0.0).rename("weight")


def factor_returns(data: pd.DataFrame, demeaned: bool = True) -> pd.DataFrame:
    """Factor-weighted long-short portfolio forward returns per date (date x period)."""
    w = factor_weights(data, demeaned)
    cols = _returns_cols(data)
    return data[cols].mul(w, axis=0).groupby(level="date").sum(min_count=1)


def turnover(weights: pd.Series) -> pd.Series:
    """Traded notional per date: sum over assets of |w_D - w_{D-1}| (entering counts from zero)."""
    wide = weights.unstack("asset").fillna(0.0)
    return (wide - wide.shift(1).fillna(0.0)).abs().sum(axis=1).rename("turnover")


def cost_adjusted_returns(returns: pd.Series, turn: pd.Series, cost_bps: float) -> pd.Series:
    """Daily returns minus ``cost_bps`` per side times traded notional."""
    if cost_bps < 0:
        raise ValidationError(f"cost_bps must be >= 0, got {cost_bps}")
    return (returns - cost_bps / 1e4 * turn.reindex(returns.index).fillna(0.0)).rename("net")


def factor_rank_autocorrelation(data: pd.DataFrame, lag: int = 1) -> pd.Series:
    """Spearman correlation of each asset's factor rank with its rank ``lag`` dates before (stability)."""
    ranks = data["factor"].groupby(level="date").rank().unstack("asset")
    return ranks.corrwith(ranks.shift(lag), axis=1).rename("rank_autocorrelation")


def coverage(factor: pd.Series, prices: pd.DataFrame | None = None) -> pd.DataFrame:
    """Assets with a finite factor value per date (and as a share of assets priced that date)."""
    f = as_factor(factor)
    counts = np.isfinite(f).groupby(level="date").sum().rename("assets_with_signal")
    out = counts.to_frame()
    if prices is not None:
        priced = validate_prices(prices)["close"].notna().groupby(level="date").sum()
        out["universe"] = priced.reindex(out.index)
        out["share"] = out["assets_with_signal"] / out["universe"]
    return out


def ic_decay(factor: pd.Series, prices: pd.DataFrame, horizons: Sequence[int] = (1, 2, 3, 5, 10, 15, 20),
             price_field: str = "open", returns: str = "raw",
             sectors: Mapping[str, str] | pd.Series | None = None) -> pd.DataFrame:
    """Mean rank IC and Pearson IC at each horizon (each horizon evaluated on its own clean rows); ``returns``
    as in ``abnormal_forward_returns``."""
    f = as_factor(factor)
    fwd = abnormal_forward_returns(prices, horizons, price_field, returns=returns, sectors=sectors)
    rows = []
    for c in fwd.columns:
        d = fwd[[c]].reindex(f.index).assign(factor=f).dropna()
        rows.append({"horizon": int(c[:-1]), "rank_ic": information_coefficient(d)[c].mean(),
                     "ic": information_coefficient(d, "pearson")[c].mean(), "n_dates": d.index.get_level_values(0).nunique()})
    return pd.DataFrame(rows).set_index("horizon")


@dataclass
class FactorReport:
    """Everything the tear sheet shows, as pandas objects."""

    data: pd.DataFrame
    rank_ic: pd.DataFrame
    ic: pd.DataFrame
    rank_ic_summary: pd.DataFrame
    ic_summary: pd.DataFrame
    quantile_returns: pd.DataFrame
    quantile_std_err: pd.DataFrame
    spread: pd.DataFrame
    spread_summary: pd.DataFrame  # per period: mean, std_err, t_stat, n_dates of ``spread``
    factor_returns: pd.DataFrame
    weights: pd.Series
    turnover: pd.Series
    net_returns: pd.Series
    coverage: pd.DataFrame
    decay: pd.DataFrame
    autocorrelation: pd.Series
    cost_bps: float
    params: dict[str, Any] = field(default_factory=dict)
    by_event: pd.DataFrame | None = None
    row_counts: FactorRowCounts | None = None  # factor rows in, dropped by reason, kept
    event_tests: pd.DataFrame | None = None  # one row per (event factor, period): t, p, BH q, survives

    def summary(self) -> pd.DataFrame:
        """One table: rank IC stats, spread and long-short return per period (and the rows kept / dropped)."""
        s = self.rank_ic_summary[["mean", "std", "icir", "t_stat"]].add_prefix("rank_ic_")
        s["ic_mean"] = self.ic_summary["mean"]
        s["spread_mean"] = self.spread_summary["mean"]
        s["spread_t"] = self.spread_summary["t_stat"]
        s["ls_mean"] = self.factor_returns.mean()
        if self.row_counts is not None:
            s["rows_kept"] = self.row_counts.kept
            s["rows_dropped"] = self.row_counts.dropped
            s["dropped_fraction"] = self.row_counts.dropped_fraction
        return s


def evaluate_factor(factor: pd.Series, prices: pd.DataFrame, periods: Sequence[int] = (1, 5, 10),
                    n_quantiles: int = 5, cost_bps: float = 10.0, price_field: str = "open",
                    groupby: GroupBy = None, decay_horizons: Sequence[int] = (1, 2, 3, 5, 10, 15, 20),
                    events: pd.DataFrame | None = None, ties: str = "rank", max_loss: float = 0.35,
                    returns: str = "raw", sectors: Mapping[str, str] | pd.Series | None = None) -> FactorReport:
    """Run every metric on one factor. ``events``: optional (date, asset) frame of per-event-type factors
    (e.g. ``sentiment_<event>`` columns); their mean rank IC per period is reported in ``by_event``, and every
    (event factor, period) test with its t-stat, p-value and Benjamini-Hochberg q-value in ``event_tests``.

    ``max_loss``: the largest fraction of the factor rows with a value that may be dropped for want of a price
    or a forward return (alphalens' ``max_loss``); above it ``MaxLossExceededError``. The counts are in
    ``report.row_counts``.

    ``returns``: ``"raw"`` (default, alphalens' numbers), ``"market"`` (forward returns minus the per-date
    equal-weight mean forward return of every priced asset) or ``"sector"`` (minus the mean of the asset's
    sector; ``sectors`` maps asset -> sector, rows of unmapped assets count as ``no_group``). The benchmark is
    removed before IC, quantiles, long-short returns, decay and ``by_event``. Rank/Pearson IC, the spread and the
    demeaned long-short returns do not change under ``"market"`` (a per-date constant cancels); the quantile
    mean returns are then reported against the benchmark (not demeaned over the factor's own rows), so a
    sparse news factor's quantiles read as abnormal returns vs the universe."""
    data, counts = clean_factor_counts(factor, prices, periods, n_quantiles, price_field, groupby=groupby, ties=ties,
                                       max_loss=max_loss, returns=returns, sectors=sectors)
    rank_ic = information_coefficient(data, "spearman")
    ic = information_coefficient(data, "pearson")
    q_mean, q_se = mean_return_by_quantile(data, demeaned=returns == "raw")
    spread = quantile_spread(data)
    fr = factor_returns(data)
    w = factor_weights(data)
    turn = turnover(w)
    first = period_columns(periods)[0]
    net = cost_adjusted_returns(fr[first], turn, cost_bps)
    by_event = event_tests = None
    if events is not None:
        rows, tests = {}, []
        for col in events.columns:
            sub = events[col].dropna()
            if sub.groupby(level="date").size().max() < 3:
                continue
            d = abnormal_forward_returns(prices, periods, price_field, returns=returns, sectors=sectors)
            d = d.reindex(sub.index).assign(factor=sub).dropna()
            if d.empty:
                continue
            daily = information_coefficient(d)
            rows[col] = daily.mean()
            rows[col]["rows"] = len(d)
            summary = ic_summary(daily)
            tests += [{"factor": col, "period": period, "mean_rank_ic": summary.loc[period, "mean"],
                       "t_stat": summary.loc[period, "t_stat"], "p_value": summary.loc[period, "p_value"],
                       "n_dates": int(summary.loc[period, "n_dates"]), "rows": len(d)} for period in summary.index]
        by_event = pd.DataFrame(rows).T if rows else None
        event_tests = multiple_testing(pd.DataFrame(tests)) if tests else None
    return FactorReport(
        data=data, rank_ic=rank_ic, ic=ic, rank_ic_summary=ic_summary(rank_ic), ic_summary=ic_summary(ic),
        quantile_returns=q_mean, quantile_std_err=q_se, spread=spread,
        spread_summary=spread_summary(spread), factor_returns=fr, weights=w,
        turnover=turn, net_returns=net, coverage=coverage(factor, prices),
        decay=ic_decay(factor, prices, decay_horizons, price_field, returns, sectors),
        autocorrelation=factor_rank_autocorrelation(data),
        cost_bps=cost_bps, params={"periods": list(periods), "n_quantiles": n_quantiles, "price_field": price_field,
                                   "ties": ties, "max_loss": max_loss, "returns": returns},
        by_event=by_event, row_counts=counts, event_tests=event_tests,
    )


def multiple_testing(tests: pd.DataFrame, fdr: float = 0.10) -> pd.DataFrame:
    """Benjamini-Hochberg over every listed test (``p_value`` column): adds ``bh_q`` (the adjusted p-value, via
    ``scipy.stats.false_discovery_control``) and ``survives_bh`` (q <= ``fdr``). Tests without a p-value keep
    NaN and count as not surviving; the family is every finite p-value of the table."""
    out = tests.copy()
    ok = out["p_value"].notna() & np.isfinite(out["p_value"].astype(float))
    out["bh_q"] = np.nan
    if ok.any():
        out.loc[ok, "bh_q"] = stats.false_discovery_control(out.loc[ok, "p_value"].astype(float).to_numpy(), method="bh")
    out["survives_bh"] = out["bh_q"] <= fdr
    return out
