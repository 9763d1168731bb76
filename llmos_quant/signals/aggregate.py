"""Scored news -> daily per-ticker sentiment signals, point in time.

``daily_signals(scored, sessions, universe)`` returns a frame indexed ``(date, asset)`` (every session x
every asset of the universe) with these documented columns:

- ``sentiment``: the main signal. On a session with news, the mean ``score`` of that session's news;
  on a session without news, the previous value times ``0.5 ** (1 / half_life)`` (decay towards 0);
  NaN before an asset's first news.
- ``sentiment_mean``: mean score of the news assigned to that session (NaN without news).
- ``news_count``: number of (deduplicated) news items assigned to that session.
- ``surprise``: ``sentiment_mean`` minus the asset's trailing mean of ``sentiment_mean`` over the previous
  ``surprise_lookback`` sessions that had news (excluding the current one); NaN when undefined.
- ``days_since_news``: sessions since the last session with news (0 on a news day).
- ``sentiment_<event>`` (optional): mean score of news of that event type, when ``scored`` has an
  ``events`` column (lists of event labels from the news parser).

Each news item counts for the session given by ``assign_sessions`` (news before D's cutoff -> D), so the
signal for D never uses news published at or after D's cutoff.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..data.calendar import DEFAULT_CUTOFF, DEFAULT_TZ, assign_sessions
from ..data.news import validate_news
from ..errors import ValidationError

SIGNAL_COLUMNS = ["sentiment", "sentiment_mean", "news_count", "surprise", "days_since_news"]


def validate_signals(frame: pd.DataFrame, name: str = "signals", columns: Iterable[str] = ("sentiment",)) -> pd.DataFrame:
    """The one validator for (date, asset) frames: index names, tz-naive dates, sorted, no duplicates."""
    if not isinstance(frame, pd.DataFrame | pd.Series):
        raise ValidationError(f"{name} must be a DataFrame or Series, got {type(frame).__name__}")
    if list(frame.index.names) != ["date", "asset"]:
        raise ValidationError(f"{name} must be indexed by MultiIndex(['date', 'asset']), got {list(frame.index.names)}")
    dates = frame.index.get_level_values("date")
    if not isinstance(dates, pd.DatetimeIndex) or dates.tz is not None:
        raise ValidationError(f"{name} dates must be tz-naive datetimes, got {dates.dtype}")
    if isinstance(frame, pd.DataFrame):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValidationError(f"{name} lacks columns {missing}; has {list(frame.columns)}")
    sorted_, unique = index_order(frame.index)
    if not sorted_:
        frame = frame.sort_index()
        sorted_, unique = index_order(frame.index)
    if not unique:
        raise ValidationError(f"{name} has duplicate (date, asset) rows, e.g. {frame.index[frame.index.duplicated()][0]}")
    return frame


def index_order(index: pd.MultiIndex) -> tuple[bool, bool]:
    """(sorted, unique) for a 2-level MultiIndex in O(n) from its codes (pandas' own checks are slow)."""
    r0, r1 = (level_ranks(lv) for lv in index.levels)
    key = r0[index.codes[0]] * (len(r1) + 1) + r1[index.codes[1]]
    step = np.diff(key)
    if (step >= 0).all():
        return True, bool((step != 0).all())
    return False, not index.has_duplicates


def level_ranks(level: pd.Index) -> np.ndarray:
    """Position of each level value in sorted order (levels are unique, so this is a permutation)."""
    ranks = np.empty(len(level), dtype=np.int64)
    ranks[level.argsort(kind="stable")] = np.arange(len(level))
    return ranks


def attach_sessions(news: pd.DataFrame, cutoff: str = DEFAULT_CUTOFF, tz: str = DEFAULT_TZ,
                    calendar: str = "XNYS") -> pd.DataFrame:
    """Add the point-in-time session ``date`` to a news frame."""
    news = validate_news(news)
    return news.assign(date=assign_sessions(news["published_at"], news["date_only"], cutoff, tz, calendar))


def daily_signals(scored: pd.DataFrame, sessions: pd.DatetimeIndex, universe: Iterable[str] | None = None,
                  half_life: float = 5.0, surprise_lookback: int = 20, cutoff: str = DEFAULT_CUTOFF,
                  event_types: Iterable[str] = ()) -> pd.DataFrame:
    """Aggregate scored news (a news frame plus ``score``) into daily signals; see the module docstring."""
    if "score" not in scored.columns:
        raise ValidationError("scored news needs a 'score' column (SentimentEncoder.score(...)['score'])")
    if half_life <= 0:
        raise ValidationError(f"half_life must be > 0 sessions, got {half_life}")
    if "date" not in scored.columns:
        scored = attach_sessions(scored, cutoff=cutoff)
    sessions = pd.DatetimeIndex(sessions, name="date")
    assets = sorted(set(universe) if universe is not None else set(scored["asset"]))
    scored = scored[scored["asset"].isin(assets) & scored["date"].isin(sessions)]
    grid = pd.MultiIndex.from_product([sessions, assets], names=["date", "asset"])
    by = scored.groupby(["date", "asset"])["score"]
    out = pd.DataFrame(index=grid)
    out["sentiment_mean"] = by.mean().reindex(grid)
    out["news_count"] = by.size().reindex(grid).fillna(0).astype(int)
    wide_mean = out["sentiment_mean"].unstack("asset")  # (sessions, assets)
    has = wide_mean.notna()
    # days since news: position minus position of the last news session (per asset)
    pos = np.arange(len(sessions))[:, None] * np.ones((1, len(assets)))
    last_pos = pd.DataFrame(np.where(has, pos, np.nan), index=wide_mean.index, columns=wide_mean.columns).ffill()
    since = pd.DataFrame(pos, index=wide_mean.index, columns=wide_mean.columns) - last_pos
    decay = 0.5 ** (1.0 / half_life)
    sentiment = wide_mean.ffill() * decay**since
    trailing = wide_mean.apply(lambda col: col.dropna().shift(1).rolling(surprise_lookback, min_periods=1).mean()
                               .reindex(col.index))
    surprise = wide_mean - trailing
    out["sentiment"] = sentiment.stack(future_stack=True).reindex(grid)
    out["surprise"] = surprise.stack(future_stack=True).reindex(grid)
    out["days_since_news"] = since.stack(future_stack=True).reindex(grid)
    for event in event_types:
        if "events" not in scored.columns:
            raise ValidationError("event_types given but scored news has no 'events' column (NewsParser.parse)")
        mask = scored["events"].map(lambda evs, e=event: e in (evs or ()))
        out[f"sentiment_{event}"] = scored[mask].groupby(["date", "asset"])["score"].mean().reindex(grid)
    events = [c for c in out.columns if c.startswith("sentiment_") and c != "sentiment_mean"]
    return validate_signals(out[SIGNAL_COLUMNS + events])
