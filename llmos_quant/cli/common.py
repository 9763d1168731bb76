"""Helpers shared by the subcommands."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from ..errors import UsageError
from ..paths import data_dir

console = Console()


def parse_universe(universe: str | None) -> list[str] | None:
    """'AAPL,MSFT' or a path to a file with one ticker per line (or a 'ticker' column)."""
    if not universe:
        return None
    path = Path(universe)
    if path.is_file():
        if path.suffix == ".csv":
            frame = pd.read_csv(path)
            col = "ticker" if "ticker" in frame else frame.columns[0]
            return sorted({str(t).strip().upper() for t in frame[col]})
        return sorted({t.strip().upper() for t in path.read_text().splitlines() if t.strip()})
    tickers = sorted({t.strip().upper() for t in universe.split(",") if t.strip()})
    if not tickers:
        raise UsageError(f"--universe {universe!r} names no ticker; pass e.g. AAPL,MSFT or a file")
    return tickers


def parse_date(value: str, option: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{option} {value!r} is not a date; expected YYYY-MM-DD") from exc


def default_store() -> Path:
    return data_dir() / "store" / "signals.duckdb"


def print_table(title: str, rows: dict | pd.DataFrame) -> None:
    t = Table(title=title)
    if isinstance(rows, pd.DataFrame):
        frame = rows.reset_index()
        for c in frame.columns:
            t.add_column(str(c))
        for _, r in frame.iterrows():
            t.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in r])
    else:
        t.add_column("item")
        t.add_column("value")
        for k, v in rows.items():
            t.add_row(str(k), f"{v:.4f}" if isinstance(v, float) else str(v))
    console.print(t)


def load_prices(spec: str, assets: list[str] | None = None, start: str | None = None,
                end: str | None = None) -> pd.DataFrame:
    """--prices: sp500 | stocknet | synthetic | yfinance | a .parquet/.csv file with date, asset, OHLCV."""
    from ..data import prices as P

    if spec == "sp500":
        return P.read_sp500_csvs(assets=assets, start=start, end=end)
    if spec == "stocknet":
        return P.read_stocknet_csvs(assets=assets, start=start, end=end)
    if spec == "synthetic":
        from ..data.simulate import simulate_market

        return P._slice(simulate_market().prices, start, end)
    if spec == "yfinance":
        if not assets or not start or not end:
            raise UsageError("--prices yfinance needs --universe, --start and --end")
        return P.YFinancePrices().get(assets, start, end)
    path = Path(spec)
    if path.suffix in (".parquet", ".csv") and path.is_file():
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, parse_dates=["date"])
        if "date" in frame.columns:
            frame = frame.set_index(["date", "asset"])
        return P._slice(P.validate_prices(frame.sort_index()), start, end)
    raise UsageError(f"--prices {spec!r}: expected sp500, stocknet, synthetic, yfinance or a .parquet/.csv file")


def load_signals(spec: str, model: str | None = None, start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """--signals: a DuckDB store (.duckdb) or a .parquet/.csv file with date, asset and signal columns."""
    from ..signals.aggregate import validate_signals
    from ..signals.store import SignalStore

    path = Path(spec)
    if not path.is_file():
        raise UsageError(f"--signals {spec!r} does not exist; run `llmos-quant signals backfill` first or pass a file")
    if path.suffix == ".duckdb":
        with SignalStore(path) as store:
            frame = store.signals(model=model, start=start, end=end)
    elif path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".csv":
        frame = pd.read_csv(path, parse_dates=["date"])
    else:
        raise UsageError(f"--signals {spec!r}: expected a .duckdb store, .parquet or .csv file")
    if "date" in frame.columns:
        frame = frame.set_index(["date", "asset"])
    if frame.empty:
        raise UsageError(f"--signals {spec!r} holds no signals for the requested window/model")
    return validate_signals(frame.sort_index())


def parse_params(params: list[str] | None) -> dict:
    """--param k=v (repeatable): numbers become int/float, true/false booleans, else strings."""
    out = {}
    for item in params or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {item!r}: expected key=value, e.g. --param threshold=0.2")
        out[key] = _coerce(value)
    return out


def _coerce(value: str):  # type: ignore[no-untyped-def]
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value
