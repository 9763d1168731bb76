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
from dataclasses import asdict, dataclass, replace

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


@dataclass(frozen=True)
class DataIssues:
    """What the feeds could not use as given, so that nothing vanishes silently (counts, not frames).

    ``signal_rows``: signal rows dated inside the window. Of those, ``signal_rows_without_prices`` belong to
    ``assets_without_prices`` (no price in the window: dropped), ``signal_rows_off_calendar`` are dated on a
    day that is not a price session (dropped), ``signal_rows_on_missing_bars`` fall on a filled bar (kept, never
    traded). ``filled_bars`` of ``bars`` price bars were filled because the asset had no price that session
    (``tradable = 0``).
    """

    signal_rows: int = 0
    signal_rows_without_prices: int = 0
    signal_rows_off_calendar: int = 0
    signal_rows_on_missing_bars: int = 0
    assets_without_prices: tuple[str, ...] = ()
    filled_bars: int = 0
    bars: int = 0

    @property
    def signal_rows_dropped(self) -> int:
        return self.signal_rows_without_prices + self.signal_rows_off_calendar

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["assets_without_prices"] = list(self.assets_without_prices)
        d["signal_rows_dropped"] = self.signal_rows_dropped
        return d

    def table(self, max_assets: int = 20) -> pd.DataFrame:
        """One row per count, for reports."""
        shown = ", ".join(self.assets_without_prices[:max_assets])
        if len(self.assets_without_prices) > max_assets:
            shown += f" ... (+{len(self.assets_without_prices) - max_assets})"
        rows = [
            ("signal rows in the window", self.signal_rows),
            ("signal rows dropped: asset has no prices", self.signal_rows_without_prices),
            ("signal rows dropped: date is not a price session", self.signal_rows_off_calendar),
            ("signal rows on a filled (untradable) bar", self.signal_rows_on_missing_bars),
            ("assets with signals but no prices", f"{len(self.assets_without_prices)}" + (f": {shown}" if shown else "")),
            ("price bars filled because missing (tradable=0)", f"{self.filled_bars} of {self.bars}"),
        ]
        return pd.DataFrame(rows, columns=["check", "count"]).set_index("check")


def _window(frame: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    if not start and not end:
        return frame
    dates = frame.index.get_level_values("date")
    keep = np.ones(len(frame), dtype=bool)
    if start:
        keep &= dates >= pd.Timestamp(start)
    if end:
        keep &= dates <= pd.Timestamp(end)
    return frame[keep]


def prepare_frames(prices: pd.DataFrame, signals: pd.DataFrame | None = None,
                   signal_lines: Sequence[str] = DEFAULT_SIGNAL_LINES, assets: Iterable[str] | None = None,
                   start: str | None = None, end: str | None = None) -> tuple[dict[str, pd.DataFrame], DataIssues]:
    """``build_frames`` plus the ``DataIssues`` counts of what the frames leave out or fill."""
    prices = validate_prices(prices)
    if signals is not None:
        signals = validate_signals(signals, columns=list(signal_lines))
    prices = _window(prices, start, end)
    # an asset priced only by rows without a close (all NaN in the window) has no price to trade at: it is left out
    # and its signal rows are counted under assets_without_prices, like an asset missing from the file
    has_close = prices["close"].notna().groupby(level="asset").any()
    priced = set(has_close.index[has_close.to_numpy()])
    names = sorted(priced if assets is None else set(assets))
    missing = sorted(set(names) - priced)
    if missing:
        raise ValidationError(f"no prices for assets {missing[:10]} in the requested window {start or 'start'}..{end or 'end'}; "
                              "load prices for them, widen the window, or leave them out of assets")
    if not names:
        raise ValidationError(f"no prices in the requested window {start or 'start'}..{end or 'end'} (got an empty price "
                              "frame after the window); widen start/end or load prices for these dates")
    wide = {c: prices[c].unstack("asset").reindex(columns=names) for c in PRICE_COLUMNS}
    calendar = wide["close"].index
    present = wide["close"].notna()
    close = wide["close"].ffill().bfill()
    out_cols = {"close": close, "volume": wide["volume"].where(present, 0.0)}
    for c in ("open", "high", "low"):  # a missing open/high/low on a priced day takes that day's close
        out_cols[c] = wide[c].where(present & wide[c].notna(), close)
    out_cols["tradable"] = present.astype(float)
    present_arr = present.to_numpy()
    issues = DataIssues(filled_bars=int((~present_arr).sum()), bars=int(present_arr.size))
    if signals is not None:
        for s in signal_lines:
            out_cols[s] = signals[s].unstack("asset").reindex(index=calendar, columns=names).astype(float)
        sig = _window(signals, start, end)
        sig_assets = sig.index.get_level_values("asset")
        sig_dates = sig.index.get_level_values("date")
        col = pd.Index(names).get_indexer(sig_assets)
        row = calendar.get_indexer(sig_dates)
        fed = col >= 0
        on_calendar = fed & (row >= 0)
        on_missing = np.zeros(len(sig), dtype=bool)
        on_missing[on_calendar] = ~present_arr[row[on_calendar], col[on_calendar]]
        issues = replace(issues, signal_rows=len(sig), signal_rows_without_prices=int((~fed).sum()),
                         signal_rows_off_calendar=int((fed & ~on_calendar).sum()),
                         signal_rows_on_missing_bars=int(on_missing.sum()),
                         assets_without_prices=tuple(sorted(set(sig_assets[~fed]))))
    else:
        for s in signal_lines:
            out_cols[s] = pd.DataFrame(np.nan, index=calendar, columns=names)
    # One 3-D block -> per-asset frames without per-asset pandas work.
    order = ["open", "high", "low", "close", "volume", "tradable", *signal_lines]
    block = np.stack([out_cols[c].to_numpy(dtype=float) for c in order], axis=2)  # (dates, assets, cols)
    index = pd.DatetimeIndex(calendar, name="datetime")
    frames = {a: pd.DataFrame(block[:, j, :], index=index, columns=order) for j, a in enumerate(names)}
    return frames, issues


def build_frames(prices: pd.DataFrame, signals: pd.DataFrame | None = None,
                 signal_lines: Sequence[str] = DEFAULT_SIGNAL_LINES, assets: Iterable[str] | None = None,
                 start: str | None = None, end: str | None = None) -> dict[str, pd.DataFrame]:
    """Per-asset frames (DatetimeIndex) with OHLCV, ``tradable`` and signal columns, from wide pivots.

    The universe is ``assets`` (each must have prices in the window) or every priced asset; signal rows of
    other assets are left out (``prepare_frames`` returns their counts too).
    """
    return prepare_frames(prices, signals, signal_lines, assets, start, end)[0]


def make_feeds(prices: pd.DataFrame, signals: pd.DataFrame | None = None,
               signal_lines: Sequence[str] = DEFAULT_SIGNAL_LINES, **kwargs: object) -> list[ArrayFeed]:
    cls = feed_class(signal_lines)
    frames = build_frames(prices, signals, signal_lines, **kwargs)  # type: ignore[arg-type]
    return [cls(dataname=frame, name=asset) for asset, frame in frames.items()]
