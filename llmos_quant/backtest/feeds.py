"""(date, asset) price and signal frames -> one Backtrader feed per asset, vectorised.

Missing days are explicit: every asset is reindexed onto the union of session dates; a missing bar
(before listing, a halt, after delisting) repeats the last known close as O/H/L/C with volume 0 and
``tradable = 0``, and strategies built on ``SignalStrategy`` never trade a bar whose ``tradable`` is 0.
Leading bars before the first price use the first price (also ``tradable = 0``). A missing open, high or
low on a day with a close takes that close (the Kaggle S&P files have a few such rows). Signal lines are NaN
where there is no signal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import backtrader as bt
import numpy as np
import pandas as pd

from ..data.prices import PRICE_COLUMNS, validate_prices
from ..errors import ValidationError
from ..signals.aggregate import validate_signals

DEFAULT_SIGNAL_LINES = ("sentiment", "news_count", "surprise")


class ArrayFeed(bt.feed.DataBase):
    """A Backtrader feed over a DataFrame (DatetimeIndex; columns named like the lines), read from
    pre-converted Python lists instead of per-bar pandas lookups (``PandasData``'s hot spot)."""

    def start(self) -> None:
        super().start()
        frame = self.p.dataname
        # Backtrader's date numbers: days since 0001-01-01 plus 1 (matplotlib's old epoch), vectorised.
        epoch_days = (frame.index - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        self._dt = (np.asarray(epoch_days, dtype=float) + 719163.0).tolist()  # date2num(1970-01-01) = 719163
        names = [n for n in self.lines.getlinealiases() if n != "datetime"]
        self._targets = [(getattr(self.lines, n), frame[n].tolist())
                         for n in names if n in frame.columns]
        self._i = 0

    def _load(self) -> bool:
        i = self._i
        if i >= len(self._dt):
            return False
        self.lines.datetime[0] = self._dt[i]
        for line, values in self._targets:
            line[0] = values[i]
        self._i = i + 1
        return True


def feed_class(signal_lines: Sequence[str]) -> type[ArrayFeed]:
    """An ``ArrayFeed`` subclass with extra lines ``tradable`` + the given signal columns."""
    lines = ("tradable", *signal_lines)
    bad = [s for s in lines if not s.isidentifier()]
    if bad:
        raise ValidationError(f"signal column names must be identifiers to become Backtrader lines, got {bad}")
    return type("SignalArrayFeed_" + "_".join(lines), (ArrayFeed,), {"lines": lines})


def build_frames(prices: pd.DataFrame, signals: pd.DataFrame | None = None,
                 signal_lines: Sequence[str] = DEFAULT_SIGNAL_LINES, assets: Iterable[str] | None = None,
                 start: str | None = None, end: str | None = None) -> dict[str, pd.DataFrame]:
    """Per-asset frames (DatetimeIndex) with OHLCV, ``tradable`` and signal columns, from wide pivots."""
    prices = validate_prices(prices)
    if signals is not None:
        signals = validate_signals(signals, columns=list(signal_lines))
    dates = prices.index.get_level_values("date")
    keep = np.ones(len(prices), dtype=bool)
    if start:
        keep &= dates >= pd.Timestamp(start)
    if end:
        keep &= dates <= pd.Timestamp(end)
    prices = prices[keep]
    names = sorted(set(prices.index.get_level_values("asset")) if assets is None else set(assets))
    missing = sorted(set(names) - set(prices.index.get_level_values("asset")))
    if missing:
        raise ValidationError(f"no prices for assets {missing[:10]} in the requested window")
    wide = {c: prices[c].unstack("asset").reindex(columns=names) for c in PRICE_COLUMNS}
    calendar = wide["close"].index
    present = wide["close"].notna()
    close = wide["close"].ffill().bfill()
    out_cols = {"close": close, "volume": wide["volume"].where(present, 0.0)}
    for c in ("open", "high", "low"):  # a missing open/high/low on a priced day takes that day's close
        out_cols[c] = wide[c].where(present & wide[c].notna(), close)
    out_cols["tradable"] = present.astype(float)
    if signals is not None:
        for s in signal_lines:
            out_cols[s] = signals[s].unstack("asset").reindex(index=calendar, columns=names).astype(float)
    else:
        for s in signal_lines:
            out_cols[s] = pd.DataFrame(np.nan, index=calendar, columns=names)
    # One 3-D block -> per-asset frames without per-asset pandas work.
    order = ["open", "high", "low", "close", "volume", "tradable", *signal_lines]
    block = np.stack([out_cols[c].to_numpy(dtype=float) for c in order], axis=2)  # (dates, assets, cols)
    index = pd.DatetimeIndex(calendar, name="datetime")
    return {a: pd.DataFrame(block[:, j, :], index=index, columns=order) for j, a in enumerate(names)}


def make_feeds(prices: pd.DataFrame, signals: pd.DataFrame | None = None,
               signal_lines: Sequence[str] = DEFAULT_SIGNAL_LINES, **kwargs: object) -> list[ArrayFeed]:
    cls = feed_class(signal_lines)
    frames = build_frames(prices, signals, signal_lines, **kwargs)  # type: ignore[arg-type]
    return [cls(dataname=frame, name=asset) for asset, frame in frames.items()]
