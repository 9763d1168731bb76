"""``llmos-quant factors tearsheet``: evaluate a signal column and write the HTML tear sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, load_prices, load_signals, print_table

app = typer.Typer(no_args_is_help=True, help="Factor research.")


def tearsheet(
    signals: Annotated[str, typer.Option(help="Signals: .duckdb store, .parquet or .csv")],
    prices: Annotated[str, typer.Option(help="sp500 | stocknet | synthetic | yfinance | file")] = "sp500",
    column: str = "sentiment", start: str | None = None, end: str | None = None, model: str | None = None,
    quantiles: int = 5, cost_bps: float = 10.0,
    out: Annotated[Path, typer.Option(help="HTML output")] = Path("data/reports/tear_sheet.html"),
) -> None:
    """Rank IC, quantile returns, decay, long-short, turnover and coverage of one signal column."""
    from ..errors import UsageError
    from ..factors.tearsheet import tear_sheet

    sig = load_signals(signals, model, start, end)
    if column not in sig.columns:
        raise UsageError(f"--column {column!r} not in the signals (columns: {list(sig.columns)})")
    assets = sorted(set(sig.index.get_level_values("asset")))
    px = load_prices(prices, assets if prices != "synthetic" else None, start,
                     str((sig.index.get_level_values("date").max() + __import__("pandas").Timedelta(days=30)).date()))
    with console.status("evaluating"):
        by_event = [c for c in sig.columns if c.startswith("sentiment_") and c != "sentiment_mean"]
        report = tear_sheet(sig[column], px, out, title=f"Tear sheet: {column}", n_quantiles=quantiles, cost_bps=cost_bps,
                            events=sig[by_event] if by_event else None)
    print_table("summary", report.summary())
    if report.by_event is not None:
        print_table("mean rank IC by event type", report.by_event)
    console.print(f"tear sheet written to {out}")


app.command("tearsheet")(tearsheet)
