"""The daily job: pull news -> dedupe -> point-in-time sessions -> score -> aggregate -> store.

``run_signals`` is what ``llmos-quant signals daily`` and ``signals backfill`` call. Scores are cached in
the store per (news id, model, weights hash), so rerunning a day only scores what is new, and rewriting a
day replaces its signal rows (idempotent).
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.calendar import DEFAULT_CUTOFF, trading_sessions
from ..data.live import read_feed
from ..data.news import dedupe, read_benzinga_csv, read_reuters_csv, validate_news
from ..errors import UsageError
from .aggregate import attach_sessions, daily_signals
from .store import SignalStore

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a run did, per stage (counts and seconds)."""

    sessions: int = 0
    assets: int = 0
    news_in: int = 0
    news_unique: int = 0
    news_in_window: int = 0
    scored_new: int = 0
    scored_cached: int = 0
    signal_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    run_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def load_news(source: str, start: str | pd.Timestamp, end: str | pd.Timestamp,
              universe: Iterable[str] | None = None, **kwargs: Any) -> pd.DataFrame:
    """News from a named source: ``reuters``, ``benzinga``, ``synthetic``, ``yfinance``, ``rss:<url or path>``,
    or a CSV path in the Reuters or Benzinga format. Filtered to [start - 7 days, end + 1 day] (UTC)."""
    if source == "reuters":
        news = read_reuters_csv(kwargs.get("path"))
    elif source == "benzinga":
        news = read_benzinga_csv(kwargs.get("path"))
    elif source == "synthetic":
        from ..data.simulate import simulate_market

        news = simulate_market(**kwargs.get("sim", {})).news
    elif source == "yfinance":
        from ..data.live import fetch_yfinance_news

        if not universe:
            raise UsageError("source 'yfinance' needs a universe (--universe AAPL,MSFT)")
        news = fetch_yfinance_news(universe)
    elif source.startswith("rss:"):
        news = read_feed(source[4:], universe=universe or ())
    elif source.endswith(".csv"):
        head = pd.read_csv(source, nrows=1)
        news = read_reuters_csv(source) if "ticker" in head.columns else read_benzinga_csv(source)
    else:
        raise UsageError(f"unknown news source {source!r}; expected reuters, benzinga, synthetic, yfinance, "
                         "rss:<url> or a path to a .csv")
    lo = pd.Timestamp(start).tz_localize("UTC") - pd.Timedelta(days=7)
    hi = pd.Timestamp(end).tz_localize("UTC") + pd.Timedelta(days=1)
    rejected = news.attrs.get("rejected", [])
    known = sorted(set(news["asset"]))
    news = news[(news["published_at"] >= lo) & (news["published_at"] < hi)].reset_index(drop=True)
    news.attrs["rejected"] = rejected
    news.attrs["known_assets"] = known
    return news


def check_universe(universe: Iterable[str], known: Iterable[str], what: str = "the news source") -> list[str]:
    """Upper-cased universe; unknown tickers raise with the closest known names."""
    universe = sorted({u.strip().upper() for u in universe if u.strip()})
    known_set = set(known)
    unknown = [u for u in universe if u not in known_set]
    if unknown:
        hints = {u: difflib.get_close_matches(u, known_set, n=3) for u in unknown[:5]}
        raise UsageError(f"unknown tickers {unknown[:10]} (not in {what}, {len(known_set)} tickers); "
                         f"closest: {hints}. Fix the universe or choose another --source")
    return universe


def run_signals(news: pd.DataFrame, encoder: Any, store: SignalStore, start: str | pd.Timestamp,
                end: str | pd.Timestamp, universe: Iterable[str] | None = None, half_life: float = 5.0,
                lookback_sessions: int = 60, cutoff: str = DEFAULT_CUTOFF, kind: str = "backfill",
                progress: bool = True, events: str | None = None) -> RunSummary:
    """Score and aggregate news into signals for sessions start..end and write them to the store.

    ``events``: ``None`` (no event split), ``"rules"`` (keyword rules) or ``"model"`` (the trained event
    classifier) adds ``sentiment_<event>`` columns (mean score of that event type's news per day)."""
    t_all = time.perf_counter()
    started = pd.Timestamp.now(tz="UTC")
    s = RunSummary()
    news = validate_news(news)
    target = trading_sessions(start, end)
    if target.empty:
        raise UsageError(f"no trading sessions between {start} and {end} (weekend or holiday?); pick a trading day")
    window = trading_sessions(pd.Timestamp(target[0]) - pd.Timedelta(days=int(lookback_sessions * 1.6) + 7), end)
    window = window[max(0, window.get_indexer([target[0]])[0] - lookback_sessions):]
    s.sessions, s.news_in = len(target), len(news)
    t = time.perf_counter()
    news = attach_sessions(dedupe(news), cutoff=cutoff)
    s.news_unique = len(news)
    assets = sorted(set(universe)) if universe is not None else sorted(news["asset"].unique())
    s.assets = len(assets)
    news = news[news["date"].isin(window) & news["asset"].isin(assets)].reset_index(drop=True)
    s.news_in_window = len(news)
    s.seconds["prepare"] = time.perf_counter() - t
    # ---- score (with the store as cache) ----
    t = time.perf_counter()
    model, whash = encoder.model_name, encoder.weights_hash or ""
    cached = store.cached_scores(news["id"], model, whash)
    todo = news[~news["id"].isin(cached.index)]
    if len(todo):
        fresh = encoder.score(todo["headline"].reset_index(drop=True))
        store.write_scores(todo["id"], fresh, model, whash)
        fresh.index = todo["id"].to_numpy()
        cached = pd.concat([cached, fresh[cached.columns.intersection(fresh.columns)]])
    s.scored_new, s.scored_cached = len(todo), len(news) - len(todo)
    s.seconds["score"] = time.perf_counter() - t
    t = time.perf_counter()
    scored = news.assign(score=cached["score"].reindex(news["id"]).to_numpy())
    store.write_news(news)
    event_types: tuple[str, ...] = ()
    if events is not None:
        from ..encoders.news_parser import EVENT_TYPES, rule_events

        if events == "rules":
            labels = [rule_events(h) for h in scored["headline"]]
        elif events == "model":
            from ..encoders.events import EventClassifier

            labels = EventClassifier.load().predict(scored["headline"].tolist())
        else:
            raise UsageError(f"events must be None, 'rules' or 'model', got {events!r}")
        scored = scored.assign(events=labels)
        event_types = tuple(e for e in EVENT_TYPES if e != "other")
    signals = daily_signals(scored, window, assets, half_life=half_life, cutoff=cutoff, event_types=event_types)
    signals = signals[signals.index.get_level_values("date").isin(target)]
    s.seconds["aggregate"] = time.perf_counter() - t
    t = time.perf_counter()
    s.signal_rows = store.write_signals(signals, model, whash)
    s.seconds["store"] = time.perf_counter() - t
    s.seconds["total"] = time.perf_counter() - t_all
    s.run_id = store.log_run(kind, {"start": str(start), "end": str(end), "half_life": half_life, "model": model,
                                    "cutoff": cutoff, "assets": len(assets)}, s.as_dict(), started)
    return s


def run_job(kind: str, start: str | pd.Timestamp, end: str | pd.Timestamp, source: str, store_path: str | Path,
            universe: Iterable[str] | None = None, backend: str = "llmos", model_path: str | None = None,
            half_life: float = 5.0, cutoff: str = DEFAULT_CUTOFF, batch_size: int = 64, progress: bool = True,
            events: str | None = None, news_lookback_days: int = 120) -> tuple[RunSummary, dict[str, Any]]:
    """The whole daily/backfill job as the CLI and the daily notebook run it: load the source's news (with a
    lookback for decay and surprise), check the universe, build the encoder, run ``run_signals`` into the store.
    Returns the run summary and facts for the report (model name, rejected rows, store counts)."""
    from ..encoders.sentiment import SentimentEncoder

    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if start > end:
        raise UsageError(f"start {start.date()} is after end {end.date()}; swap them")
    news = load_news(source, start - pd.Timedelta(days=news_lookback_days), end)
    tickers = None
    if universe is not None:
        known = news.attrs.get("known_assets", set(news["asset"])) if source != "yfinance" else list(universe)
        tickers = check_universe(universe, known, source)
    kwargs = {"batch_size": batch_size, "progress": progress} if backend in ("llmos", "hf") else {}
    encoder = SentimentEncoder.create(backend, model_path, **kwargs)
    with SignalStore(store_path) as store:
        summary = run_signals(news, encoder, store, start, end, universe=tickers, half_life=half_life,
                              cutoff=cutoff, kind=kind, progress=progress, events=events)
        counts = store.counts()
    info = {"model": encoder.model_name, "rejected_rows": len(news.attrs.get("rejected", [])),
            "store": str(store_path), **{f"store_{k}": v for k, v in counts.items()}}
    if source == "synthetic":
        info["NOTE"] = "SYNTHETIC data (simulator), not real markets"
    return summary, info
