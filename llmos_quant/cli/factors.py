"""``llmos-quant factors tearsheet``: evaluate a signal column and write the HTML tear sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..jobs.research import TearsheetJobConfig
from .common import console, print_table

app = typer.Typer(no_args_is_help=True, help="Factor research.")
_D = TearsheetJobConfig.__dataclass_fields__


def tearsheet(
    signals: Annotated[str, typer.Option(help="Signals: .duckdb store, .parquet or .csv")],
    prices: Annotated[str, typer.Option(help="sp500 | stocknet | synthetic | yfinance | a .csv/.parquet file")] = "sp500",
    column: Annotated[str, typer.Option(help="Signal column to evaluate")] = _D["column"].default,
    start: Annotated[str | None, typer.Option(help="First session YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="Last session YYYY-MM-DD")] = None,
    model: Annotated[str | None, typer.Option(help="Model name in the store, when it holds several")] = None,
    quantiles: Annotated[int, typer.Option(help="Quantile buckets (>= 2)")] = _D["quantiles"].default,
    cost_bps: Annotated[float, typer.Option(help="Cost per side for net long-short returns, bps")] = _D["cost_bps"].default,
    max_loss: Annotated[float, typer.Option(help="Largest fraction of signal rows that may be dropped (no price or no "
                                                 "forward return) before the run fails")] = _D["max_loss"].default,
    out: Annotated[Path | None, typer.Option(help="HTML output \\[default: data/reports/tear_sheet_<column>.html]")] = None,
) -> None:
    """Rank IC, quantile returns, decay, long-short, turnover and coverage of one signal column."""
    from ..jobs.research import run_tearsheet_job

    config = TearsheetJobConfig(signals, prices, column, start, end, model, quantiles, cost_bps, max_loss, out)
    with console.status("evaluating"):
        report = run_tearsheet_job(config)
    print_table("summary", report.summary())
    counts = report.row_counts
    if counts is not None:
        print_table("factor rows (dropped by reason)", {k: v for k, v in vars(counts).items()
                                                        if k != "assets_without_prices"}
                    | {"assets_without_prices": ", ".join(counts.assets_without_prices[:10]) or "-"})
    if report.by_event is not None:
        print_table("mean rank IC by event type", report.by_event)
    console.print(f"tear sheet written to {config.out}")


app.command("tearsheet")(tearsheet)
