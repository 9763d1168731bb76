"""``llmos-quant study``: the whole pipeline on Reuters 2013-2016 + S&P 500 prices -> docs/study.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, print_table
from .train import source_defaults

_S = source_defaults("study", "run_study")  # the options' defaults are run_study's own


def study(
    out: Annotated[Path, typer.Option(help="Markdown report file (the tables)")] = Path(_S["out_md"]),
    out_dir: Annotated[Path, typer.Option(help="Folder for the signal stores (DuckDB) and HTML tear sheets and "
                                               "backtest report")] = Path(_S["out_dir"]),
    start: Annotated[str, typer.Option(help="First session YYYY-MM-DD")] = _S["start"],
    end: Annotated[str, typer.Option(help="Last session YYYY-MM-DD, at most 2016-12-31 (2017+ prices are held "
                                          "out)")] = _S["end"],
    cost_bps: Annotated[float, typer.Option(help="Trading cost per side in bps of traded value (>= 0): the net "
                                                 "factor returns and the backtest's commission")] = _S["cost_bps"],
    quiet: Annotated[bool, typer.Option(help="No progress bars")] = False,
) -> None:
    """Ours vs Loughran-McDonald vs no-news momentum: IC, quantile spreads, long-short backtest."""
    from ..study import run_study

    result = run_study(out, out_dir, start, end, cost_bps, progress=not quiet)
    for name, rep in result.reports.items():
        print_table(name, rep.summary())
    print_table("long-short backtest (LLMOS sentiment)", result.backtest_stats)
    console.print(f"written {out} and reports in {out_dir}/ ({result.seconds / 60:.1f} min)")
