"""``llmos-quant backtest``: run a strategy from strategies/ on prices + signals; HTML report + results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, load_prices, load_signals, parse_params, print_table


def backtest(
    strategy: Annotated[str, typer.Option(help="Strategy name (file stem or class) in strategies/")],
    signals: Annotated[str, typer.Option(help="Signals: .duckdb store, .parquet or .csv")],
    prices: Annotated[str, typer.Option(help="sp500 | stocknet | synthetic | yfinance | file")] = "sp500",
    start: str | None = None, end: str | None = None, model: str | None = None,
    param: Annotated[list[str] | None, typer.Option(help="Strategy parameter k=v (repeatable)")] = None,
    sweep: Annotated[list[str] | None, typer.Option(help="Grid k=v1,v2 (repeatable): parallel runs")] = None,
    cash: float = 1_000_000.0, commission_bps: float = 10.0, slippage_bps: float = 0.0, rebalance: str = "daily",
    workers: int = 2, strategy_path: Annotated[list[str] | None, typer.Option(help="Extra strategy folders")] = None,
    out: Annotated[Path, typer.Option(help="HTML report; results go to a folder of the same name")] = Path(
        "data/reports/backtest.html"),
) -> None:
    """Backtest one strategy (or a parameter sweep in parallel processes)."""
    from ..backtest.report import backtest_report
    from ..backtest.runner import BacktestConfig, run_backtest, run_sweep

    sig = load_signals(signals, model, start, end)
    assets = sorted(set(sig.index.get_level_values("asset")))
    px = load_prices(prices, assets if prices != "synthetic" else None, start, end)
    px = px[px.index.get_level_values("asset").isin(assets)]
    config = BacktestConfig(cash=cash, commission_bps=commission_bps, slippage_bps=slippage_bps, rebalance=rebalance,
                            start=start, end=end, params=parse_params(param))
    if sweep:
        grid = {k: [v for v in vals.split(",")] for k, _, vals in (s.partition("=") for s in sweep)}
        grid = {k: [parse_params([f"{k}={v}"])[k] for v in vs] for k, vs in grid.items()}
        with console.status(f"sweeping {grid}"):
            table = run_sweep(px, sig, strategy, grid, config, workers=workers, strategy_paths=strategy_path or ())
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out.with_suffix(".sweep.csv"), index=False)
        print_table(f"sweep of {strategy}", table)
        return
    with console.status(f"running {strategy}"):
        result = run_backtest(px, sig, strategy, config, strategy_path or ())
    backtest_report(result, px, sig, out)
    print_table(f"{result.strategy}", result.stats())
    console.print(f"report: {out}; results: {out.with_suffix('')}/")
