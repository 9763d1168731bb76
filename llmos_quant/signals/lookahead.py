"""Automatic look-ahead analysis (freqtrade's ``lookahead-analysis`` is the model).

For sampled sessions D, the signal is recomputed with every news item published after D's cutoff removed
(date-only items dated D or later count as after it) and every price bar after D removed; the recomputed row
for D must equal the row of the full run. A signal that changes looked ahead. The default signal is the
pipeline's own (dedupe -> point-in-time sessions -> aggregate, scores from the encoder); pass ``signal_fn``
to check a signal of your own, e.g. one that also uses prices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.calendar import DEFAULT_CUTOFF, DEFAULT_TZ, session_cutoff_utc, trading_sessions
from ..data.news import dedupe, validate_news
from ..errors import LookaheadBiasError, UsageError
from .aggregate import attach_sessions, daily_signals

log = logging.getLogger(__name__)

SignalFn = Callable[[pd.DataFrame, pd.DataFrame | None, pd.DatetimeIndex], pd.DataFrame]


@dataclass
class LookaheadResult:
    sessions: list[pd.Timestamp]
    rows_checked: int
    news_removed: dict[str, int]  # session -> items published after its cutoff that were removed
    mismatches: pd.DataFrame  # date, asset, column, full, truncated

    @property
    def passed(self) -> bool:
        return self.mismatches.empty

    def raise_for_bias(self) -> None:
        if not self.passed:
            first = self.mismatches.iloc[0].to_dict()
            raise LookaheadBiasError(
                f"look-ahead: {len(self.mismatches)} signal values changed when data after the session's cutoff was "
                f"removed (first: {first}); the signal uses information published after its cutoff. Fix the "
                "source's timestamps (zone, date-only flag) or the signal code")


def available_before(news: pd.DataFrame, session: pd.Timestamp, cutoff: str = DEFAULT_CUTOFF,
                     tz: str = DEFAULT_TZ) -> pd.Series:
    """True for news known before ``session``'s cutoff: timed items strictly before it; date-only items dated
    before the session (a date-only item counts as published after that day's close)."""
    cut = session_cutoff_utc(session, cutoff, tz)
    local_day = news["published_at"].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    return np.where(news["date_only"], local_day < session, news["published_at"] < cut)


def pipeline_signal_fn(scores: pd.Series, half_life: float = 5.0, cutoff: str = DEFAULT_CUTOFF,
                       universe: Iterable[str] | None = None) -> SignalFn:
    """The pipeline's signal from news alone, with per-item scores looked up by news id (scores are per item).

    Pass the ``universe``: without it the assets are those present in the news given, so a truncated run
    would lack the assets whose first news comes later (a difference in rows, not a look-ahead)."""
    def fn(news: pd.DataFrame, prices: pd.DataFrame | None, sessions: pd.DatetimeIndex) -> pd.DataFrame:
        unique = attach_sessions(dedupe(news), cutoff=cutoff)
        scored = unique.assign(score=scores.reindex(unique["id"]).to_numpy())
        return daily_signals(scored, sessions, universe, half_life=half_life, cutoff=cutoff)

    return fn


def lookahead_analysis(news: pd.DataFrame, sessions: pd.DatetimeIndex, signal_fn: SignalFn,
                       prices: pd.DataFrame | None = None, n_samples: int = 5, seed: int = 0,
                       cutoff: str = DEFAULT_CUTOFF, atol: float = 0.0) -> LookaheadResult:
    """Compare the full run's rows with runs truncated at each sampled session's cutoff (see module docstring)."""
    news = validate_news(news)
    sessions = pd.DatetimeIndex(sessions, name="date")
    if len(sessions) == 0:
        raise UsageError("lookahead_analysis needs at least one session")
    if n_samples < 1:
        raise UsageError(f"n_samples must be >= 1, got {n_samples}")
    full = signal_fn(news, prices, sessions)
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(sessions), size=min(n_samples, len(sessions)), replace=False))
    sample = [pd.Timestamp(sessions[i]) for i in picks]
    removed, bad, rows = {}, [], 0
    for d in sample:
        keep = available_before(news, d, cutoff)
        removed[str(d.date())] = int((~keep).sum())
        px = None
        if prices is not None:
            px = prices[prices.index.get_level_values("date") <= d]  # bar D closes at the cutoff
        window = sessions[sessions <= d]  # same first session as the full run: only the future differs
        trunc = signal_fn(news[keep].reset_index(drop=True), px, window)
        a = full.xs(d, level="date")
        b = trunc.xs(d, level="date").reindex(index=a.index, columns=a.columns)
        rows += len(a)
        for col in a.columns:
            x, y = a[col].astype(float).to_numpy(), b[col].astype(float).to_numpy()
            same = (np.isnan(x) & np.isnan(y)) | (np.abs(x - y) <= atol)
            for asset in a.index[~same]:
                bad.append({"date": d, "asset": asset, "column": col, "full": float(a.at[asset, col]),
                            "truncated": float(b.at[asset, col])})
    mismatches = pd.DataFrame(bad, columns=["date", "asset", "column", "full", "truncated"])
    if len(mismatches):
        log.warning("look-ahead analysis: %d mismatches over %d sessions", len(mismatches), len(sample))
    return LookaheadResult(sample, rows, removed, mismatches)


def sessions_between(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    out = trading_sessions(start, end)
    if out.empty:
        raise UsageError(f"no trading sessions between {start} and {end}")
    return out
