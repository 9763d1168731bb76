"""``llmos-quant signals daily|backfill``: pull -> parse -> score -> aggregate -> store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from ..errors import UsageError
from .common import default_store, parse_date, parse_universe, print_table

app = typer.Typer(no_args_is_help=True, help="Daily sentiment signals per ticker.")

Source = Annotated[str, typer.Option(help="reuters | benzinga | synthetic | yfinance | rss:<url> | path.csv")]
Universe = Annotated[str | None, typer.Option(help="Tickers 'AAPL,MSFT' or a file; default: every ticker in the source")]
StoreOpt = Annotated[Path | None, typer.Option(help="DuckDB store file (default data/store/signals.duckdb)")]
Backend = Annotated[str, typer.Option(help="Sentiment backend: llmos | hf | lm | vader")]
ModelPath = Annotated[str | None, typer.Option(help="Model folder for the llmos/hf backends")]
Events = Annotated[str | None, typer.Option(help="Split sentiment by event type: rules | model")]


def _run(kind: str, start: pd.Timestamp, end: pd.Timestamp, source: str, universe: str | None, store: Path | None,
         backend: str, model_path: str | None, half_life: float, cutoff: str, batch_size: int, quiet: bool,
         events: str | None = None) -> None:
    from ..signals.pipeline import run_job

    if start > end:
        raise UsageError(f"--start {start.date()} is after --end {end.date()}; swap them")
    summary, info = run_job(kind, start, end, source, store or default_store(), parse_universe(universe),
                            backend, model_path, half_life, cutoff, batch_size, not quiet, events)
    rows = {k: v for k, v in summary.as_dict().items() if k != "seconds"}
    rows.update({f"seconds_{k}": round(v, 2) for k, v in summary.seconds.items()})
    rows.update({k: v for k, v in info.items() if k != "model"})
    print_table(f"signals {kind} {start.date()}..{end.date()} ({info['model']})", rows)


def daily(
    date: Annotated[str, typer.Option(help="Session date YYYY-MM-DD")],
    source: Source = "reuters", universe: Universe = None, store: StoreOpt = None, backend: Backend = "llmos",
    model_path: ModelPath = None, half_life: float = 5.0, cutoff: str = "16:00", batch_size: int = 64,
    quiet: bool = False, events: Events = None,
) -> None:
    """Signals for one session: news before its cutoff (and a lookback for decay and surprise)."""
    d = parse_date(date, "--date")
    _run("daily", d, d, source, universe, store, backend, model_path, half_life, cutoff, batch_size, quiet, events)


def backfill(
    start: Annotated[str, typer.Option(help="First session YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last session YYYY-MM-DD")],
    source: Source = "reuters", universe: Universe = None, store: StoreOpt = None, backend: Backend = "llmos",
    model_path: ModelPath = None, half_life: float = 5.0, cutoff: str = "16:00", batch_size: int = 64,
    quiet: bool = False, events: Events = None,
) -> None:
    """Signals for every session between start and end (idempotent: reruns replace rows)."""
    _run("backfill", parse_date(start, "--start"), parse_date(end, "--end"), source, universe, store, backend,
         model_path, half_life, cutoff, batch_size, quiet, events)


app.command("daily")(daily)
app.command("backfill")(backfill)
