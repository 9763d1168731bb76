"""News ingestion into one normalised frame.

Columns (``NEWS_COLUMNS``): ``published_at`` (UTC, tz-aware), ``date_only`` (True when the source gave no
time of day), ``asset``, ``headline``, ``body``, ``source``, ``url``, ``id`` (stable hash of source, asset,
normalised headline and time) and, after ``dedupe``, ``dup_count``.

Sources: Reuters and Benzinga CSVs in the formats of ../shared/data, yfinance ``Ticker.news`` items
(current shape: ``content.title``, ``content.pubDate``, ``content.provider``, ``content.canonicalUrl.url``),
and RSS/Atom feeds via feedparser. Malformed rows are never dropped silently: they are counted, logged,
and listed in ``frame.attrs['rejected']``.
"""

from __future__ import annotations

import calendar as _cal
import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DataNotFoundError, FetchError, ValidationError
from ..paths import shared_path

log = logging.getLogger(__name__)

NEWS_COLUMNS = ["published_at", "date_only", "asset", "headline", "body", "source", "url", "id"]
_PREFIX = re.compile(r"^(update\s*\d*|brief|corrected|exclusive|rpt|refile|wrapup\s*\d*)\s*[-:]\s*", re.I)


def normalise_headline(text: str) -> str:
    """Lower-case, drop wire prefixes (UPDATE 2-, BRIEF-, ...), punctuation and repeated spaces."""
    t = _PREFIX.sub("", str(text).strip())
    t = re.sub(r"[^\w\s$%.]", " ", t.lower())
    return re.sub(r"\s+", " ", t).strip()


def _ids(frame: pd.DataFrame) -> pd.Series:
    keys = (frame["source"].astype(str) + "|" + frame["asset"].astype(str) + "|"
            + frame["headline"].astype(str).str.strip() + "|" + frame["published_at"].astype(str))
    return keys.map(lambda k: hashlib.sha1(k.encode()).hexdigest()[:16])


def _finish(frame: pd.DataFrame, rejected: list[dict[str, Any]], source: str) -> pd.DataFrame:
    frame = frame.copy()
    frame["asset"] = frame["asset"].astype(str).str.strip().str.upper()
    frame["headline"] = frame["headline"].astype(str).str.strip()
    frame["body"] = frame["body"].fillna("").astype(str).str.strip()
    frame["url"] = frame["url"].fillna("").astype(str)
    frame["source"] = source if "source" not in frame else frame["source"].fillna(source).astype(str)
    frame["date_only"] = frame["date_only"].astype(bool)
    frame["id"] = _ids(frame)
    frame = frame[NEWS_COLUMNS].sort_values(["published_at", "asset"], kind="stable").reset_index(drop=True)
    frame.attrs["rejected"] = rejected
    if rejected:
        log.warning("%s: %d malformed rows rejected (first: %s)", source, len(rejected), rejected[0])
    return frame


def validate_news(frame: pd.DataFrame) -> pd.DataFrame:
    """The one validator for news frames: columns present, UTC tz-aware times, non-empty assets."""
    missing = [c for c in NEWS_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationError(f"news frame lacks columns {missing}; expected {NEWS_COLUMNS} (see llmos_quant.data.news)")
    if not isinstance(frame["published_at"].dtype, pd.DatetimeTZDtype):
        raise ValidationError(
            f"news 'published_at' must be tz-aware UTC, got dtype {frame['published_at'].dtype}; "
            "localise naive times with .dt.tz_localize(<source zone>) then .dt.tz_convert('UTC')"
        )
    if (frame["asset"].astype(str).str.len() == 0).any():
        raise ValidationError("news frame has rows with an empty 'asset'; link them to tickers first or drop them")
    return frame


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    if not path.is_file():
        raise DataNotFoundError(f"news file {path} does not exist")
    return pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="warn", **kwargs)


def read_reuters_csv(path: str | Path | None = None) -> pd.DataFrame:
    """Reuters headlines by ticker (``ticker,company,date,title,body,news_type,...``; date YYYYMMDD, no time)."""
    path = Path(path) if path else shared_path("reuters_news_by_ticker", "reuters_news_sp500_stocknet_2011-07-06_2016-12-31.csv")
    raw = _read_csv(path)
    need = {"ticker", "date", "title"}
    if not need <= set(raw.columns):
        raise ValidationError(f"{path}: expected Reuters columns {sorted(need)}, got {list(raw.columns)}")
    day = pd.to_datetime(raw["date"], format="%Y%m%d", errors="coerce")
    bad = day.isna() | (raw["ticker"].str.strip() == "") | (raw["title"].str.strip() == "")
    rejected = [{"row": int(i), "reason": "bad date, ticker or title", "values": raw.loc[i, ["ticker", "date", "title"]].to_dict()}
                for i in raw.index[bad][:50]]
    rejected += [{"row": -1, "reason": f"{int(bad.sum()) - 50} more"}] if bad.sum() > 50 else []
    raw, day = raw[~bad], day[~bad]
    frame = pd.DataFrame({
        # Date-only: stamped at midnight New York time of the listing date and flagged.
        "published_at": day.dt.tz_localize("America/New_York").dt.tz_convert("UTC"),
        "date_only": True,
        "asset": raw["ticker"],
        "headline": raw["title"],
        "body": raw.get("body", ""),
        "url": "",
    })
    if "company" in raw:
        frame.attrs["companies"] = dict(zip(raw["ticker"], raw["company"], strict=False))
    out = _finish(frame, rejected, "reuters")
    out.attrs["companies"] = frame.attrs.get("companies", {})
    return out


def read_benzinga_csv(path: str | Path | None = None) -> pd.DataFrame:
    """Benzinga analyst-ratings CSV (``title,date,stock``; date with UTC offset)."""
    path = Path(path) if path else shared_path("benzinga_analyst_ratings_sample", "analyst_ratings_processed_first10k.csv")
    raw = _read_csv(path)
    need = {"title", "date", "stock"}
    if not need <= set(raw.columns):
        raise ValidationError(f"{path}: expected Benzinga columns {sorted(need)}, got {list(raw.columns)}")
    ts = pd.to_datetime(raw["date"], utc=True, errors="coerce", format="mixed")
    has_time = raw["date"].str.contains(r"\d{1,2}:\d{2}", regex=True)
    bad = ts.isna() | (raw["stock"].str.strip() == "") | (raw["title"].str.strip() == "")
    rejected = [{"row": int(i), "reason": "bad date, stock or title", "values": raw.loc[i, ["title", "date", "stock"]].to_dict()}
                for i in raw.index[bad]]
    raw, ts, has_time = raw[~bad], ts[~bad], has_time[~bad]
    frame = pd.DataFrame({"published_at": ts, "date_only": ~has_time, "asset": raw["stock"],
                          "headline": raw["title"], "body": "", "url": ""})
    return _finish(frame, rejected, "benzinga")


def concat_news(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    frames = [validate_news(f) for f in frames]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in NEWS_COLUMNS}).astype(
            {"published_at": "datetime64[ns, UTC]", "date_only": bool})
    rejected = [r for f in frames for r in f.attrs.get("rejected", [])]
    out = pd.concat(frames, ignore_index=True).sort_values(["published_at", "asset", "id"], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs["rejected"] = rejected
    return out


def dedupe(frame: pd.DataFrame, window: str | pd.Timedelta = "3D") -> pd.DataFrame:
    """Collapse repeats of a story: same asset and normalised headline, each within ``window`` of the
    previous one, become one row (the earliest), with ``dup_count``. The same headline after a longer
    gap (a new "to present at conference" months later) is a new story and is kept."""
    frame = validate_news(frame)
    key = frame["asset"] + "|" + frame["headline"].map(normalise_headline)
    ordered = frame.assign(_key=key).sort_values(["_key", "published_at"], kind="stable")
    gap = ordered.groupby("_key", sort=False)["published_at"].diff()
    new_story = gap.isna() | (gap > pd.Timedelta(window))
    ordered["_story"] = new_story.cumsum()
    counts = ordered.groupby("_story")["id"].transform("size")
    first = ordered.assign(dup_count=counts).drop_duplicates("_story", keep="first").drop(columns=["_key", "_story"])
    out = first.sort_values(["published_at", "asset"], kind="stable").reset_index(drop=True)
    out.attrs = dict(frame.attrs)
    return out
