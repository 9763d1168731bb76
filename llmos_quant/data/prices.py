"""Daily prices as a long frame indexed ``(date, asset)`` with ``open, high, low, close, volume``.

Sources: yfinance (network; Parquet cache, incremental refresh, retries with backoff), and the local
CSV formats of ../shared/data (``sp500_prices_5yr`` and ``stocknet/price_raw``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataNotFoundError, FetchError, UsageError, ValidationError
from ..paths import cache_dir, shared_path

log = logging.getLogger(__name__)

PRICE_COLUMNS = ["open", "high", "low", "close", "volume"]


def validate_prices(frame: pd.DataFrame, name: str = "prices") -> pd.DataFrame:
    """The one validator for price frames: MultiIndex (date, asset), tz-naive dates, OHLCV columns, sorted."""
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
        dup = frame.index[frame.index.duplicated()][0]
        raise ValidationError(f"{name} has duplicate (date, asset) rows, e.g. {dup}")
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index()
    return frame


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["date"] = pd.to_datetime(frame["date"]).dt.tz_localize(None).dt.normalize()
    frame["asset"] = frame["asset"].astype(str).str.upper()
    for c in PRICE_COLUMNS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    frame = frame.dropna(subset=["close"]).drop_duplicates(["date", "asset"], keep="last")
    return validate_prices(frame.set_index(["date", "asset"]).sort_index()[PRICE_COLUMNS + [c for c in frame.columns if c not in PRICE_COLUMNS + ["date", "asset"]]])


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
    return _finish(long[["date", "asset", *PRICE_COLUMNS]].dropna(subset=["close"]))


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
        return self.cache / f"{asset.upper()}_{'adj' if self.auto_adjust else 'raw'}.parquet"

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
        assets = sorted({a.upper() for a in assets})
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
