"""News ingestion into one normalised frame.

Columns (``NEWS_COLUMNS``): ``published_at`` (UTC, tz-aware), ``date_only`` (True when the source gave no
time of day), ``asset``, ``headline``, ``body``, ``source``, ``url``, ``id`` (stable hash of source, asset,
normalised headline and time) and, after ``dedupe``, ``dup_count``.

Sources: Reuters and Benzinga CSVs in the formats of ../shared/data, yfinance ``Ticker.news`` items
(current shape: ``content.title``, ``content.pubDate``, ``content.provider``, ``content.canonicalUrl.url``),
and RSS/Atom feeds via feedparser. Every reader returns a ``NewsRead``: the validated frame plus what the
reader knows about it (the rejected rows, the sources served from the offline cache, Reuters' company names).
Malformed rows are never dropped silently: they are counted, logged, and listed in ``NewsRead.rejected``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DataNotFoundError, UsageError, ValidationError
from ..paths import shared_path

log = logging.getLogger(__name__)

NEWS_COLUMNS = ["published_at", "date_only", "asset", "headline", "body", "source", "url", "id"]
_PREFIX = re.compile(r"^(update\s*\d*|brief|corrected|exclusive|rpt|refile|wrapup\s*\d*)\s*[-:]\s*", re.I)


def strip_wire_prefixes(text: str) -> str:
    """``text`` without leading wire prefixes, also chained (``RPT-UPDATE 1-``, ``BRIEF-``, ``WRAPUP 2-``)."""
    t = str(text).strip()
    while (stripped := _PREFIX.sub("", t, count=1)) != t:
        t = stripped
    return t


def match_key(text: str) -> str:
    """Matching key for excluding evaluation text from training data: wire prefixes dropped (``UPDATE 3-``,
    ``BRIEF-``, ``RPT-``, ``CORRECTED-``, ``EXCLUSIVE-``, ``REFILE-``, ``WRAPUP 2-``, also chained: ``RPT-UPDATE 1-``;
    the list of ``normalise_headline``), then lower-case alphanumerics only. Looser than ``normalise_headline``
    (which keeps ``$ % .`` for deduplicating news), so punctuation variants and wire re-issues match too."""
    t = strip_wire_prefixes(text)
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]", " ", t.lower())).strip()


def normalise_headline(text: str) -> str:
    """Lower-case, drop wire prefixes (UPDATE 2-, BRIEF-, ...), punctuation and repeated spaces."""
    t = _PREFIX.sub("", str(text).strip())
    t = re.sub(r"[^\w\s$%.]", " ", t.lower())
    return re.sub(r"\s+", " ", t).strip()


def _ids(frame: pd.DataFrame) -> pd.Series:
    keys = (frame["source"].astype(str) + "|" + frame["asset"].astype(str) + "|"
            + frame["headline"].astype(str).str.strip() + "|" + frame["published_at"].astype(str))
    return keys.map(lambda k: hashlib.sha1(k.encode()).hexdigest()[:16])


@dataclass(frozen=True, eq=False)  # eq=False: a DataFrame field has no truth value to compare by
class NewsRead:
    """What a news reader returns: the news frame and what the reader knows about it.

    - ``frame``: the validated ``NEWS_COLUMNS`` frame (UTC ``published_at``, sorted by time and asset);
    - ``source``: the reader's name for the source (``reuters``, ``benzinga``, ``table:<file>``, ``stocknet``,
      ``yfinance``, ``rss``, ``synthetic``; ``a+b`` after ``concat_news`` of several);
    - ``rejected``: the malformed rows left out, one dict each (``row``, ``reason``, ``values``; past a reader's
      limit one summary entry with ``count``), never dropped silently;
    - ``from_cache``: the live sources served from the offline cache because the fetch failed (empty: all fresh);
    - ``fetched_at``: source -> when that cached copy was fetched;
    - ``companies``: ticker -> company name, where the source names them (Reuters).

    ``len(read)`` is the number of rows; everything else goes through ``read.frame``."""

    frame: pd.DataFrame
    source: str
    rejected: list[dict[str, Any]]
    from_cache: list[str] = field(default_factory=list)
    fetched_at: dict[str, str] = field(default_factory=dict)
    companies: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)


def _finish(frame: pd.DataFrame, rejected: list[dict[str, Any]], source: str) -> NewsRead:
    frame = frame.copy()
    frame["asset"] = frame["asset"].astype(str).str.strip().str.upper()
    frame["headline"] = frame["headline"].astype(str).str.strip()
    frame["body"] = frame["body"].fillna("").astype(str).str.strip()
    frame["url"] = frame["url"].fillna("").astype(str)
    frame["source"] = source if "source" not in frame else frame["source"].fillna(source).astype(str)
    frame["date_only"] = frame["date_only"].astype(bool)
    frame["id"] = _ids(frame)
    frame = frame[NEWS_COLUMNS].sort_values(["published_at", "asset"], kind="stable").reset_index(drop=True)
    if rejected:
        log.warning("%s: %d malformed rows rejected (first: %s)", source, len(rejected), rejected[0])
    return NewsRead(frame, source, list(rejected))


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


def check_news_file(path: Path) -> None:
    """``DataNotFoundError`` (exit 4) for a news file that is missing or is a folder, naming which."""
    if path.is_dir():
        raise DataNotFoundError(f"news file {path} is a folder, not a file; pass the .csv or .parquet file itself")
    if not path.is_file():
        raise DataNotFoundError(f"news file {path} does not exist; check the path, or pass another news "
                                "source (--source for signals, --news or --lookback-news for study)")


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    check_news_file(path)
    if path.stat().st_size == 0:
        raise ValidationError(f"news file {path} is empty (0 bytes); expected a CSV with a header row")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="warn", **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValidationError(f"news file {path} is not a readable CSV ({type(exc).__name__}: {exc})") from exc


_DATE_ONLY = re.compile(r"^\s*(?:\d{4}-\d{2}-\d{2}|\d{8})\s*$")
_HAS_ZONE = re.compile(r"(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})\s*$", re.I)


def parse_times(values: pd.Series, tz: str | None = None, what: str = "news") -> tuple[pd.Series, pd.Series, pd.Series]:
    """Publication times as UTC plus a ``date_only`` flag, for every news format (the one point-in-time parser).

    - date-only values (``2016-03-04``, ``20160304``) are stamped at midnight New York time of that date and
      flagged ``date_only``: they count after that day's 16:00 close (next session), like Reuters rows;
    - values with a zone or offset (``...-04:00``, ``...Z``) are converted to UTC;
    - zone-less timestamps (``2016-03-04 17:30:00``) are refused unless ``tz`` declares the zone they are in:
      reading them as UTC would move evening news into that day's signal.

    Returns ``(published_at, date_only, bad)``; ``bad`` marks unparseable values (the caller rejects them)."""
    text = values.astype(str).str.strip()
    date_only = text.str.match(_DATE_ONLY)
    zoned = ~date_only & text.str.contains(_HAS_ZONE)
    naive = ~date_only & ~zoned & (text != "")
    if naive.any():  # only values that parse as a date-time are zone-less timestamps; the rest are just bad
        naive &= pd.to_datetime(text.where(naive), errors="coerce", format="mixed").notna()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if date_only.any():
        day = pd.to_datetime(text[date_only].str.replace("-", ""), format="%Y%m%d", errors="coerce")
        out[date_only] = day.dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    if zoned.any():
        out[zoned] = pd.to_datetime(text[zoned], utc=True, errors="coerce", format="mixed")
    if naive.any():
        if tz is None:
            rows = list(values.index[naive][:3])
            raise ValidationError(
                f"{what}: {int(naive.sum())} timestamps carry no time zone, e.g. row {rows[0]}: {text[naive].iloc[0]!r} "
                f"(rows {rows}); the zone decides which session they count for. Declare it with --news-tz "
                "America/New_York (or tz='UTC' in the library), or add an offset such as -05:00 to the values")
        try:
            local = pd.to_datetime(text[naive], errors="coerce", format="mixed")
            out[naive] = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        except Exception as exc:  # unknown zone names
            raise ValidationError(f"{what}: cannot localise timestamps to zone {tz!r} ({exc}); use an IANA name "
                                  "such as America/New_York or UTC") from exc
    return out, date_only.astype(bool), out.isna()


def read_reuters_csv(path: str | Path | None = None) -> NewsRead:
    """Reuters headlines by ticker (``ticker,company,date,title,body,news_type,...``; date YYYYMMDD, no time).

    ``NewsRead.companies`` maps each ticker to its ``company`` column (when the file has one)."""
    path = Path(path) if path else shared_path("reuters_news_by_ticker", "reuters_news_sp500_stocknet_2011-07-06_2016-12-31.csv")
    raw = _read_csv(path)
    need = {"ticker", "date", "title"}
    if not need <= set(raw.columns):
        raise ValidationError(f"{path}: expected Reuters columns {sorted(need)}, got {list(raw.columns)}")
    day = pd.to_datetime(raw["date"], format="%Y%m%d", errors="coerce")  # the format is strictly YYYYMMDD, no time
    # Date-only: stamped at midnight New York time of the listing date and flagged (counts after that day's close).
    ts = day.dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    date_only, bad_time = pd.Series(True, index=raw.index), day.isna()
    bad = bad_time | (raw["ticker"].str.strip() == "") | (raw["title"].str.strip() == "")
    rejected = _rejections(raw, bad, ["ticker", "date", "title"], "bad date, ticker or title")
    raw = raw[~bad]
    frame = pd.DataFrame({"published_at": ts[~bad], "date_only": date_only[~bad], "asset": raw["ticker"],
                          "headline": raw["title"], "body": raw.get("body", ""), "url": ""})
    companies = dict(zip(raw["ticker"], raw["company"], strict=False)) if "company" in raw else {}
    return replace(_finish(frame, rejected, "reuters"), companies=companies)


def read_benzinga_csv(path: str | Path | None = None, tz: str | None = None) -> NewsRead:
    """Benzinga analyst-ratings CSV (``title,date,stock``; timestamps with a UTC offset, or date-only)."""
    path = Path(path) if path else shared_path("benzinga_analyst_ratings_sample", "analyst_ratings_processed_first10k.csv")
    raw = _read_csv(path)
    need = {"title", "date", "stock"}
    if not need <= set(raw.columns):
        raise ValidationError(f"{path}: expected Benzinga columns {sorted(need)}, got {list(raw.columns)}")
    ts, date_only, bad_time = parse_times(raw["date"], tz=tz, what=str(path))
    bad = bad_time | (raw["stock"].str.strip() == "") | (raw["title"].str.strip() == "")
    rejected = _rejections(raw, bad, ["title", "date", "stock"], "bad date, stock or title")
    raw = raw[~bad]
    frame = pd.DataFrame({"published_at": ts[~bad], "date_only": date_only[~bad], "asset": raw["stock"],
                          "headline": raw["title"], "body": "", "url": ""})
    return _finish(frame, rejected, "benzinga")


TABLE_COLUMNS = ["published_at", "asset", "headline"]


def news_from_table(frame: pd.DataFrame, tz: str | None = None, source: str = "table") -> NewsRead:
    """The public constructor of a news frame from any table with ``published_at`` (with a zone, or declare
    ``tz``), ``asset``, ``headline`` and optional ``body``, ``source``, ``url``. Rows with an empty asset or
    headline or an unparseable time are rejected with a reason (``NewsRead.rejected``), never dropped silently."""
    missing = [c for c in TABLE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationError(f"news table lacks columns {missing}; expected {TABLE_COLUMNS} (+ optional body, source, "
                              f"url), got {list(frame.columns)}")
    raw = frame.reset_index(drop=True)
    times = raw["published_at"]
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        ts, date_only, bad_time = times.dt.tz_convert("UTC"), pd.Series(False, index=raw.index), times.isna()
    elif pd.api.types.is_datetime64_any_dtype(times):
        if tz is None:
            raise ValidationError(f"{source}: 'published_at' holds zone-less datetimes (e.g. row 0: {times.iloc[0]}); "
                                  "declare their zone with --news-tz America/New_York (tz= in the library)")
        ts = times.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        date_only, bad_time = pd.Series(False, index=raw.index), ts.isna()
    else:
        ts, date_only, bad_time = parse_times(times.fillna("").astype(str), tz=tz, what=source)
    asset = raw["asset"].fillna("").astype(str).str.strip()
    headline = raw["headline"].fillna("").astype(str).str.strip()
    bad = bad_time | (asset == "") | (headline == "")
    rejected = _rejections(raw.astype({"published_at": str}), bad, TABLE_COLUMNS, "bad published_at, asset or headline")
    keep = ~bad
    out = pd.DataFrame({"published_at": ts[keep], "date_only": date_only[keep], "asset": asset[keep],
                        "headline": headline[keep],
                        "body": raw["body"][keep] if "body" in raw else "",
                        "url": raw["url"][keep] if "url" in raw else ""})
    if "source" in raw:
        out["source"] = raw["source"][keep].replace("", source)
    return _finish(out, rejected, source)


def read_news_table(path: str | Path, tz: str | None = None) -> NewsRead:
    """A generic news table file (CSV or Parquet) with ``published_at``, ``asset``, ``headline`` (+ optional)."""
    path = Path(path)
    if path.suffix == ".parquet":
        check_news_file(path)
        if path.stat().st_size == 0:
            raise ValidationError(f"news file {path} is empty (0 bytes); expected a Parquet file")
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises ArrowInvalid and friends
            raise ValidationError(f"news file {path} is not a readable Parquet file ({type(exc).__name__}: {exc})") from exc
    else:
        frame = _read_csv(path)
    return news_from_table(frame, tz=tz, source=f"table:{path.name}")


def sniff_news_format(path: str | Path) -> str:
    """``reuters``, ``benzinga`` or ``table`` from a file's columns (ValidationError when none fits)."""
    path = Path(path)
    if path.suffix == ".parquet":
        return "table"
    cols = set(_read_csv(path, nrows=0).columns)
    if {"published_at", "asset", "headline"} <= cols:
        return "table"
    if {"ticker", "date", "title"} <= cols:
        # Reuters dates are YYYYMMDD without a time; a generic file that happens to use these column names is not
        # read as Reuters (its times would be dropped): it is refused with the fix.
        dates = _read_csv(path, nrows=20)["date"].astype(str).str.strip()
        odd = dates[~dates.str.fullmatch(r"\d{8}")]
        if len(odd) * 2 > len(dates):  # a few malformed rows are Reuters' own (rejected and counted by the reader)
            raise ValidationError(
                f"{path}: the columns (ticker, date, title) are Reuters', but date values such as {odd.iloc[0]!r} are not "
                "Reuters' YYYYMMDD. For a file of your own, rename the columns to published_at, asset, headline (a "
                "news table: times and zones are kept), then pass it as --source table:PATH (in `study`: --news PATH "
                "--source-format table)")
        log.info("%s: read as Reuters headlines (columns ticker, date, title; YYYYMMDD dates)", path)
        return "reuters"
    if {"title", "date", "stock"} <= cols:
        log.info("%s: read as Benzinga headlines (columns title, date, stock)", path)
        return "benzinga"
    raise ValidationError(f"{path}: columns {sorted(cols)} match no news format; expected a table (published_at, asset, "
                          "headline), Reuters (ticker, date, title) or Benzinga (title, date, stock). Name the format: "
                          "--source table:PATH | reuters:PATH | benzinga:PATH")


def _rejections(raw: pd.DataFrame, bad: pd.Series, cols: list[str], reason: str, limit: int = 50) -> list[dict[str, Any]]:
    """Rejected rows as dicts (row, reason, values); past ``limit`` one summary entry carries the rest's count."""
    idx = raw.index[bad.to_numpy()]
    out: list[dict[str, Any]] = [{"row": int(i), "reason": reason, "values": raw.loc[i, cols].to_dict()} for i in idx[:limit]]
    if len(idx) > limit:
        out.append({"row": -1, "reason": reason, "count": len(idx) - limit, "values": "more rows"})
    return out


def concat_news(reads: Iterable[NewsRead], source: str | None = None) -> NewsRead:
    """Several reads as one: frames stacked (sorted by time, asset, id), ``rejected`` concatenated in order,
    ``from_cache`` the sorted union, ``fetched_at`` and ``companies`` merged (a later read wins on a clash).
    ``source`` defaults to the reads' distinct sources joined with ``+`` (``news`` when there are none)."""
    reads = list(reads)
    for r in reads:
        if not isinstance(r, NewsRead):
            raise UsageError(f"concat_news takes NewsRead objects (what the news readers return), got a "
                             f"{type(r).__name__}; wrap a news frame as NewsRead(frame, source, [])")
    frames = [validate_news(r.frame) for r in reads]
    name = source or "+".join(dict.fromkeys(r.source for r in reads)) or "news"
    if not frames:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in NEWS_COLUMNS}).astype(
            {"published_at": "datetime64[ns, UTC]", "date_only": bool})
        return NewsRead(empty, name, [])
    out = pd.concat(frames, ignore_index=True).sort_values(["published_at", "asset", "id"], kind="stable")
    return NewsRead(out.reset_index(drop=True), name, [x for r in reads for x in r.rejected],
                    from_cache=sorted({s for r in reads for s in r.from_cache}),
                    fetched_at={k: v for r in reads for k, v in r.fetched_at.items()},
                    companies={k: v for r in reads for k, v in r.companies.items()})


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
    return first.sort_values(["published_at", "asset"], kind="stable").reset_index(drop=True)
