"""Live (network) news sources: yfinance ``Ticker.news`` and RSS/Atom feeds, both bounded in time and cached.

- ``read_feed(source, ...)``: an RSS/Atom feed given as an http(s) URL (fetched by ``data.http.http_get``:
  timeout, bounded retries with backoff, total deadline; feedparser never fetches anything itself), a
  local file, or the XML text/bytes. Entries are linked to tickers with the project's one linker
  (``encoders.news_parser.TickerLinker`` over ``UniverseTable.for_universe(universe)``), by its name rules only:
  the learned link model is left out here because a feed carries news about no company at all, and the model's
  threshold was chosen on company-news rows that all name some company of the universe.
- ``fetch_yfinance_news(assets, ...)``: ``Ticker(asset).get_news`` per ticker, each try run in a daemon
  worker thread with a timeout, bounded retries with backoff, an optional total deadline.
- ``parse_yfinance_news(items, asset)``: the current item shape (``content.title``, ``content.pubDate``,
  ``content.provider.displayName``, ``content.canonicalUrl.url``); the older flat shape (``title``,
  ``providerPublishTime``, ``publisher``, ``link``) is read too.

Cache (``paths.cache_dir() / "news"``): a feed body that fetched and parsed is stored under
``news/rss/<sha256 of the URL>.xml`` (with ``.meta.json``: URL, time); the raw yfinance items of a ticker
under ``news/yfinance/<TICKER>.json``. When a fetch fails for a reason that may pass (network down,
timeout, HTTP 5xx or 429) and a cached copy exists, the copy is used, a warning is logged and the returned
``NewsRead`` says so in ``from_cache`` (the sources served from the cache; empty when all were fresh) and
``fetched_at`` (source -> when the copy was fetched). Rows from the cache are identical to the
rows of the original fetch (same ``source`` and ``id``). A 4xx answer is never papered over with a cached
copy: the address is wrong. Every file name is checked to stay inside the cache folder.
"""

from __future__ import annotations

import calendar as _cal
import html
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DataNotFoundError, FetchError, UsageError, ValidationError
from .http import (
    DEFAULT_BACKOFF,
    DEFAULT_DEADLINE,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    HTTPFetchError,
    cache_path,
    check_fetch_options,
    http_get,
    is_http_url,
    news_cache_root,
    read_cached,
    url_key,
    write_atomic,
    write_cached,
)
from .news import NEWS_COLUMNS, NewsRead, _finish, concat_news
from .tickers import validate_ticker, validate_tickers

log = logging.getLogger(__name__)

YFINANCE_TIMEOUT = 20.0
YFINANCE_BACKOFF = 1.0
YFINANCE_MAX_BACKOFF = 16.0


def _mark_cache(read: NewsRead, served: dict[str, str]) -> NewsRead:
    return replace(read, from_cache=sorted(served), fetched_at=dict(served))


# ---------------------------------------------------------------------------------------------- yfinance
def _utc(value: Any) -> pd.Timestamp:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return pd.Timestamp(value, unit="s", tz="UTC")
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise ValueError(f"not a time: {value!r}")
    return ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")


def parse_yfinance_news(items: Iterable[dict[str, Any]], asset: str) -> NewsRead:
    """yfinance ``Ticker(asset).news`` items -> ``NewsRead``. Items without a title or a readable publication
    time are not dropped silently: each is listed in ``NewsRead.rejected`` with the reason."""
    asset = validate_ticker(asset)
    rows, rejected = [], []
    for k, item in enumerate(items):
        content = item.get("content", item) if isinstance(item, dict) else None
        if not isinstance(content, dict):
            rejected.append({"row": k, "reason": "item is not a dict with 'content'", "values": str(item)[:120]})
            continue
        title = str(content.get("title") or "").strip()
        pub = content.get("pubDate") or content.get("displayTime") or content.get("providerPublishTime")
        if not title or not pub:
            rejected.append({"row": k, "reason": "no content.title or content.pubDate", "values": str(item)[:120]})
            continue
        try:
            published = _utc(pub)
        except (ValueError, TypeError, OverflowError) as exc:
            rejected.append({"row": k, "reason": f"unreadable content.pubDate ({exc})", "values": str(pub)[:120]})
            continue
        provider = (content.get("provider") or {}).get("displayName") or content.get("publisher") or "yfinance"
        url = (((content.get("canonicalUrl") or {}).get("url")) or ((content.get("clickThroughUrl") or {}).get("url"))
               or content.get("link") or "")
        rows.append({"published_at": published, "date_only": False, "asset": asset, "headline": title,
                     "body": content.get("summary") or "", "url": url, "source": f"yfinance:{provider}"})
    frame = pd.DataFrame(rows, columns=[*NEWS_COLUMNS[:-1]])
    frame["published_at"] = pd.to_datetime(frame["published_at"], utc=True)
    return _finish(frame, rejected, "yfinance")


def _call_with_timeout(fn: Callable[[], Any], timeout: float, name: str) -> Any:
    """``fn()`` in a worker thread; ``TimeoutError`` when it has not returned within ``timeout`` seconds.

    A ``concurrent.futures.Future`` carries the result, filled by a *daemon* thread rather than a
    ``ThreadPoolExecutor`` worker: the executor joins its workers at interpreter exit, so a call that never
    returns would hang the program's exit; an abandoned daemon thread does not."""
    future: Future[Any] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        return future.result(timeout=timeout)
    except FuturesTimeout:
        future.cancel()
        raise


def _yf_get(ticker_factory: Callable[[str], Any], ticker: str, count: int) -> list[dict[str, Any]]:
    t = ticker_factory(ticker)
    items = t.get_news(count=count) if hasattr(t, "get_news") else t.news
    if items is None:
        return []
    if not isinstance(items, list | tuple):
        raise ValidationError(f"yfinance news for {ticker} returned a {type(items).__name__}, expected a list of items; "
                              "the yfinance version may have changed its news format (pip install -U yfinance)")
    return list(items)


def _yf_cached(path: Path) -> tuple[list[dict[str, Any]], str] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return list(data["items"]), str(data.get("fetched_at", "unknown time"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the unreadable yfinance news cache %s (%s)", path, exc)
        return None


def fetch_yfinance_news(assets: Iterable[str], ticker_factory: Callable[[str], Any] | None = None,
                        count: int = 50, *, retries: int = DEFAULT_RETRIES, timeout: float = YFINANCE_TIMEOUT,
                        deadline: float | None = None, backoff: float = YFINANCE_BACKOFF,
                        max_backoff: float = YFINANCE_MAX_BACKOFF, sleep: Callable[[float], None] = time.sleep,
                        cache: bool = True) -> NewsRead:
    """Recent news for each asset from yfinance (network); ``ticker_factory`` (default ``yfinance.Ticker``) is
    injectable for tests.

    Per ticker: up to ``retries`` tries (any exception or no answer within ``timeout`` seconds counts as a
    failed try), waits of ``backoff * 2**(k-1)`` (capped at ``max_backoff``) between them. ``deadline``:
    seconds for the whole call (None: bounded by tickers x tries x (timeout + wait)). Each successful
    non-empty item list is cached as JSON (``cache_dir()/news/yfinance/<TICKER>.json``) and stands in when
    every try fails; without one, ``FetchError`` names the ticker. ``NewsRead.from_cache`` lists the
    ``yfinance news for <TICKER>`` sources that came from the cache (``fetched_at``: when each was fetched).
    """
    tickers = list(dict.fromkeys(validate_ticker(a) for a in assets))
    check_fetch_options(timeout, retries, deadline)
    if not isinstance(count, int) or count < 1:
        raise UsageError(f"count={count!r} is not a number of news items; expected an integer >= 1 (e.g. 50)")
    if ticker_factory is None:
        import yfinance as yf

        ticker_factory = yf.Ticker
    start = time.monotonic()
    end = start + deadline if deadline is not None else float("inf")
    reads, served = [], {}
    for ticker in tickers:
        what = f"yfinance news for {ticker}"
        path = cache_path("yfinance", f"{ticker}.json")
        items, last, tried = None, "no try made (deadline already reached)", 0
        for attempt in range(1, retries + 1):
            remaining = end - time.monotonic()
            if remaining <= 0:
                break
            tried, limit = attempt, min(timeout, remaining)
            try:
                items = _call_with_timeout(lambda t=ticker: _yf_get(ticker_factory, t, count), limit, f"yf-news-{ticker}")
                break
            except FuturesTimeout:
                last = f"no answer within {limit:.1f}s"
            except ValidationError:
                raise
            except Exception as exc:  # yfinance raises many types (requests, JSON, rate limit); all retried
                last = f"{type(exc).__name__}: {exc}"
            wait = min(backoff * 2 ** (attempt - 1), max_backoff)
            if attempt == retries or time.monotonic() + wait >= end:
                break
            log.warning("%s failed (%s); try %d/%d, next in %.1fs", what, last, attempt, retries, wait)
            sleep(wait)
        if items is not None:
            log.info("%s: %d items (try %d/%d)", what, len(items), tried, retries)
            if cache and items:
                try:
                    write_atomic(path, json.dumps({"ticker": ticker, "count": count, "items": items,
                                                   "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                                  default=str).encode())
                except OSError as exc:
                    log.warning("could not write the news cache %s (%s); continuing without caching", path, exc)
        else:
            failure = (f"{what} failed after {tried} of {retries} tries in {time.monotonic() - start:.1f}s "
                       f"(last: {last})")
            hit = _yf_cached(path) if cache else None
            if hit is None:
                where = f"no cached copy in {path.parent}" if cache else "the cache is off (cache=False)"
                raise FetchError(f"{failure}; {where}; check the network (or yfinance rate limits) and retry later")
            items, fetched_at = hit
            log.warning("%s; using the cached copy fetched at %s (%s)", failure, fetched_at, path)
            served[what] = fetched_at
        reads.append(parse_yfinance_news(items, ticker))
    return _mark_cache(concat_news(reads, source="yfinance"), served)


# ---------------------------------------------------------------------------------------------- RSS / Atom
_TAG = re.compile(r"<[^>]+>")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _clean(text: Any) -> str:
    """HTML -> plain text: tags dropped, entities unescaped, white space collapsed."""
    return re.sub(r"\s+", " ", html.unescape(_TAG.sub(" ", str(text or "")))).strip()


@lru_cache(maxsize=16)
def _universe_linker(tickers: tuple[str, ...], shared: str | None) -> Any:
    # ``shared`` is part of the key only: the table differs with and without the shared datasets.
    from ..encoders.news_parser import TickerLinker, UniverseTable

    return TickerLinker(UniverseTable.for_universe(tickers))


def _feed_bytes(source: str | bytes | Path, *, timeout: float, retries: int, deadline: float | None,
                backoff: float, sleep: Callable[[float], None], cache: bool) -> tuple[bytes, str, dict[str, Any]]:
    """(body, a name for messages, fetch info) for any accepted ``source``."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "the feed bytes given", {}
    if isinstance(source, str) and source.lstrip("\ufeff \t\r\n").startswith("<"):
        return source.encode("utf-8"), "the feed text given", {}
    if is_http_url(source):
        url = str(source).strip()
        path = cache_path("rss", f"{url_key(url)}.xml")
        try:
            fetched = http_get(url, timeout=timeout, retries=retries, deadline=deadline, backoff=backoff, sleep=sleep)
        except HTTPFetchError as exc:
            if not exc.transient:
                raise
            hit = read_cached(path) if cache else None
            if hit is None:
                where = f"no cached copy in {path.parent}" if cache else "the cache is off (cache=False)"
                raise HTTPFetchError(f"{exc}; {where}", url, exc.status, exc.transient) from exc
            body, meta = hit
            fetched_at = str(meta.get("fetched_at", "unknown time"))
            log.warning("%s; using the cached copy fetched at %s (%s)", exc, fetched_at, path)
            return body, url, {"url": url, "cache_path": path, "from_cache": True, "fetched_at": fetched_at}
        return fetched.body, url, {"url": url, "cache_path": path, "from_cache": False, "final_url": fetched.url}
    if isinstance(source, str) and _SCHEME.match(source.strip()):
        raise UsageError(f"feed source {source[:80]!r} has a scheme that is not fetched; expected an http(s) URL, "
                         "a local file path or the XML text")
    if not isinstance(source, str | Path):
        raise UsageError(f"feed source of type {type(source).__name__} is not accepted; expected a URL, a path, "
                         "the XML text or bytes")
    path = Path(source).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"feed file {path} does not exist; pass an existing RSS/Atom file, an http(s) URL "
                                "or the XML text")
    if not path.is_file():
        raise DataNotFoundError(f"feed path {path} is not a file; pass an RSS/Atom file")
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise DataNotFoundError(f"feed file {path} cannot be read ({exc}); check its permissions") from exc
    if not body.strip():
        raise ValidationError(f"feed file {path} is empty ({len(body)} bytes); expected RSS or Atom XML "
                              "(was the download interrupted?)")
    return body, str(path), {}


def _parse(body: bytes, name: str) -> Any:
    import feedparser

    if not body.strip():
        raise ValidationError(f"{name}: empty feed ({len(body)} bytes); expected RSS or Atom XML")
    # A file object: feedparser reads it and never fetches a URL or opens a path itself.
    parsed = feedparser.parse(io.BytesIO(body))
    if not parsed.get("version") and not parsed.entries:
        why = parsed.get("bozo_exception") or "no RSS/Atom elements found"
        raise ValidationError(f"{name}: not an RSS/Atom feed ({why}); check that it points to the feed itself "
                              "(the page's <link rel='alternate' type='application/rss+xml'>)")
    if parsed.get("bozo"):
        log.warning("%s: feed is not well-formed (%s); read %d entries anyway", name, parsed.get("bozo_exception"),
                    len(parsed.entries))
    return parsed


def read_feed(source: str | bytes | Path, asset: str | None = None, universe: Iterable[str] = (), *,
              timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES, cache: bool = True,
              linker: Any = None, deadline: float | None = DEFAULT_DEADLINE, backoff: float = DEFAULT_BACKOFF,
              sleep: Callable[[float], None] = time.sleep) -> NewsRead:
    """An RSS/Atom feed -> ``NewsRead`` (frame: ``NEWS_COLUMNS``, ``published_at`` UTC, ``source`` column
    ``rss:<feed title>``; ``from_cache``/``fetched_at`` name a cached copy served instead of a failed fetch).

    ``source``: an http(s) URL (``http_get`` with ``timeout``, ``retries`` tries, ``backoff``, ``deadline``;
    cached, see the module docstring), a local file (missing: ``DataNotFoundError``; empty or not a feed:
    ``ValidationError`` naming it) or the XML as text/bytes. Other schemes (``file://``, ``ftp://``) are refused.

    Tickers: every entry gets ``asset`` when given; otherwise ``linker.link(title + " " + summary)`` (default:
    ``TickerLinker(UniverseTable.for_universe(universe))``: names and aliases such as "Apple", cashtags
    ``$NVDA``, RICs, bare symbols) and every linked ticker of ``universe`` (all linked tickers when only a
    linker is given) makes one row. Entries linking none, and entries without title or date, are listed in
    ``NewsRead.rejected`` with the reason.
    """
    asset = validate_ticker(asset) if asset else None
    wanted = validate_tickers(universe.split(",") if isinstance(universe, str) else universe)
    if asset is None and linker is None and not wanted:
        raise UsageError("read_feed needs asset= (one ticker for every entry), universe= (the tickers to link "
                         "entries to) or linker=; e.g. --universe AAPL,MSFT")
    check_fetch_options(timeout, retries, deadline)
    body, name, info = _feed_bytes(source, timeout=timeout, retries=retries, deadline=deadline, backoff=backoff,
                                   sleep=sleep, cache=cache)
    parsed = _parse(body, f"{name} (cached copy {info['cache_path']})" if info.get("from_cache") else name)
    if info and cache and not info["from_cache"]:
        write_cached(info["cache_path"], body, {"url": info["url"], "final_url": info.get("final_url", info["url"])})
    if asset is None and linker is None:
        from ..paths import shared_data_dir

        root = shared_data_dir()
        linker = _universe_linker(tuple(wanted), str(root) if root else None)
    keep = set(wanted)
    feed_title = _clean(parsed.feed.get("title", "")) or "feed"
    rows, rejected = [], []
    for k, e in enumerate(parsed.entries):
        when = e.get("published_parsed") or e.get("updated_parsed")
        title = _clean(e.get("title", ""))
        if not when or not title:
            rejected.append({"row": k, "reason": "entry without title or date", "values": title[:80]})
            continue
        ts = pd.Timestamp(_cal.timegm(when), unit="s", tz="UTC")
        body_text = _clean(e.get("summary", ""))
        if asset:
            linked = [asset]
        else:
            links, _unlinked = linker.link(f"{title} {body_text}")
            linked = list(dict.fromkeys(d["ticker"] for d in links if not keep or d["ticker"] in keep))
        if not linked:
            rejected.append({"row": k, "reason": "no ticker of the universe named", "values": title[:80]})
        for a in linked:
            rows.append({"published_at": ts, "date_only": False, "asset": a, "headline": title, "body": body_text,
                         "url": e.get("link", ""), "source": f"rss:{feed_title}"})
    frame = pd.DataFrame(rows, columns=[*NEWS_COLUMNS[:-1]])
    frame["published_at"] = pd.to_datetime(frame["published_at"], utc=True)
    out = _finish(frame, rejected, "rss")
    log.info("%s: %d entries -> %d rows, %d rejected", name, len(parsed.entries), len(out), len(rejected))
    return _mark_cache(out, {name: info["fetched_at"]} if info.get("from_cache") else {})


__all__ = ["fetch_yfinance_news", "news_cache_root", "parse_yfinance_news", "read_feed"]
