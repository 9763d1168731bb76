"""Event studies around news sessions: mean abnormal return (AR) and cumulative abnormal return (CAR) by
sentiment quantile, with cross-sectional confidence bands and t-stats, overall and per event type.

Conventions:

- Returns are **close-to-close**: the return of session t is ``close[t] / close[t-1] - 1`` (no forward
  filling: a missing close makes that session's and the next session's return missing). Offset 0 is the
  news session's own return (close of D-1 to close of D), offset +1 the next session's, and so on. News
  for session D is the news published before D's 16:00 cutoff (``assign_sessions``), so offset 0 mixes
  reaction and drift and offset +1 is the first session that a signal dated D can fully trade.
- Abnormal return: the asset's return minus a benchmark of the same session: ``"market"`` (the equal-weight
  mean return of every asset in the price frame with a return that session, the asset included),
  ``"sector"`` (the equal-weight mean over the assets of the same sector in ``sectors``, the asset
  included; assets without a sector are dropped) or ``"raw"`` (no benchmark).
- Events: the (date, asset) rows of ``signals`` with ``news_count > 0`` (when that column exists) and a finite
  score (``sentiment_mean`` by default); pass any (date, asset) frame with a score column to study other
  events. Only events with a return at every offset of the window are kept (the others are counted in
  ``dropped``), so AR and CAR are averaged over the same events.
- Quantiles are pooled over all events (equal-count buckets of the event-day score, ``pd.qcut``; with
  ``ties='drop'`` tied edges merge buckets, so there may be fewer than ``n_quantiles``; ``ties='rank'``
  splits ties by order). Q1 holds the lowest scores. ``all`` is every kept event; ``Qk-Q1`` the top minus
  bottom difference (Welch standard error).
- CAR(k) is the sum of an event's ARs from the window's first offset to k. Means, standard errors
  (std across events / sqrt(n)), t-stats (mean / standard error) and the ``confidence`` bands (mean +-
  Student-t critical value x standard error) are all taken over the cross-section of events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..data.prices import validate_prices
from ..errors import NoCompleteEventsError, UsageError, ValidationError
from ..signals.aggregate import validate_signals
from .evaluate import to_wide

BENCHMARKS = ("market", "sector", "raw")


def close_to_close_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Wide (date x asset) close-to-close returns ``close[t] / close[t-1] - 1`` (no forward filling)."""
    close = to_wide(validate_prices(prices)["close"])
    return close / close.shift(1) - 1.0


def _sector_series(sectors: Mapping[str, str] | pd.Series | None) -> pd.Series:
    if sectors is None:
        raise UsageError("benchmark='sector' needs sectors=: a mapping or Series asset -> sector "
                         "(e.g. llmos_quant.data.stocknet.read_stocknet_sectors())")
    s = pd.Series(sectors) if not isinstance(sectors, pd.Series) else sectors
    return s.dropna().astype(str)


def abnormal_returns(returns: pd.DataFrame, benchmark: str = "market",
                     sectors: Mapping[str, str] | pd.Series | None = None) -> pd.DataFrame:
    """Wide returns minus the per-date equal-weight universe (``market``) or sector (``sector``) mean.

    The mean of each date is over the assets with a finite return that date (the asset itself included);
    with ``sector``, assets that have no sector get NaN."""
    if benchmark not in BENCHMARKS:
        raise UsageError(f"benchmark must be one of {list(BENCHMARKS)}, got {benchmark!r}")
    if benchmark == "raw":
        return returns.copy()
    if benchmark == "market":
        return returns.sub(returns.mean(axis=1, skipna=True), axis=0)
    sec = _sector_series(sectors).reindex(returns.columns)
    out = pd.DataFrame(np.nan, index=returns.index, columns=returns.columns)
    for _, cols in sec.dropna().groupby(sec.dropna()).groups.items():
        sub = returns[list(cols)]
        out[list(cols)] = sub.sub(sub.mean(axis=1, skipna=True), axis=0)
    return out


def pooled_quantiles(values: pd.Series, n: int = 5, ties: str = "drop") -> pd.Series:
    """Equal-count buckets 1..k of all values together (``pd.qcut``); ``ties='rank'`` splits tied values."""
    if n < 1:
        raise UsageError(f"n_quantiles must be >= 1, got {n}")
    if ties not in ("drop", "rank"):
        raise UsageError(f"ties must be 'drop' or 'rank', got {ties!r}")
    if len(values) == 0:
        return pd.Series(dtype=float, index=values.index)
    x = values.rank(method="first") if ties == "rank" else values
    if n == 1 or x.nunique() == 1:
        return pd.Series(1.0, index=values.index)
    return pd.Series(pd.qcut(x, n, labels=False, duplicates="drop") + 1.0, index=values.index)


@dataclass
class EventStudyResult:
    """Tables of an event study, indexed by ``offset`` (sessions relative to the news session), one column per
    quantile (``Q1``.. ``Qk``), ``all`` and the ``Qk-Q1`` spread.

    ``mean_ar``/``ar_se``/``ar_t``: mean abnormal return per offset, its standard error and t-stat;
    ``car``/``car_se``/``car_t``/``car_lower``/``car_upper``: the same for the cumulative abnormal return and
    its confidence band; ``counts``: events per column; ``events``: the kept events (date, asset) with their
    score, quantile and labels; ``ar``: each kept event's ARs (one column per offset); ``dropped``: events lost
    by reason; ``by_event``: one result per event type (same quantile edges)."""

    mean_ar: pd.DataFrame
    ar_se: pd.DataFrame
    ar_t: pd.DataFrame
    car: pd.DataFrame
    car_se: pd.DataFrame
    car_t: pd.DataFrame
    car_lower: pd.DataFrame
    car_upper: pd.DataFrame
    counts: pd.Series
    events: pd.DataFrame
    ar: pd.DataFrame
    benchmark: str
    window: tuple[int, int]
    confidence: float
    dropped: dict[str, int] = field(default_factory=dict)
    by_event: dict[str, EventStudyResult] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def quantile_columns(self) -> list[str]:
        return [c for c in self.mean_ar.columns if c.startswith("Q") and "-" not in c]

    @property
    def spread_column(self) -> str | None:
        spread = [c for c in self.mean_ar.columns if "-" in c]
        return spread[0] if spread else None

    def summary(self, offsets: tuple[int, ...] | None = None) -> pd.DataFrame:
        """CAR, its t-stat and the event count per column at a few offsets (-1, 0, +1 and the window's end)."""
        lo, hi = self.window
        offsets = offsets or tuple(sorted({o for o in (-1, 0, 1, hi) if lo <= o <= hi}))
        rows = []
        for col in self.car.columns:
            row: dict[str, Any] = {"column": col, "events": int(self.counts.get(col, np.nan))
                                   if col in self.counts else np.nan}
            for o in offsets:
                row[f"car_{o:+d}"] = self.car.loc[o, col]
                row[f"t_{o:+d}"] = self.car_t.loc[o, col]
            rows.append(row)
        return pd.DataFrame(rows).set_index("column")


def _stats(x: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard error, t-stat and band half-width per column of an (events x offsets) array."""
    n = x.shape[0]
    offsets = x.shape[1]
    if n == 0:
        nan = np.full(offsets, np.nan)
        return nan, nan, nan, nan
    mean = x.mean(axis=0)
    if n < 2:
        nan = np.full(offsets, np.nan)
        return mean, nan, nan, nan
    se = x.std(axis=0, ddof=1) / np.sqrt(n)
    se = np.where(se > 1e-12 * np.abs(x).max(axis=0), se, 0.0)  # rounding noise of identical values is 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, mean / se, np.nan)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * se
    return mean, se, t, half


def _tables(ar: np.ndarray, buckets: np.ndarray, labels: list[int], offsets: list[int],
            confidence: float) -> dict[str, Any]:
    car = np.cumsum(ar, axis=1)
    cols: dict[str, dict[str, np.ndarray]] = {}
    counts = {}
    groups = [(f"Q{q}", buckets == q) for q in labels] + [("all", np.ones(len(buckets), dtype=bool))]
    for name, m in groups:
        cols[name] = {}
        for kind, x in (("ar", ar[m]), ("car", car[m])):
            mean, se, t, half = _stats(x, confidence)
            cols[name].update({f"{kind}_mean": mean, f"{kind}_se": se, f"{kind}_t": t, f"{kind}_half": half})
        counts[name] = int(m.sum())
    if len(labels) >= 2:
        top, bot = f"Q{labels[-1]}", f"Q{labels[0]}"
        name = f"{top}-{bot}"
        cols[name] = {}
        nt, nb = counts[top], counts[bot]
        for kind in ("ar", "car"):
            mean = cols[top][f"{kind}_mean"] - cols[bot][f"{kind}_mean"]
            vt, vb = cols[top][f"{kind}_se"] ** 2, cols[bot][f"{kind}_se"] ** 2
            se = np.sqrt(vt + vb)
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.where(se > 0, mean / se, np.nan)
                df = (vt + vb) ** 2 / (vt**2 / max(nt - 1, 1) + vb**2 / max(nb - 1, 1))  # Welch-Satterthwaite
            half = stats.t.ppf(0.5 + confidence / 2, np.where(np.isfinite(df) & (df > 0), df, np.nan)) * se
            cols[name].update({f"{kind}_mean": mean, f"{kind}_se": se, f"{kind}_t": t, f"{kind}_half": half})
    index = pd.Index(offsets, name="offset")

    def frame(key: str) -> pd.DataFrame:
        return pd.DataFrame({c: v[key] for c, v in cols.items()}, index=index)

    car_mean, car_half = frame("car_mean"), frame("car_half")
    return {"mean_ar": frame("ar_mean"), "ar_se": frame("ar_se"), "ar_t": frame("ar_t"), "car": car_mean,
            "car_se": frame("car_se"), "car_t": frame("car_t"), "car_lower": car_mean - car_half,
            "car_upper": car_mean + car_half, "counts": pd.Series(counts, name="events")}


def _labels(events: pd.Series | pd.DataFrame | None, signals: pd.DataFrame, event_column: str) -> pd.Series | None:
    """Event labels per (date, asset) as lists of strings (a string, a list-like or a comma-separated string)."""
    if events is None:
        if event_column not in signals.columns:
            return None
        events = signals[event_column]
    if isinstance(events, pd.DataFrame):
        if event_column in events.columns:
            events = events[event_column]
        elif events.shape[1] == 1:
            events = events.iloc[:, 0]
        else:
            raise ValidationError(f"events frame must have an {event_column!r} column or one column, "
                                  f"got {list(events.columns)}")
    events = validate_signals(events, name="events")

    def as_list(v: Any) -> list[str]:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return []
        if isinstance(v, str):
            return [s.strip() for s in v.split(",") if s.strip()]
        if isinstance(v, list | tuple | set | np.ndarray):
            return [str(s) for s in v]
        return [str(v)]

    return events.map(as_list)


def event_study(signals: pd.DataFrame, prices: pd.DataFrame, window: tuple[int, int] = (-5, 10),
                n_quantiles: int = 5, score: str = "sentiment_mean", benchmark: str = "market",
                sectors: Mapping[str, str] | pd.Series | None = None,
                events: pd.Series | pd.DataFrame | None = None, event_column: str = "events",
                ties: str = "drop", confidence: float = 0.95, min_events: int = 2) -> EventStudyResult:
    """Mean AR and CAR from ``window[0]`` to ``window[1]`` sessions around each news session, by quantile of
    the event-day ``score`` (close-to-close returns; offset 0 is the news session's return; see the module
    docstring for every convention).

    ``signals``: (date, asset) frame with ``score`` (and ``news_count``: events are its rows > 0).
    ``benchmark``: ``market`` | ``sector`` (needs ``sectors``, asset -> sector) | ``raw``.
    ``events``: optional (date, asset) labels (string, list or comma-separated) for per-event-type studies
    in ``by_event`` (default: the ``event_column`` of ``signals`` when present); types with fewer than
    ``min_events`` kept events are skipped."""
    lo, hi = (int(window[0]), int(window[1]))
    if lo > hi:
        raise UsageError(f"window must be (start, end) with start <= end, got {window}")
    if not 0 < confidence < 1:
        raise UsageError(f"confidence must be in (0, 1), got {confidence}")
    if benchmark not in BENCHMARKS:
        raise UsageError(f"benchmark must be one of {list(BENCHMARKS)}, got {benchmark!r}")
    if benchmark == "sector":
        _sector_series(sectors)
    signals = validate_signals(signals, columns=(score,))
    rets = close_to_close_returns(prices)
    ab = abnormal_returns(rets, benchmark, sectors).to_numpy(dtype=float)
    s = signals[score].astype(float)
    mask = np.isfinite(s.to_numpy())
    if "news_count" in signals.columns:
        mask &= signals["news_count"].fillna(0).to_numpy(dtype=float) > 0
    ev = signals.loc[mask]
    dates = ev.index.get_level_values("date")
    assets = ev.index.get_level_values("asset")
    i = rets.index.get_indexer(dates)
    j = rets.columns.get_indexer(assets)
    priced = (i >= 0) & (j >= 0)
    if benchmark == "sector":
        sec = _sector_series(sectors)
        has_sector = np.asarray(assets.isin(sec.index))
    else:
        has_sector = np.ones(len(ev), dtype=bool)
    offsets = list(range(lo, hi + 1))
    rows = i[:, None] + np.arange(lo, hi + 1)[None, :]
    inside = (rows >= 0) & (rows < len(rets))
    vals = np.full(rows.shape, np.nan)
    ok = priced[:, None] & inside
    vals[ok] = ab[rows[ok], np.broadcast_to(j[:, None], rows.shape)[ok]]
    complete = np.isfinite(vals).all(axis=1)
    keep = priced & has_sector & complete
    dropped = {"no_price": int((~priced).sum()), "no_sector": int((priced & ~has_sector).sum()),
               "incomplete_window": int((priced & has_sector & ~complete).sum())}
    kept = ev.loc[keep]
    if kept.empty:
        raise NoCompleteEventsError(
            f"no event has a {benchmark} abnormal return at every offset {lo}..{hi}: {len(ev)} events "
            f"(rows with news_count > 0 and a finite {score!r}), dropped {dropped}; check that the prices cover "
            "the signals' dates and assets with enough sessions before and after")
    ar = vals[keep]
    q = pooled_quantiles(kept[score].astype(float), n_quantiles, ties)
    labels = sorted(int(x) for x in q.dropna().unique())
    buckets = q.to_numpy()
    table = pd.DataFrame({score: kept[score].astype(float), "quantile": q.astype(int)}, index=kept.index)
    lab = _labels(events, signals, event_column)
    if lab is not None:
        table["labels"] = lab.reindex(kept.index).map(lambda v: v if isinstance(v, list) else [])
    params = {"window": (lo, hi), "n_quantiles": n_quantiles, "score": score, "benchmark": benchmark,
              "ties": ties, "confidence": confidence, "returns": "close-to-close",
              "quantile_edges": _edges(table, score)}
    ar_frame = pd.DataFrame(ar, index=kept.index, columns=pd.Index(offsets, name="offset"))
    by_event: dict[str, EventStudyResult] = {}
    if lab is not None:
        for name in sorted({x for v in table["labels"] for x in v}):
            m = table["labels"].map(lambda v, name=name: name in v).to_numpy()
            if m.sum() < min_events:
                continue
            by_event[name] = EventStudyResult(
                **_tables(ar[m], buckets[m], labels, offsets, confidence), events=table.loc[m], ar=ar_frame.loc[m],
                benchmark=benchmark, window=(lo, hi), confidence=confidence, dropped={}, by_event={},
                params={**params, "event_type": name})
    return EventStudyResult(**_tables(ar, buckets, labels, offsets, confidence), events=table, ar=ar_frame,
                            benchmark=benchmark, window=(lo, hi), confidence=confidence, dropped=dropped,
                            by_event=by_event, params=params)


def _edges(table: pd.DataFrame, score: str) -> dict[str, tuple[float, float]]:
    g = table.groupby("quantile")[score]
    return {f"Q{int(k)}": (float(a), float(b)) for k, a, b in zip(g.min().index, g.min(), g.max(), strict=True)}
