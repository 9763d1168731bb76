"""The daily/backfill signal job: typed config -> news source -> universe check -> encoder -> store -> output file.

``run_signal_job(SignalJobConfig(...))`` is what ``llmos-quant signals daily|backfill``, the daily notebook
and the benchmarks call. The store is held only while the job reads its score cache and while it writes, so
a report can read the store (read-only) during a long scoring pass.
"""

from __future__ import annotations

import logging
import math
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .. import __version__
from ..backends import BACKENDS, TRANSFORMER_BACKENDS
from ..data.calendar import (
    DEFAULT_CUTOFF,
    DEFAULT_TZ,
    parse_cutoff,
    parse_date,
    session_cutoff_utc,
    trading_sessions,
)
from ..errors import StoreError, UsageError
from ..paths import PACKAGE_DIR, check_writable_parent, data_dir, write_atomic
from ..signals.pipeline import RunSummary, check_universe, run_signals
from ..signals.store import SignalStore, new_run_id
from .registry import load_news

log = logging.getLogger(__name__)

EVENT_MODES = ("rules", "model")
ENGINES = ("local", "ray")


def default_store() -> Path:
    return data_dir() / "store" / "signals.duckdb"


@dataclass(frozen=True)
class SignalJobConfig:
    """One signal job. Dates are session dates; ``universe=None`` means every ticker of the source."""

    kind: Literal["daily", "backfill"]
    start: pd.Timestamp
    end: pd.Timestamp
    source: str = "reuters"
    store: Path = field(default_factory=default_store)
    universe: tuple[str, ...] | None = None
    backend: str = "llmos"
    model_path: str | None = None
    half_life: float = 5.0  # sessions; the signal decays by half over this many sessions without news
    cutoff: str = DEFAULT_CUTOFF  # HH:MM New York time: news at or after it counts for the next session
    batch_size: int = 64
    events: str | None = None  # None | rules | model
    news_tz: str | None = None  # the zone of zone-less timestamps in the source (else they are refused)
    news_lookback_days: int = 120  # calendar days of news read before start (decay and surprise need history)
    output: Path | None = None  # ranked signals file (.csv/.parquet); daily jobs default to <store dir>/daily/
    progress: bool = True
    engine: str = "local"  # local (this process) | ray (scoring on Ray Data actors; see signals.ray_engine)
    ray_address: str | None = None  # HOST:PORT of a running Ray cluster; None: start a local Ray for the job
    ray_workers: int | None = None  # scoring actors; None: the GPUs (else CPUs) Ray reports
    novelty_lookback: int | None = None  # sessions of the same ticker's news an item is compared to; None: off

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", pd.Timestamp(self.start).normalize())
        object.__setattr__(self, "end", pd.Timestamp(self.end).normalize())
        object.__setattr__(self, "store", Path(self.store))
        if self.engine not in ENGINES:
            raise UsageError(f"--engine {self.engine!r}: expected one of {', '.join(ENGINES)}")
        if self.engine != "ray" and (self.ray_address is not None or self.ray_workers is not None):
            raise UsageError("--ray-address/--ray-workers apply to --engine ray only; add --engine ray or drop them")
        if self.ray_workers is not None and not (isinstance(self.ray_workers, int) and self.ray_workers > 0):
            raise UsageError(f"--ray-workers {self.ray_workers!r}: expected a whole number > 0, e.g. 2")
        if self.ray_address is not None:
            from ..signals.ray_engine import check_address

            check_address(self.ray_address)
        if self.novelty_lookback is not None and not (isinstance(self.novelty_lookback, int)
                                                      and self.novelty_lookback >= 0):
            raise UsageError(f"--novelty {self.novelty_lookback!r}: expected a whole number of sessions >= 0, e.g. 5")
        if self.kind not in ("daily", "backfill"):
            raise UsageError(f"kind must be 'daily' or 'backfill', got {self.kind!r}")
        if self.start > self.end:
            raise UsageError(f"--start {self.start.date()} is after --end {self.end.date()}; swap them")
        if not (isinstance(self.half_life, int | float) and math.isfinite(self.half_life) and self.half_life > 0):
            raise UsageError(f"--half-life {self.half_life!r}: expected a finite number of sessions > 0, e.g. 5")
        if not (isinstance(self.batch_size, int) and self.batch_size > 0):
            raise UsageError(f"--batch-size {self.batch_size!r}: expected a whole number > 0, e.g. 64")
        if not (isinstance(self.news_lookback_days, int) and self.news_lookback_days >= 0):
            raise UsageError(f"news_lookback_days {self.news_lookback_days!r}: expected a whole number >= 0")
        parse_cutoff(self.cutoff)
        if self.backend not in BACKENDS:
            raise UsageError(f"--backend {self.backend!r}: expected one of {', '.join(BACKENDS)}")
        if self.events is not None and self.events not in EVENT_MODES:
            raise UsageError(f"--events {self.events!r}: expected one of {', '.join(EVENT_MODES)} (or leave it out)")
        if self.output is not None:
            object.__setattr__(self, "output", Path(self.output))
            if self.output.suffix not in (".csv", ".parquet"):
                raise UsageError(f"--output {self.output}: expected a .csv or .parquet file name")
            check_writable_parent(self.output, "--output")
        check_writable_parent(self.store, "--store")
        if self.model_path is not None and self.backend not in TRANSFORMER_BACKENDS:
            raise UsageError(f"--model-path applies to the llmos and hf backends, not to {self.backend!r}; drop it or "
                             "pick --backend llmos/hf")
        if self.news_tz is not None:
            check_zone(self.news_tz)

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path | pd.Timestamp) else v) for k, v in asdict(self).items()}


def _novelty(config: SignalJobConfig) -> Any:
    if config.novelty_lookback is None:
        return None
    from ..signals.novelty import NoveltyConfig

    return NoveltyConfig(lookback_sessions=config.novelty_lookback, batch_size=config.batch_size)


def check_zone(tz: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"--news-tz {tz!r} is not a time zone; use an IANA name such as America/New_York or UTC") from exc


@dataclass
class SignalJobResult:
    summary: RunSummary
    model: str
    weights_hash: str
    store: Path
    store_counts: dict[str, int]
    output: Path | None
    synthetic: bool
    provenance: dict[str, Any]

    def rows(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "weights_hash": self.weights_hash, **self.summary.rows(),
                               "store": str(self.store), **{f"store {k}": v for k, v in self.store_counts.items()},
                               "output": str(self.output) if self.output else "-", "git_commit": self.provenance.get(
                                   "git_commit") or "-"}
        if self.synthetic:
            out = {"NOTE": "SYNTHETIC data (simulator), not real markets", **out}
        return out


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The checkout's commit when the package runs from a git checkout (None from a wheel install)."""
    repo = PACKAGE_DIR.parent
    if not (repo / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def provenance() -> dict[str, Any]:
    return {"package_version": __version__, "git_commit": git_commit()}


def resolve_session(value: str, cutoff: str = DEFAULT_CUTOFF, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """``YYYY-MM-DD`` or ``today``: the latest session whose cutoff (New York time) has passed at ``now``."""
    if value.strip().lower() != "today":
        try:
            return parse_date(value, "--date")
        except UsageError as exc:
            raise UsageError(f"{exc}, or 'today'") from exc
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if now.tzinfo is None:
        raise UsageError("now must be tz-aware")
    local_day = now.tz_convert(DEFAULT_TZ).tz_localize(None).normalize()
    for session in reversed(trading_sessions(local_day - pd.Timedelta(days=15), local_day)):
        if session_cutoff_utc(session, cutoff) <= now:
            return pd.Timestamp(session)
    raise UsageError(f"no session with a passed cutoff in the 15 days before {local_day.date()}")  # pragma: no cover


def check_cutoff_passed(session: pd.Timestamp, cutoff: str = DEFAULT_CUTOFF, now: pd.Timestamp | None = None) -> None:
    """Refuse a session whose news cutoff is still to come: its signals would miss the news published until then,
    yet be stored as that session's."""
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    cut = session_cutoff_utc(session, cutoff)
    if cut > now:
        raise UsageError(
            f"session {pd.Timestamp(session).date()} is still to come: its news cutoff ({cutoff} {DEFAULT_TZ}, "
            f"{cut:%Y-%m-%d %H:%M} UTC) has not passed (now {now:%Y-%m-%d %H:%M} UTC), so its signals would miss the "
            "news published until then; run after the cutoff, or pass --date today (the latest session whose cutoff "
            "has passed)")


def write_ranked(signals: pd.DataFrame, path: Path, session: pd.Timestamp | None = None) -> Path:
    """The ranked signals (best first per date) as CSV or Parquet, written atomically."""
    frame = signals.reset_index()
    if session is not None:
        frame = frame[frame["date"] == session]
    frame = frame.sort_values(["date", "sentiment"], ascending=[True, False], na_position="last")
    frame.insert(2, "rank", frame.groupby("date")["sentiment"].rank(ascending=False, method="min").astype("Int64"))
    def write(tmp: Path) -> None:
        frame.to_parquet(tmp, index=False) if path.suffix == ".parquet" else frame.to_csv(tmp, index=False)

    return write_atomic(path, write, "the signals file", "--output")


def run_signal_job(config: SignalJobConfig, encoder: Any = None) -> SignalJobResult:
    """Run one daily/backfill job end to end; see the module docstring. ``encoder`` overrides the backend."""
    if config.engine == "ray":
        from ..signals.ray_engine import ray_session

        # started first, so that a cluster that cannot be reached fails before any data or model is loaded
        with ray_session(config.ray_address, num_cpus=config.ray_workers):
            return _run_signal_job(config, encoder)
    return _run_signal_job(config, encoder)


def _run_signal_job(config: SignalJobConfig, encoder: Any = None) -> SignalJobResult:
    from ..encoders.sentiment import SentimentEncoder

    run_id = new_run_id()
    check_cutoff_passed(config.end, config.cutoff)
    batch = load_news(config.source, config.start - pd.Timedelta(days=config.news_lookback_days), config.end,
                      universe=config.universe, tz=config.news_tz)
    tickers = None
    if config.universe is not None:
        tickers = (check_universe(config.universe, batch.known_assets, config.source) if batch.closed_universe
                   else sorted({u.upper() for u in config.universe}))
    if batch.frame.empty and (config.universe is None or not batch.rejected):
        # with a universe an empty window is still an error when the source gave nothing at all (a dead feed, dates
        # past a file's end); a feed whose entries name none of the universe is alive, and its rejections say so
        from ..errors import DataNotFoundError

        span = f"{batch.first.date()} .. {batch.last.date()}" if batch.first is not None else "no dated rows"
        raise DataNotFoundError(
            f"--source {config.source} has no news between {(config.start - pd.Timedelta(days=config.news_lookback_days)).date()}"
            f" and {config.end.date()} (it holds {len(batch.known_assets)} tickers, published {span}); pick dates in "
            "that range (a live feed: check that it still publishes)")
    if encoder is None:
        transformer = config.backend in TRANSFORMER_BACKENDS
        kwargs = {"batch_size": config.batch_size, "progress": config.progress} if transformer else {}
        encoder = SentimentEncoder.create(config.backend, config.model_path, **kwargs)
    prov = provenance()
    score_fn = None
    if config.engine == "ray":
        from ..signals.ray_engine import RayScorer

        # the driver's encoder names the model and weights hash (the cache key); the actors load their own copy
        score_fn = RayScorer(config.backend, config.model_path, config.batch_size, config.ray_workers,
                             scratch=config.store.parent, progress=config.progress)
    summary = run_signals(batch.frame, encoder, config.store, config.start, config.end, universe=tickers,
                          half_life=config.half_life, cutoff=config.cutoff, kind=config.kind, progress=config.progress,
                          events=config.events, run_id=run_id,
                          params={"config": config.as_dict(), "news_from_cache": batch.from_cache}, provenance=prov,
                          rejected=batch.rejected,
                          left_out_by_reader={"published outside the job's news window": batch.outside_window},
                          score_fn=score_fn, novelty=_novelty(config))
    output = config.output
    if output is None and config.kind == "daily":
        output = config.store.parent / "daily" / f"signals_{config.end.date()}.csv"
    with SignalStore(config.store, read_only=True) as store:
        counts = store.counts()
        if output is not None:
            # the store's rows of the window, not only this run's: a rerun for part of the universe replaces those
            # assets' rows and leaves the others, and the file (ranked across every asset of each day) says the same
            written = store.signals(model=encoder.model_name, start=str(config.start.date()), end=str(config.end.date()))
    if output is not None:
        try:
            write_ranked(written, Path(output))
        except StoreError as exc:
            raise StoreError(f"the signals of run {run_id} are in the store {config.store} (`signals runs` lists the "
                             f"run), but {exc}") from exc
    return SignalJobResult(summary, encoder.model_name, encoder.weights_hash or "", config.store, counts,
                           Path(output) if output else None, config.source == "synthetic", prov)


@dataclass(frozen=True)
class LookaheadJobConfig:
    """``llmos-quant signals lookahead``: recompute sampled sessions with later data removed."""

    start: pd.Timestamp
    end: pd.Timestamp
    source: str = "reuters"
    universe: tuple[str, ...] | None = None
    backend: str = "lm"
    model_path: str | None = None
    samples: int = 5
    seed: int = 0
    half_life: float = 5.0
    cutoff: str = DEFAULT_CUTOFF
    news_tz: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", pd.Timestamp(self.start).normalize())
        object.__setattr__(self, "end", pd.Timestamp(self.end).normalize())
        if self.start > self.end:
            raise UsageError(f"--start {self.start.date()} is after --end {self.end.date()}; swap them")
        if not (isinstance(self.samples, int) and self.samples > 0):
            raise UsageError(f"--samples {self.samples!r}: expected a whole number > 0")
        if not (math.isfinite(self.half_life) and self.half_life > 0):
            raise UsageError(f"--half-life {self.half_life!r}: expected a finite number of sessions > 0")
        if self.backend not in BACKENDS:
            raise UsageError(f"--backend {self.backend!r}: expected one of {', '.join(BACKENDS)}")
        parse_cutoff(self.cutoff)


def run_lookahead_job(config: LookaheadJobConfig, encoder: Any = None) -> Any:
    """Load the source, score its items once, and run ``lookahead_analysis`` on the pipeline's signal."""
    from ..data.news import dedupe
    from ..encoders.sentiment import SentimentEncoder
    from ..signals.lookahead import lookahead_analysis, pipeline_signal_fn, sessions_between

    batch = load_news(config.source, config.start - pd.Timedelta(days=120), config.end, universe=config.universe,
                      tz=config.news_tz)
    news = batch.frame
    if config.universe is not None:
        tickers = (check_universe(config.universe, batch.known_assets, config.source) if batch.closed_universe
                   else sorted(config.universe))
        news = news[news["asset"].isin(tickers)].reset_index(drop=True)
    else:
        tickers = sorted(set(news["asset"]))
    encoder = encoder or SentimentEncoder.create(config.backend, config.model_path)
    unique = dedupe(news)
    scores = encoder.score(unique["headline"].reset_index(drop=True))["score"]
    scores.index = unique["id"].to_numpy()
    sessions = sessions_between(config.start, config.end)
    fn = pipeline_signal_fn(scores, config.half_life, config.cutoff, tickers)
    return lookahead_analysis(news, sessions, fn, n_samples=config.samples, seed=config.seed, cutoff=config.cutoff)
