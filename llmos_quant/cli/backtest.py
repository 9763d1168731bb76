"""``llmos-quant backtest``: run a strategy on prices + signals; HTML report + results (see ``jobs.research``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..jobs.research import BacktestJobConfig
from .common import console, parse_params, print_table

_D = BacktestJobConfig.__dataclass_fields__


def backtest(
    strategy: Annotated[str, typer.Option(help="Strategy name (file stem or class); `llmos-quant strategies list`")],
    signals: Annotated[str, typer.Option(help="Signals: .duckdb store, .parquet or .csv (date, asset, sentiment, ...)")],
    prices: Annotated[str, typer.Option(help="sp500 | stocknet | synthetic | yfinance | a .csv/.parquet file")] = "sp500",
    start: Annotated[str | None, typer.Option(help="First session YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="Last session YYYY-MM-DD")] = None,
    model: Annotated[str | None, typer.Option(help="Model name in the store, when it holds several")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Strategy parameter k=v (repeatable)")] = None,
    sweep: Annotated[list[str] | None, typer.Option(help="Grid k=v1,v2 (repeatable): parallel runs")] = None,
    cash: Annotated[float, typer.Option(help="Starting cash")] = _D["cash"].default,
    commission_bps: Annotated[float, typer.Option(help="Commission per side, bps of traded value")] = _D[
        "commission_bps"].default,
    slippage_bps: Annotated[float, typer.Option(help="Slippage per side, bps")] = _D["slippage_bps"].default,
    rebalance: Annotated[str, typer.Option(help="daily | weekly")] = _D["rebalance"].default,
    max_leverage: Annotated[float, typer.Option(help="Refuse target weights whose gross |w| sum exceeds this")] = _D[
        "max_gross_leverage"].default,
    max_loss: Annotated[float, typer.Option(help="Largest fraction of the window's signal rows that may be dropped "
                                                 "(asset without prices, date not a session) before the run fails; "
                                                 "1 turns the check off")] = _D["max_loss"].default,
    workers: Annotated[int, typer.Option(help="Processes for --sweep")] = _D["workers"].default,
    walk_forward: Annotated[str | None, typer.Option(help="IN,OUT sessions, with --sweep: choose the combination with "
                                                          "the best Sharpe on each rolling IN-session window, apply it "
                                                          "to the next OUT sessions, report the stitched out-of-sample "
                                                          "equity and the deflated Sharpe ratio, e.g. 252,63 "
                                                          "\\[default: off]")] = None,
    strategy_path: Annotated[list[str] | None, typer.Option(help="Extra strategy folders, searched first")] = None,
    out: Annotated[Path | None, typer.Option(help="HTML report; results go to a folder of the same name (--sweep: "
                                                  "<out>.sweep.csv; --walk-forward: <out>.walk_forward.html and "
                                                  "_folds/_returns CSVs) \\[default: "
                                                  "data/reports/backtest_<strategy>.html]")] = None,
) -> None:
    """Backtest one strategy (or a parameter sweep in parallel processes)."""
    from ..jobs.research import run_backtest_job

    grid = None
    if sweep:
        grid = {}
        for item in sweep:
            key, sep, vals = item.partition("=")
            if not sep or not key or not vals:
                raise UsageError(f"--sweep {item!r}: expected key=v1,v2, e.g. --sweep threshold=0.1,0.3")
            grid[key] = [parse_params([f"{key}={v}"])[key] for v in vals.split(",")]
    wf = None
    if walk_forward is not None:
        try:
            ins, oos = (int(v) for v in walk_forward.split(","))
        except ValueError:
            raise UsageError(f"--walk-forward {walk_forward!r}: expected IN,OUT whole sessions, e.g. 252,63") from None
        wf = (ins, oos)
    config = BacktestJobConfig(strategy, signals, prices, start, end, model, parse_params(param), grid, cash,
                               commission_bps, slippage_bps, rebalance, max_leverage, workers, tuple(strategy_path or ()),
                               out, walk_forward=wf, max_loss=max_loss)
    with console.status(f"running {strategy}"):
        job = run_backtest_job(config)
    if job.walk_forward is not None:
        print_table(f"walk-forward folds of {strategy}", job.walk_forward.folds)
        print_table("walk-forward summary (out of sample vs in sample)", job.walk_forward.summary)
        base = config.out.with_suffix("")
        console.print(f"walk-forward report: {job.report}; folds {base}.walk_forward_folds.csv, out-of-sample returns "
                      f"{base}.walk_forward_returns.csv, sweep table {config.out.with_suffix('.sweep.csv')}")
        return
    if job.sweep is not None:
        print_table(f"sweep of {strategy}", job.sweep)
        console.print(f"sweep table: {job.report}")
        return
    print_table(f"{job.result.strategy}" + (" (SYNTHETIC data)" if job.synthetic else ""), job.result.stats())
    issues = {k: (", ".join(v[:10]) + (" ..." if len(v) > 10 else "") if isinstance(v, list) else v)
              for k, v in job.result.data_issues.as_dict().items()}
    print_table("data issues (rows not used as given)", issues)
    console.print(f"report: {config.out}; results: {config.out.with_suffix('')}/")
