"""The signal pipeline: news frame -> dedupe -> point-in-time sessions -> score -> aggregate -> store.

``run_signals`` is the library core that the daily job (``llmos_quant.jobs``), the demo, the study and the
benchmarks call. Scores are cached in the store per (news id, model, weights hash), so rerunning a day only
scores what is new; a rerun replaces exactly the (date, asset, model) signal rows it recomputes. Every stage
counts what it received, rejected and dropped (``RunSummary``); nothing leaves the pipeline silently.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.calendar import DEFAULT_CUTOFF, trading_sessions
from ..data.news import dedupe, validate_news
from ..errors import UsageError
from .aggregate import attach_sessions, daily_signals
from .store import SignalStore, new_run_id

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a run did, per stage: rows in, rejected by reason, dropped by reason, scored, written; seconds."""

    run_id: str = ""
    sessions: int = 0
    assets: int = 0
    # the reader's own counts come first: neither kind of row is in news_in
    rejected: dict[str, int] = field(default_factory=dict)  # rows the reader refused, by reason
    left_out_by_reader: dict[str, int] = field(default_factory=dict)  # valid rows it read but did not pass on
    news_in: int = 0
    duplicates_collapsed: int = 0
    news_unique: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # valid rows not used, by reason
    news_in_window: int = 0
    scored_new: int = 0
    scored_cached: int = 0
    texts_invalid: int = 0
    signal_rows: int = 0
    assets_with_news: int = 0
    input_hash: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> dict[str, Any]:
        """Flat rows for a printed table (rejected_<reason>, dropped_<reason>, seconds_<stage>)."""
        out: dict[str, Any] = {}
        for k, v in self.as_dict().items():
            if isinstance(v, dict):
                out.update({f"{k}: {kk}": (round(vv, 2) if isinstance(vv, float) else vv) for kk, vv in v.items()})
            else:
                out[k] = v
        return out


def rejected_by_reason(rejected: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Count reader rejections by reason (a summary entry with ``count`` stands for that many rows)."""
    counts: Counter[str] = Counter()
    for r in rejected:
        counts[str(r.get("reason", "unknown"))] += int(r.get("count", 1))
    return dict(counts)


def input_hash(ids: Iterable[str]) -> str:
    """SHA-256 over the sorted news ids a run used (same input news -> same hash)."""
    h = hashlib.sha256()
    for i in sorted(set(ids)):
        h.update(i.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def check_universe(universe: Iterable[str], known: Iterable[str], what: str = "the news source") -> list[str]:
    """Upper-cased universe; unknown tickers raise with the closest known names."""
    universe = sorted({u.strip().upper() for u in universe if u.strip()})
    known_set = set(known)
    unknown = [u for u in universe if u not in known_set]
    if unknown:
        hints = {u: difflib.get_close_matches(u, known_set, n=3) for u in unknown[:5]}
        hint = f"closest: {hints}" if any(hints.values()) else f"it has e.g. {sorted(known_set)[:8]}"
        raise UsageError(f"unknown tickers {unknown[:10]} (not in {what}, {len(known_set)} tickers); "
                         f"{hint}. Fix the universe or choose another --source")
    return universe


@contextmanager
def _opened(store: SignalStore | str | Path) -> Iterator[SignalStore]:
    """Use an open store as is, or open a path just for one phase (so readers can get in between)."""
    if isinstance(store, SignalStore):
        yield store
    else:
        with SignalStore(store) as st:
            yield st


ScoreFn = Callable[[pd.DataFrame], pd.DataFrame]
"""Scores the items the cache lacks: a frame with ``id`` and ``headline`` -> ``SentimentEncoder.score`` columns
indexed by id (one row per input id). The local engine is ``local_score_fn(encoder)``; the Ray engine is
``llmos_quant.signals.ray_engine.RayScorer``. Everything else in ``run_signals`` is shared by both engines."""


def local_score_fn(encoder: Any) -> ScoreFn:
    """Score in this process with ``encoder.score`` (the default engine)."""

    def score(todo: pd.DataFrame) -> pd.DataFrame:
        out = encoder.score(todo["headline"].reset_index(drop=True))
        out.index = todo["id"].to_numpy()
        return out

    return score


def run_signals(news: pd.DataFrame, encoder: Any, store: SignalStore | str | Path, start: str | pd.Timestamp,
                end: str | pd.Timestamp, universe: Iterable[str] | None = None, half_life: float = 5.0,
                lookback_sessions: int = 60, cutoff: str = DEFAULT_CUTOFF, kind: str = "backfill",
                progress: bool = True, events: str | None = None, run_id: str | None = None,
                params: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None,
                rejected: Iterable[dict[str, Any]] = (), dropped: dict[str, int] | None = None,
                left_out_by_reader: dict[str, int] | None = None, score_fn: ScoreFn | None = None,
                novelty: Any = None, embedder: Any = None) -> RunSummary:
    """Score and aggregate news into signals for sessions start..end and write them to the store.

    ``store`` is an open ``SignalStore`` or a path (then it is opened only while reading the score cache and
    while writing). ``events``: ``None`` (no event split), ``"rules"`` (keyword rules) or ``"model"`` (the
    trained event classifier) adds ``sentiment_<event>`` columns. ``rejected`` are the reader's rejected rows
    (counted by reason in the summary), ``left_out_by_reader`` the valid rows the reader did not pass on (by
    reason; not in ``news``), ``dropped`` other rows of ``news`` left out before this call (by reason); ``params``/``provenance``
    go to the ``runs`` row of ``run_id``. ``score_fn`` scores the items not in the store's score cache (default
    ``local_score_fn(encoder)``; the encoder still names the model and weights hash the cache is keyed by).
    ``novelty``: a ``signals.novelty.NoveltyConfig`` collapses near-duplicates by embedding similarity (counted in
    ``dropped``) and adds the ``novel_sentiment`` signal (``embedder``: a ``novelty.Embedder`` to reuse)."""
    t_all = time.perf_counter()
    started = pd.Timestamp.now(tz="UTC")
    s = RunSummary(run_id=run_id or new_run_id(), rejected=rejected_by_reason(rejected),
                   left_out_by_reader={k: int(v) for k, v in (left_out_by_reader or {}).items() if v})
    news = validate_news(news)
    target = trading_sessions(start, end)
    if target.empty:
        raise UsageError(f"no trading sessions between {pd.Timestamp(start).date()} and {pd.Timestamp(end).date()} "
                         "(weekend or holiday?); pick a trading day")
    window = trading_sessions(pd.Timestamp(target[0]) - pd.Timedelta(days=int(lookback_sessions * 1.6) + 7), end)
    window = window[max(0, window.get_indexer([target[0]])[0] - lookback_sessions):]
    s.sessions, s.news_in = len(target), len(news)
    t = time.perf_counter()
    unique = attach_sessions(dedupe(news), cutoff=cutoff)
    s.news_unique, s.duplicates_collapsed = len(unique), len(news) - len(unique)
    assets = sorted(set(universe)) if universe is not None else sorted(unique["asset"].unique())
    if not assets:
        from ..errors import DataNotFoundError

        raise DataNotFoundError(f"the news holds no item for sessions up to {target[-1].date()} (received {len(news)} "
                                "rows) and no universe was given; check the source's dates, or pass --universe to "
                                "write rows without news")
    s.assets = len(assets)
    in_universe = unique["asset"].isin(assets)
    before, after = unique["date"] < window[0], unique["date"] > window[-1]
    dropped = {**(dropped or {}), "outside the universe": int((~in_universe).sum()),
               "before the lookback window": int((in_universe & before).sum()),
               "after the last session's cutoff": int((in_universe & after).sum())}
    s.dropped = {k: v for k, v in dropped.items() if v}
    news = unique[in_universe & ~before & ~after].reset_index(drop=True)
    s.news_in_window = len(news)
    s.input_hash = input_hash(news["id"])
    s.seconds["prepare"] = time.perf_counter() - t
    # ---- score (with the store as cache) ----
    t = time.perf_counter()
    model, whash = encoder.model_name, encoder.weights_hash or ""
    with _opened(store) as st:
        cached = st.cached_scores(news["id"], model, whash)
    todo = news[~news["id"].isin(cached.index)]
    fresh = None
    if len(todo):
        fresh = (score_fn or local_score_fn(encoder))(todo[["id", "headline"]].reset_index(drop=True))
        if len(fresh) != len(todo) or not pd.Index(fresh.index).equals(pd.Index(todo["id"].to_numpy())):
            raise RuntimeError(f"the scorer returned {len(fresh)} rows for {len(todo)} items (or not in their order)")
        cached = pd.concat([cached, fresh[cached.columns.intersection(fresh.columns)]])
    s.scored_new, s.scored_cached = len(todo), len(news) - len(todo)
    s.seconds["score"] = time.perf_counter() - t
    t = time.perf_counter()
    scores = cached.reindex(news["id"])
    s.texts_invalid = int((~scores["valid"].astype(bool)).sum()) if len(scores) else 0
    scored = news.assign(score=scores["score"].to_numpy())
    if novelty is not None:
        from .novelty import Embedder, item_novelty

        t_n = time.perf_counter()
        emb = (embedder or Embedder(device=novelty.device, batch_size=novelty.batch_size)).embed(
            scored["headline"].tolist())
        nov = item_novelty(scored, emb, novelty.lookback_sessions, novelty.duplicate_threshold, sessions=window)
        dup = nov["near_duplicate"].to_numpy() & novelty.collapse
        if dup.any():
            s.dropped[f"near-duplicate of an earlier item (embedding similarity >= {novelty.duplicate_threshold:g})"] = \
                int(dup.sum())
        scored = scored.assign(novelty=nov["novelty"].to_numpy())[~dup].reset_index(drop=True)
        s.seconds["novelty"] = time.perf_counter() - t_n
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
    if novelty is not None:  # the same decay over novelty-weighted item scores
        weighted = scored.assign(score=scored["score"] * scored["novelty"])
        signals["novel_sentiment"] = daily_signals(weighted, window, assets, half_life=half_life,
                                                   cutoff=cutoff)["sentiment"].reindex(signals.index)
    signals = signals[signals.index.get_level_values("date").isin(target)]
    s.assets_with_news = int(scored.loc[scored["date"].isin(target), "asset"].nunique())
    s.seconds["aggregate"] = time.perf_counter() - t
    t = time.perf_counter()
    run_params = {"start": str(pd.Timestamp(start).date()), "end": str(pd.Timestamp(end).date()), "half_life": half_life,
                  "cutoff": cutoff, "lookback_sessions": lookback_sessions, "events": events, "assets": len(assets),
                  "novelty": None if novelty is None else {"lookback_sessions": novelty.lookback_sessions,
                                                           "duplicate_threshold": novelty.duplicate_threshold},
                  **(params or {})}
    prov = {"model": model, "weights_hash": whash, **(provenance or {})}
    with _opened(store) as st:
        if fresh is not None:
            st.write_scores(fresh.index, fresh, model, whash, run_id=s.run_id)
        st.write_news(news)
        s.signal_rows = st.write_signals(signals, model, whash, run_id=s.run_id)
        s.seconds["store"] = time.perf_counter() - t
        s.seconds["total"] = time.perf_counter() - t_all
        st.log_run(kind, run_params, s.as_dict(), started, run_id=s.run_id,
                   provenance={**prov, "input_hash": s.input_hash})
    return s
