"""Live (network) news sources: yfinance ``Ticker.news`` and RSS/Atom feeds.

yfinance items (current shape: ``content.title``, ``content.pubDate``, ``content.provider``,
``content.canonicalUrl.url``); RSS/Atom via feedparser.
"""

from __future__ import annotations

import calendar as _cal
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from ..errors import FetchError
from .news import NEWS_COLUMNS, _finish, concat_news

log = logging.getLogger(__name__)


def parse_yfinance_news(items: Iterable[dict[str, Any]], asset: str) -> pd.DataFrame:
    """yfinance ``Ticker(asset).news`` items -> news frame (skips items without title or pubDate, with a count)."""
    rows, rejected = [], []
    for k, item in enumerate(items):
        content = item.get("content", item) if isinstance(item, dict) else {}
        title = content.get("title")
        pub = content.get("pubDate") or content.get("displayTime")
        if not title or not pub:
            rejected.append({"row": k, "reason": "no content.title or content.pubDate", "values": str(item)[:120]})
            continue
        provider = (content.get("provider") or {}).get("displayName", "yfinance")
        url = ((content.get("canonicalUrl") or {}).get("url")) or ((content.get("clickThroughUrl") or {}).get("url")) or ""
        rows.append({"published_at": pd.Timestamp(pub).tz_convert("UTC") if pd.Timestamp(pub).tzinfo
                     else pd.Timestamp(pub).tz_localize("UTC"),
                     "date_only": False, "asset": asset, "headline": title,
                     "body": content.get("summary") or "", "url": url, "source": f"yfinance:{provider}"})
    frame = pd.DataFrame(rows, columns=[*NEWS_COLUMNS[:-1]])
    frame["published_at"] = pd.to_datetime(frame["published_at"], utc=True)
    return _finish(frame, rejected, "yfinance")


def fetch_yfinance_news(assets: Iterable[str], ticker_factory: Callable[[str], Any] | None = None,
                        count: int = 50) -> pd.DataFrame:
    """Recent news for each asset from yfinance (network). ``ticker_factory`` is injectable for tests."""
    if ticker_factory is None:
        import yfinance as yf

        ticker_factory = yf.Ticker
    frames = []
    for asset in assets:
        try:
            t = ticker_factory(asset)
            items = t.get_news(count=count) if hasattr(t, "get_news") else t.news
        except Exception as exc:
            raise FetchError(f"yfinance news for {asset!r} failed ({type(exc).__name__}: {exc}); retry later") from exc
        frames.append(parse_yfinance_news(items or [], asset))
    return concat_news(frames)


def read_feed(source: str | bytes, asset: str | None = None, universe: Iterable[str] = ()) -> pd.DataFrame:
    """An RSS/Atom feed (URL, path or the XML text) -> news frame.

    Each entry is assigned ``asset`` when given; otherwise the tickers of ``universe`` it names as a cashtag
    (``$AAPL``) or as an upper-case word (one row per linked ticker); entries naming none are rejected
    with a reason (see attrs['rejected']).
    """
    import feedparser

    parsed = feedparser.parse(source)
    if parsed.get("bozo") and not parsed.entries:
        raise FetchError(f"could not parse feed {str(source)[:80]!r}: {parsed.get('bozo_exception')}")
    tickers = {t.upper() for t in universe}
    rows, rejected = [], []
    for k, e in enumerate(parsed.entries):
        when = e.get("published_parsed") or e.get("updated_parsed")
        title = e.get("title", "").strip()
        if not when or not title:
            rejected.append({"row": k, "reason": "entry without title or date", "values": title[:80]})
            continue
        ts = pd.Timestamp(_cal.timegm(when), unit="s", tz="UTC")
        if asset:
            linked = [asset]
        else:
            words = set(re.findall(r"\$?([A-Z]{1,5})\b", title + " " + e.get("summary", "")))
            linked = sorted(words & tickers)
        if not linked:
            rejected.append({"row": k, "reason": "no ticker of the universe named", "values": title[:80]})
        for a in linked:
            rows.append({"published_at": ts, "date_only": False, "asset": a, "headline": title,
                         "body": re.sub(r"<[^>]+>", " ", e.get("summary", "")), "url": e.get("link", ""),
                         "source": f"rss:{parsed.feed.get('title', 'feed')}"})
    frame = pd.DataFrame(rows, columns=[*NEWS_COLUMNS[:-1]])
    frame["published_at"] = pd.to_datetime(frame["published_at"], utc=True)
    return _finish(frame, rejected, "rss")
