"""StockNet tweets (Xu & Cohen, ACL 2018) as a news frame, with their UTC creation times (point in time).

Two layouts are read:

- the converted CSV of ../shared/data/stocknet (``tweets_2014-01-01_2015-09-30.csv``: ``ticker, file_date,
  created_at_utc, id_str, user_id_str, text``; the default), and
- the upstream folders ``tweet/raw/<TICKER>/<YYYY-MM-DD>``: one tweet JSON object per line, ``created_at`` like
  ``"Wed Jan 01 03:59:03 +0000 2014"`` and ``text`` (pass the ``raw`` folder or the folder above ``tweet``).

Each (ticker, tweet) row becomes one news item through ``news_from_table``: ``published_at`` is the tweet's UTC
``created_at`` (not upstream's ``file_date``, which is a day later for ~7% of tweets), ``asset`` the ticker
folder (upper case, e.g. ``BRK-A``), ``headline`` the text with runs of whitespace collapsed to one space,
``body`` the raw text, ``source`` ``stocknet``, ``url`` the tweet's status URL. Sessions then follow the usual
point-in-time rule (``assign_sessions``: a tweet after D's 16:00 New York cutoff counts for the next session).
The held-out tweets (file_date 2015-10-01 .. 2016-03-31, the paper's test period) are not in the shared data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..errors import DataNotFoundError, ValidationError
from ..paths import shared_path
from .news import NewsRead, news_from_table

TWEETS_CSV = "tweets_2014-01-01_2015-09-30.csv"
TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"


def _bounds(start: str | None, end: str | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    lo = pd.Timestamp(start).tz_localize("UTC") if start is not None else None
    hi = pd.Timestamp(end).tz_localize("UTC") + pd.Timedelta(days=1) if end is not None else None
    return lo, hi


def _raw_root(folder: Path) -> Path:
    for cand in (folder / "tweet" / "raw", folder / "raw", folder):
        if cand.is_dir() and any(p.is_dir() for p in cand.iterdir()):
            return cand
    raise DataNotFoundError(f"{folder} holds no per-ticker tweet folders (expected tweet/raw/<TICKER>/<YYYY-MM-DD>)")


def _read_raw(folder: Path, tickers: set[str] | None, start: str | None, end: str | None,
              limit: int | None) -> pd.DataFrame:
    root = _raw_root(folder)
    # file names are upstream's file_date (the UTC day or the day after): widen by a day on each side
    lo = (pd.Timestamp(start) - pd.Timedelta(days=1)).strftime("%Y-%m-%d") if start else None
    hi = (pd.Timestamp(end) + pd.Timedelta(days=1)).strftime("%Y-%m-%d") if end else None
    rows: list[dict[str, str]] = []
    for tdir in sorted(p for p in root.iterdir() if p.is_dir()):
        if tickers is not None and tdir.name.upper() not in tickers:
            continue
        for f in sorted(p for p in tdir.iterdir() if p.is_file()):
            day = f.name[:10]
            if (lo and day < lo) or (hi and day > hi):
                continue
            for n, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValidationError(f"{f}: line {n + 1} is not JSON ({exc})") from exc
                rows.append({"ticker": tdir.name, "created_at": str(obj.get("created_at", "")),
                             "id_str": str(obj.get("id_str", obj.get("id", ""))), "text": str(obj.get("text", ""))})
            if limit is not None and not (start or end) and len(rows) >= limit:
                break
        if limit is not None and not (start or end) and len(rows) >= limit:
            break
    frame = pd.DataFrame(rows, columns=["ticker", "created_at", "id_str", "text"])
    frame["published_at"] = pd.to_datetime(frame["created_at"], format=TWITTER_TIME, errors="coerce", utc=True)
    return frame


def read_stocknet_tweets(path: str | Path | None = None, tickers: Iterable[str] | None = None,
                         start: str | None = None, end: str | None = None, limit: int | None = None) -> NewsRead:
    """StockNet tweets as a ``NewsRead`` (frame: ``NEWS_COLUMNS``; see the module docstring).

    ``path``: the converted CSV (default: the shared one) or an upstream ``tweet/raw`` folder. ``tickers``: keep
    these ticker folders; ``start``/``end``: inclusive UTC calendar dates of ``created_at``; ``limit``: at most
    this many rows (the first ones in file order after the other filters; for quick tests). Rows with an
    unparseable time or empty text are rejected with a reason in ``NewsRead.rejected``."""
    path = Path(path) if path is not None else shared_path("stocknet", TWEETS_CSV)
    if not path.exists():
        raise DataNotFoundError(f"StockNet tweets {path} do not exist; pass the converted CSV or a tweet/raw folder")
    if limit is not None and limit < 0:
        raise ValidationError(f"limit must be >= 0, got {limit}")
    wanted = {t.strip().upper() for t in tickers} if tickers is not None else None
    if path.is_dir():
        raw = _read_raw(path, wanted, start, end, limit)
    else:
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValidationError(f"StockNet tweets {path} is not a readable CSV ({type(exc).__name__}: {exc})") from exc
        missing = [c for c in ("ticker", "created_at_utc", "text") if c not in raw.columns]
        if missing:
            raise ValidationError(f"StockNet tweets {path} lacks columns {missing}; got {list(raw.columns)}")
        raw["published_at"] = pd.to_datetime(raw["created_at_utc"], utc=True, errors="coerce", format="ISO8601")
        if "id_str" not in raw:
            raw["id_str"] = ""
    if wanted is not None:
        raw = raw[raw["ticker"].str.upper().isin(wanted)]
        unknown = sorted(wanted - set(raw["ticker"].str.upper()))
        if unknown and raw.empty:
            raise DataNotFoundError(f"no StockNet tweets for {unknown} in {path}")
    lo, hi = _bounds(start, end)
    if lo is not None:
        raw = raw[~(raw["published_at"] < lo)]  # unparseable times are kept, then rejected with a reason
    if hi is not None:
        raw = raw[~(raw["published_at"] >= hi)]
    if limit is not None:
        raw = raw.iloc[:limit]
    ids = raw["id_str"].astype(str)
    table = pd.DataFrame({
        "published_at": raw["published_at"], "asset": raw["ticker"],
        "headline": raw["text"].str.replace(r"\s+", " ", regex=True).str.strip(), "body": raw["text"],
        "url": ("https://twitter.com/i/web/status/" + ids).where(ids != "", ""),
    })
    return news_from_table(table, source="stocknet")


def read_stocknet_sectors(path: str | Path | None = None) -> pd.Series:
    """asset -> sector of StockNet's ``StockTable.tsv`` (the ``$`` of the symbols removed)."""
    path = Path(path) if path is not None else shared_path("stocknet", "StockTable.tsv")
    table = pd.read_csv(path, sep="\t", dtype=str)
    if not {"Sector", "Symbol"} <= set(table.columns):
        raise ValidationError(f"{path}: expected Sector and Symbol columns, got {list(table.columns)}")
    out = pd.Series(table["Sector"].str.strip().to_numpy(),
                    index=pd.Index(table["Symbol"].str.strip().str.lstrip("$").str.upper(), name="asset"), name="sector")
    return out[~out.index.duplicated()]
