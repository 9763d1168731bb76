"""Registries of news sources, price sources and strategies: the one place the CLI, notebooks, study, demo
and benchmarks look them up.

News source specs (``--source``):

============================  =========================================================================
``reuters[:PATH]``            Reuters headlines by ticker CSV (date-only: counts after that day's close)
``benzinga[:PATH]``           Benzinga analyst-ratings CSV (offset timestamps, or date-only)
``table:PATH``                any CSV/Parquet with ``published_at`` (with a zone), ``asset``, ``headline``
``synthetic``                 the simulator's SYNTHETIC news (offline)
``yfinance``                  yfinance ``Ticker.news`` for ``--universe`` (network; cached)
``rss:URL|PATH``              an RSS/Atom feed, linked to ``--universe`` tickers (network; cached)
``PATH.csv|PATH.parquet``     a file: its columns decide between table, Reuters and Benzinga
============================  =========================================================================

Price source specs (``--prices``): ``sp500``, ``stocknet``, ``synthetic``, ``yfinance`` or a ``.csv``/``.parquet``
file with ``date, asset, open, high, low, close, volume``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.news import NewsRead
from ..data.tickers import validate_tickers
from ..errors import UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewsRequest:
    """What a news loader is asked for: the UTC window, the universe and the declared zone of naive times."""

    start: pd.Timestamp
    end: pd.Timestamp
    universe: tuple[str, ...] | None = None
    tz: str | None = None
    sim: dict[str, Any] = field(default_factory=dict)


@dataclass
class NewsBatch:
    """A loaded news frame with what the reader rejected and the tickers the source knows."""

    source: str
    frame: pd.DataFrame
    rejected: list[dict[str, Any]]
    known_assets: list[str]
    closed_universe: bool  # True when the source lists every ticker it has (a file); False for live feeds
    outside_window: int = 0  # valid rows read but published outside [start - 7 days, end + 1 day]
    first: pd.Timestamp | None = None  # earliest and latest publication time the source holds
    last: pd.Timestamp | None = None
    from_cache: list[str] = field(default_factory=list)  # live sources served from the offline cache


@dataclass(frozen=True)
class NewsSource:
    name: str
    help: str
    loader: Callable[[str | None, NewsRequest], NewsRead]
    needs_universe: bool = False
    closed_universe: bool = True
    network: bool = False
    takes_arg: bool = False  # ``name:ARG`` (a path or URL)


def _reuters(arg: str | None, req: NewsRequest) -> NewsRead:
    from ..data.news import read_reuters_csv

    return read_reuters_csv(arg)


def _benzinga(arg: str | None, req: NewsRequest) -> NewsRead:
    from ..data.news import read_benzinga_csv

    return read_benzinga_csv(arg, tz=req.tz)


def _table(arg: str | None, req: NewsRequest) -> NewsRead:
    from ..data.news import read_news_table

    if not arg:
        raise UsageError("--source table needs a file: --source table:news.parquet (or .csv)")
    return read_news_table(arg, tz=req.tz)


def _synthetic(arg: str | None, req: NewsRequest) -> NewsRead:
    from ..data.simulate import simulate_market

    return NewsRead(simulate_market(**req.sim).news, "synthetic", [])


def _yfinance(arg: str | None, req: NewsRequest) -> NewsRead:
    from ..data.live import fetch_yfinance_news

    return fetch_yfinance_news(req.universe or ())


def _rss(arg: str | None, req: NewsRequest) -> NewsRead:
    from ..data.live import read_feed

    if not arg:
        raise UsageError("--source rss needs a feed: --source rss:https://example.com/feed.xml (or a file path)")
    return read_feed(arg, universe=req.universe or ())


NEWS_SOURCES: dict[str, NewsSource] = {s.name: s for s in (
    NewsSource("reuters", "Reuters headlines by ticker CSV (default: ../shared/data)", _reuters, takes_arg=True),
    NewsSource("benzinga", "Benzinga analyst-ratings CSV (default: ../shared/data)", _benzinga, takes_arg=True),
    NewsSource("table", "CSV/Parquet with published_at (zoned), asset, headline[, body, source, url]", _table,
               takes_arg=True),
    NewsSource("synthetic", "SYNTHETIC simulator news (offline)", _synthetic),
    NewsSource("yfinance", "yfinance Ticker.news for the universe (network, cached)", _yfinance, needs_universe=True,
               closed_universe=False, network=True),
    NewsSource("rss", "RSS/Atom feed URL or file, linked to the universe (network, cached)", _rss, needs_universe=True,
               closed_universe=False, network=True, takes_arg=True),
)}


def resolve_news_source(spec: str) -> tuple[NewsSource, str | None]:
    """``name``, ``name:ARG`` or a file path -> (source, argument)."""
    name, sep, arg = spec.partition(":")
    if name in NEWS_SOURCES:  # a source that needs an argument (table:, rss:) says so in its loader
        src = NEWS_SOURCES[name]
        if sep and not src.takes_arg:
            raise UsageError(f"--source {spec!r}: {name} takes no argument; use --source {name}")
        return src, (arg or None)
    path = Path(spec)
    if path.suffix in (".csv", ".parquet"):
        from ..data.news import check_news_file, sniff_news_format

        check_news_file(path)
        return NEWS_SOURCES[sniff_news_format(path)], str(path)
    raise UsageError(f"unknown news source {spec!r}; expected one of {sorted(NEWS_SOURCES)} (name or name:PATH/URL) "
                     "or a path to a .csv/.parquet file")


def load_news(spec: str, start: str | pd.Timestamp, end: str | pd.Timestamp, universe: Iterable[str] | None = None,
              tz: str | None = None, **sim: Any) -> NewsBatch:
    """News of a source for sessions ``start..end`` (published in [start - 7 days, end + 1 day], UTC).

    Items outside that window are left out here; the job counts what it drops at each later stage."""
    src, arg = resolve_news_source(spec)
    tickers = tuple(validate_tickers(universe)) if universe is not None else None
    if src.needs_universe and not tickers:
        raise UsageError(f"source {src.name!r} needs a universe to fetch or link news: add --universe AAPL,MSFT "
                         "(or a file with one ticker per line)")
    req = NewsRequest(pd.Timestamp(start), pd.Timestamp(end), tickers, tz, sim.get("sim", {}))
    read = src.loader(arg, req)
    if src.closed_universe and read.frame.empty and read.rejected:
        from ..errors import ValidationError

        total = sum(int(r.get("count", 1)) for r in read.rejected)
        reasons = sorted({r["reason"] for r in read.rejected})
        raise ValidationError(f"--source {spec}: every row was rejected ({total} rows: {'; '.join(reasons)}; first: "
                              f"{read.rejected[0].get('values')}); fix the file (see the reader's expected format in "
                              "`llmos-quant signals daily --help`) or pass another --source")
    news = read.frame
    known = sorted(set(news["asset"]))
    lo = pd.Timestamp(start).tz_localize("UTC") - pd.Timedelta(days=7)
    hi = pd.Timestamp(end).tz_localize("UTC") + pd.Timedelta(days=1)
    inside = (news["published_at"] >= lo) & (news["published_at"] < hi)
    first, last = (news["published_at"].min(), news["published_at"].max()) if len(news) else (None, None)
    return NewsBatch(spec, news[inside].reset_index(drop=True), list(read.rejected), known, src.closed_universe,
                     int((~inside).sum()), first, last, list(read.from_cache))


# ---- prices ---------------------------------------------------------------------------------------------
PRICE_SOURCES: dict[str, str] = {
    "sp500": "Kaggle S&P 500 daily prices 2013-2018 (../shared/data)",
    "stocknet": "StockNet Yahoo prices of 88 tickers (../shared/data)",
    "synthetic": "SYNTHETIC simulator prices (offline)",
    "yfinance": "yfinance daily OHLCV, cached as Parquet (network)",
    "PATH": ".csv/.parquet with date, asset, open, high, low, close, volume",
}


def load_prices(spec: str, assets: Iterable[str] | None = None, start: str | None = None, end: str | None = None,
                sim: dict[str, Any] | None = None) -> pd.DataFrame:
    """Prices of a source as a validated (date, asset) OHLCV frame."""
    from ..data import prices as P

    tickers = validate_tickers(assets) if assets is not None else None
    if spec in ("sp500", "stocknet"):
        # assets without a price file are left out here and counted downstream (factor rows / backtest data issues)
        have = local_price_assets(spec)
        found = sorted(set(tickers) & have) if tickers is not None else None
        if found is not None and not found:
            from ..errors import DataNotFoundError

            raise DataNotFoundError(f"--prices {spec}: none of the {len(tickers)} signal assets has a price file "
                                    f"(e.g. {tickers[:5]}); {len(have)} tickers are available. Use another --prices")
        if found is not None and len(found) < len(tickers):
            log.warning("--prices %s has no prices for %d of %d assets (e.g. %s): their rows are counted as dropped",
                        spec, len(tickers) - len(found), len(tickers), sorted(set(tickers) - have)[:5])
        reader = P.read_sp500_csvs if spec == "sp500" else P.read_stocknet_csvs
        return prices_in_window(spec, reader(assets=found, start=start, end=end), start, end,
                          lambda: reader(assets=found))
    if spec == "synthetic":
        from ..data.simulate import simulate_market

        full = simulate_market(**(sim or {})).prices
        return prices_in_window(spec, P._slice(full, start, end), start, end, lambda: full)
    if spec == "yfinance":
        if not tickers or not start or not end:
            raise UsageError("--prices yfinance needs --universe (or signals naming tickers), --start and --end")
        return P.YFinancePrices().get(tickers, start, end)
    path = Path(spec)
    if path.suffix in (".parquet", ".csv"):
        full = read_price_file(path)
        return prices_in_window(spec, P._slice(full, start, end), start, end, lambda: full)
    raise UsageError(f"--prices {spec!r}: expected one of sp500, stocknet, synthetic, yfinance or a .parquet/.csv file")


def prices_in_window(spec: str, frame: pd.DataFrame, start: str | None, end: str | None,
               full: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """``frame`` (a source's prices cut to start..end), or ``DataNotFoundError`` naming the dates the source covers
    when the cut holds no session (instead of an empty frame whose date range reads NaT..NaT downstream)."""
    if len(frame):
        return frame
    from ..errors import DataNotFoundError

    whole = full()
    dates = whole.index.get_level_values("date")
    covers = f"{dates.min().date()}..{dates.max().date()}" if len(whole) else "no sessions at all"
    raise DataNotFoundError(f"--prices {spec} has no session in {start or 'its start'}..{end or 'its end'} for these "
                            f"assets; it covers {covers}. Pass signals or --start/--end inside that range, or another "
                            "--prices")


def local_price_assets(spec: str) -> set[str]:
    """Tickers with a price file in a local price source (``sp500`` or ``stocknet``)."""
    from ..paths import shared_path

    if spec == "sp500":
        return {f.name.removesuffix("_data.csv").upper()
                for f in shared_path("sp500_prices_5yr", "individual_stocks_5yr").glob("*_data.csv")}
    return {f.stem.upper() for f in shared_path("stocknet", "price_raw").glob("*.csv")}


def read_price_file(path: str | Path) -> pd.DataFrame:
    """A user's price file (CSV or Parquet, long: date, asset, OHLCV) through the same checks as every price source."""
    from ..data import prices as P
    from ..errors import DataNotFoundError, ValidationError

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"price file {path} does not exist; check --prices")
    if path.stat().st_size == 0:
        raise ValidationError(f"price file {path} is empty (0 bytes); expected date, asset, open, high, low, close, volume")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # parser errors of pandas / pyarrow
        raise ValidationError(f"price file {path} is not readable ({type(exc).__name__}: {exc})") from exc
    if isinstance(frame.index, pd.MultiIndex):
        frame = frame.reset_index()
    missing = [c for c in ("date", "asset", *P.PRICE_COLUMNS) if c not in frame.columns]
    if missing:
        raise ValidationError(f"price file {path} lacks columns {missing}; has {list(frame.columns)}")
    return P._finish(frame)


# ---- strategies -----------------------------------------------------------------------------------------
def list_strategies(extra: Iterable[str | Path] = ()) -> tuple[list[str], dict[str, Path]]:
    """(folders searched, {name: file}) - what ``llmos-quant strategies list`` prints."""
    from ..backtest.resolver import available, search_paths

    return [str(p) for p in search_paths(extra)], available(extra)


def resolve_strategy(name: str, extra: Iterable[str | Path] = ()) -> type:
    from ..backtest.resolver import resolve_strategy as _resolve

    return _resolve(name, extra)
