"""Daily prices as a long frame indexed ``(date, asset)`` with ``open, high, low, close, volume``.

Sources: yfinance (network; Parquet cache, incremental refresh, retries with backoff), and the local
CSV formats of ../shared/data (``sp500_prices_5yr`` and ``stocknet/price_raw``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataNotFoundError, FetchError, UsageError, ValidationError
from ..paths import cache_dir, shared_path
from .tickers import validate_ticker, validate_tickers

log = logging.getLogger(__name__)

PRICE_COLUMNS = ["open", "high", "low", "close", "volume"]


def _examples(frame: pd.DataFrame, mask: np.ndarray | pd.Series, columns: list[str] | None = None, k: int = 5) -> str:
    """``TICKER on YYYY-MM-DD`` (plus ``column=value`` pairs) for the first ``k`` rows of a (date, asset) frame under mask."""
    rows = frame[np.asarray(mask, dtype=bool)].head(k)
    out = []
    for (date, asset), row in zip(rows.index, rows.itertuples(index=False), strict=True):
        text = f"{asset} on {pd.Timestamp(date).date()}"
        if columns:
            values = dict(zip(rows.columns, row, strict=True))
            text += " (" + ", ".join(f"{c}={values[c]!r}" for c in columns) + ")"
        out.append(text)
    return "; ".join(out)


def _check_numeric(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Text price columns parsed to floats; ``ValidationError`` naming ticker, date, column and value for non-numbers."""
    converted = {}
    for c in PRICE_COLUMNS:
        raw = frame[c]
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            continue
        num = pd.to_numeric(raw, errors="coerce")
        text = raw.astype("string").str.strip().str.lower()
        blank = raw.isna().to_numpy() | text.isna().to_numpy() | text.isin(["", "nan", "na", "n/a", "null", "none"]).to_numpy()
        bad = num.isna().to_numpy() & ~blank
        if bad.any():
            raise ValidationError(
                f"{name} column {c!r} has {int(bad.sum())} non-numeric value(s), e.g. "
                f"{_examples(frame, bad, [c])}; expected numbers (an empty cell for a missing price). "
                "Correct or remove these rows in the source file, or delete the cached file and reload")
        converted[c] = num.astype(float)
    if converted:
        frame = frame.assign(**converted)
    return frame


def validate_prices(frame: pd.DataFrame, name: str = "prices") -> pd.DataFrame:
    """The one validator for price frames: MultiIndex (date, asset), tz-naive dates, OHLCV columns, sorted.

    Prices must be numbers; open/high/low/close must be > 0 and finite where present. Missing prices (NaN)
    are allowed and left as they are: nothing is forward-filled or dropped here.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"{name} must be a DataFrame, got {type(frame).__name__}")
    if list(frame.index.names) != ["date", "asset"]:
        raise ValidationError(
            f"{name} must be indexed by MultiIndex(['date', 'asset']), got index names {list(frame.index.names)}; "
            "use frame.set_index(['date', 'asset'])"
        )
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationError(f"{name} lacks columns {missing}; expected {PRICE_COLUMNS}")
    dates = frame.index.get_level_values("date")
    if not isinstance(dates, pd.DatetimeIndex):
        raise ValidationError(f"{name} 'date' level must be datetimes, got {dates.dtype}")
    if dates.tz is not None:
        raise ValidationError(f"{name} dates must be tz-naive session dates, got tz={dates.tz}; use tz_localize(None)")
    if frame.index.has_duplicates:
        dup = frame.index.duplicated(keep=False)
        raise ValidationError(
            f"{name} has {int(frame.index.duplicated().sum())} duplicate (date, asset) row(s), e.g. "
            f"{_examples(frame, dup, ['close'], k=4)}; expected one row per (date, asset). "
            "Remove the wrong rows (frame[~frame.index.duplicated()] keeps the first) before passing prices")
    frame = _check_numeric(frame, name)
    ohlc = frame[PRICE_COLUMNS[:4]].to_numpy(dtype=float)
    bad_cells = (ohlc <= 0) | np.isinf(ohlc)
    if bad_cells.any():
        bad_rows = bad_cells.any(axis=1)
        cols = [c for c, b in zip(PRICE_COLUMNS[:4], bad_cells.any(axis=0), strict=True) if b]
        raise ValidationError(
            f"{name} has {int(bad_rows.sum())} row(s) with a zero, negative or infinite open/high/low/close, e.g. "
            f"{_examples(frame, bad_rows, cols)}; expected finite prices > 0 (a missing price as an empty cell/NaN). "
            "Correct these rows in the source, or set the bad values to NaN (a 0 usually marks a missing quote)")
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index()
    return frame


_OFFSET = re.compile(r"(?:[+-]\d{2}:?\d{2}|Z)$")


def session_dates(values: pd.Series, name: str = "prices") -> pd.Series:
    """Price dates -> tz-naive session dates, the date as written: ``2021-03-15`` and ``2021-03-15 00:00:00-04:00``
    are both 2021-03-15. Offsets that change within a file (a zone with daylight saving, as yfinance and pandas
    export New York dates) are read per value; unparseable dates are a ``ValidationError`` naming an example."""
    try:
        parsed = pd.to_datetime(values)
    except (ValueError, TypeError) as exc:
        text = values.astype(str).str.strip()
        if not text.str.contains(_OFFSET).any():
            bad = text[pd.to_datetime(text, errors="coerce").isna()]
            raise ValidationError(f"{name}: dates such as {bad.iloc[0] if len(bad) else text.iloc[0]!r} are not dates "
                                  f"({str(exc).splitlines()[0]}); expected YYYY-MM-DD, optionally with a time and zone") from exc
        try:
            parsed = pd.to_datetime(text.str.replace(_OFFSET, "", regex=True))  # the wall-clock date as written
        except (ValueError, TypeError) as exc2:
            raise ValidationError(f"{name}: dates such as {text.iloc[0]!r} cannot be read ({str(exc2).splitlines()[0]}); expected "
                                  "YYYY-MM-DD, optionally with a time and zone") from exc2
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    return parsed.dt.normalize()


def _finish(frame: pd.DataFrame, name: str = "prices") -> pd.DataFrame:
    """A raw long frame (``date, asset`` + OHLCV columns) -> validated (date, asset) price frame.

    Refuses (``ValidationError``) non-numeric prices, non-positive prices and conflicting duplicate
    (date, asset) rows; collapses exact duplicates and keeps rows without a close (both logged).
    """
    missing = [c for c in ["date", "asset", *PRICE_COLUMNS] if c not in frame.columns]
    if missing:
        raise ValidationError(f"{name} lacks columns {missing}; got {list(frame.columns)}, expected date, asset and "
                              f"{PRICE_COLUMNS}. Rename the source's columns to these names")
    frame = frame.copy()
    frame["date"] = session_dates(frame["date"], name)
    frame["asset"] = frame["asset"].astype(str).str.upper()
    frame = _check_numeric(frame.set_index(["date", "asset"]), name).reset_index()
    key = ["date", "asset"]
    if frame.duplicated(key).any():
        exact = frame.duplicated(keep="first")  # every column equal (NaN equals NaN here)
        if exact.any():
            log.warning("%s: collapsed %d exact duplicate (date, asset) row(s)", name, int(exact.sum()))
            frame = frame[~exact.to_numpy()]
        conflict = frame.duplicated(key, keep=False).to_numpy()
        if conflict.any():
            groups = frame[conflict].groupby(key, sort=True)
            examples = []
            for (date, asset), g in list(groups)[:3]:
                values = g.drop(columns=key)
                differing = [c for c in values.columns if values[c].nunique(dropna=False) > 1]
                shown = ", ".join(f"{c} {' vs '.join(repr(v) for v in values[c].tolist())}" for c in differing)
                examples.append(f"{asset} on {pd.Timestamp(date).date()}: {shown}")
            raise ValidationError(
                f"{name} has {groups.ngroups} (date, asset) key(s) with conflicting rows (same key, different values), "
                f"e.g. {'; '.join(examples)}; expected one row per ticker and date. Remove the wrong row from the "
                "source file (or delete the cached Parquet file) and reload")
    no_close = frame["close"].isna().to_numpy()
    if no_close.any():
        shown = frame[no_close].head(5)
        log.warning("%s: %d row(s) have no close and are kept as missing bars (not filled), e.g. %s", name,
                    int(no_close.sum()), "; ".join(f"{a} on {d.date()}" for d, a in zip(shown["date"], shown["asset"],
                                                                                         strict=True)))
    extra = [c for c in frame.columns if c not in PRICE_COLUMNS + key]
    return validate_prices(frame.set_index(key).sort_index()[PRICE_COLUMNS + extra], name)


def read_sp500_csvs(folder: str | Path | None = None, assets: Iterable[str] | None = None,
                    start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """The Kaggle S&P 500 5-year files (``<TICKER>_data.csv``: date,open,high,low,close,volume,Name)."""
    folder = Path(folder) if folder else shared_path("sp500_prices_5yr", "individual_stocks_5yr")
    files = sorted(folder.glob("*_data.csv"))
    if assets is not None:
        wanted = {a.upper() for a in assets}
        found = {f.name.removesuffix("_data.csv").upper(): f for f in files}
        unknown = sorted(wanted - set(found))
        if unknown:
            raise DataNotFoundError(f"no price file for {unknown} in {folder} ({len(found)} tickers available)")
        files = [found[a] for a in sorted(wanted)]
    if not files:
        raise DataNotFoundError(f"no *_data.csv files in {folder}")
    parts = []
    for f in files:
        df = pd.read_csv(f)
        df["asset"] = f.name.removesuffix("_data.csv")
        parts.append(df.drop(columns=["Name"], errors="ignore"))
    out = _finish(pd.concat(parts, ignore_index=True))
    return _slice(out, start, end)


def read_stocknet_csvs(folder: str | Path | None = None, assets: Iterable[str] | None = None,
                       start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """StockNet Yahoo files (``<TICKER>.csv``: Date,Open,High,Low,Close,Adj Close,Volume); adds ``adj_close``."""
    folder = Path(folder) if folder else shared_path("stocknet", "price_raw")
    files = sorted(folder.glob("*.csv"))
    if assets is not None:
        wanted = {a.upper() for a in assets}
        files = [f for f in files if f.stem.upper() in wanted]
        unknown = sorted(wanted - {f.stem.upper() for f in files})
        if unknown:
            raise DataNotFoundError(f"no StockNet price file for {unknown} in {folder}")
    parts = []
    for f in files:
        df = pd.read_csv(f).rename(columns=lambda c: c.strip().lower().replace(" ", "_"))
        df["asset"] = f.stem
        parts.append(df)
    if not parts:
        raise DataNotFoundError(f"no CSV files in {folder}")
    return _slice(_finish(pd.concat(parts, ignore_index=True)), start, end)


def _slice(frame: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    if start is None and end is None:
        return frame
    dates = frame.index.get_level_values("date")
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= dates >= pd.Timestamp(start)
    if end is not None:
        keep &= dates <= pd.Timestamp(end)
    return frame[keep]


def normalise_yfinance(raw: pd.DataFrame) -> pd.DataFrame:
    """``yf.download(..., multi_level_index=True, group_by='column')`` output -> long (date, asset) frame."""
    if raw is None or raw.empty:
        return pd.DataFrame(columns=PRICE_COLUMNS, index=pd.MultiIndex.from_arrays([[], []], names=["date", "asset"]))
    if not isinstance(raw.columns, pd.MultiIndex):
        raise ValidationError("expected yfinance columns as a (Price, Ticker) MultiIndex; call with multi_level_index=True")
    long = raw.stack(level=1, future_stack=True).reset_index()
    long.columns = [str(c).lower().replace(" ", "_") for c in long.columns]
    long = long.rename(columns={"ticker": "asset", "level_1": "asset", "index": "date", "datetime": "date"})
    long = long[["date", "asset", *PRICE_COLUMNS]]
    empty = long[PRICE_COLUMNS].isna().all(axis=1).to_numpy()  # stacking pads tickers with all-NaN rows
    if empty.any():
        log.info("yfinance: skipped %d (date, ticker) row(s) with no value at all", int(empty.sum()))
    return _finish(long[~empty], "yfinance prices")


class YFinancePrices:
    """yfinance daily OHLCV with a Parquet cache per ticker and incremental refresh.

    Explicit yfinance settings: ``auto_adjust=True`` (OHLC adjusted for splits and dividends; documented,
    and part of the cache key), ``multi_level_index=True``, ``group_by='column'``, ``actions=False``.
    ``downloader`` defaults to ``yfinance.download`` and is injectable (tests use a fake).
    """

    def __init__(self, cache: str | Path | None = None, auto_adjust: bool = True, retries: int = 4,
                 backoff: float = 1.0, downloader: Callable[..., pd.DataFrame] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cache = Path(cache) if cache else cache_dir() / "prices"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.auto_adjust, self.retries, self.backoff, self.sleep = auto_adjust, retries, backoff, sleep
        if downloader is None:
            import yfinance as yf

            downloader = yf.download
        self.downloader = downloader

    def _path(self, asset: str) -> Path:
        """The cache file of one ticker; ``UsageError`` for anything that is not a ticker symbol (``../../X``)."""
        return self.cache / f"{validate_ticker(asset)}_{'adj' if self.auto_adjust else 'raw'}.parquet"

    def _download(self, assets: list[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        last: Exception | None = None
        for attempt in range(self.retries):
            try:
                raw = self.downloader(
                    assets, start=start.strftime("%Y-%m-%d"), end=(end + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
                    auto_adjust=self.auto_adjust, multi_level_index=True, group_by="column",
                    actions=False, progress=False, threads=False,
                )
                return normalise_yfinance(raw)
            except Exception as exc:  # yfinance raises many types (rate limits, HTTP, JSON)
                last = exc
                wait = self.backoff * 2**attempt
                log.warning("yfinance download %s failed (%s: %s); retry %d/%d in %.1fs",
                            assets, type(exc).__name__, exc, attempt + 1, self.retries, wait)
                self.sleep(wait)
        raise FetchError(f"yfinance download of {assets} failed after {self.retries} tries: {last}")

    def get(self, assets: Iterable[str], start: str, end: str, refresh: bool = True) -> pd.DataFrame:
        """Prices for assets between start and end (inclusive), from cache plus what is missing from it."""
        assets = validate_tickers(assets)  # before any download or file name
        if not assets:
            raise UsageError("no assets given; pass at least one ticker")
        s, e = pd.Timestamp(start), pd.Timestamp(end)
        if s > e:
            raise UsageError(f"start {start} is after end {end}")
        frames, errors = [], {}
        for asset in assets:
            path = self._path(asset)
            cached = pd.read_parquet(path) if path.is_file() else None
            need_from = s
            if cached is not None and len(cached):
                have = cached.index.get_level_values("date")
                if have.min() <= s:
                    need_from = have.max() + pd.Timedelta(days=1)
            fresh = None
            if refresh and need_from <= e:
                try:
                    fresh = self._download([asset], need_from, e)
                except FetchError as exc:
                    errors[asset] = exc
            merged = pd.concat([x for x in (cached, fresh) if x is not None and len(x)]) if (
                (cached is not None and len(cached)) or (fresh is not None and len(fresh))) else None
            if merged is None:
                continue
            merged = merged[~merged.index.duplicated(keep="last")].sort_index()
            self._atomic_write(merged, path)
            frames.append(_slice(merged, str(s.date()), str(e.date())))
        if not frames or all(f.empty for f in frames):
            causes = "; ".join(f"{a}: {err}" for a, err in errors.items()) or "the source returned no rows"
            raise DataNotFoundError(
                f"no prices for {assets} between {s.date()} and {e.date()}, none cached in {self.cache} ({causes}). "
                "Check the tickers and dates, your network, or load local CSVs with read_sp500_csvs()"
            )
        for asset, err in errors.items():
            log.warning("using cached prices only for %s: %s", asset, err)
        return validate_prices(pd.concat(frames).sort_index())

    @staticmethod
    def _atomic_write(frame: pd.DataFrame, path: Path) -> None:
        tmp = path.with_suffix(".parquet.tmp")
        frame.to_parquet(tmp)
        tmp.replace(path)


def returns_panel(prices: pd.DataFrame, field: str = "close") -> pd.DataFrame:
    """Wide (date x asset) frame of a price field."""
    prices = validate_prices(prices)
    return prices[field].unstack("asset").sort_index()


def describe(prices: pd.DataFrame) -> dict[str, Any]:
    prices = validate_prices(prices)
    d = prices.index.get_level_values("date")
    return {"rows": len(prices), "assets": prices.index.get_level_values("asset").nunique(),
            "start": str(d.min().date()), "end": str(d.max().date())}
