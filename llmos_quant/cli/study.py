"""``llmos-quant study``: the whole pipeline on Reuters 2013-2016 + S&P 500 prices -> docs/study.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, print_table


def study(
    out: Annotated[Path, typer.Option(help="Markdown report")] = Path("docs/study.md"),
    out_dir: Annotated[Path, typer.Option(help="Stores and HTML reports")] = Path("data/study"),
    start: str = "2013-02-08", end: str = "2016-12-30", cost_bps: float = 10.0, quiet: bool = False,
) -> None:
    """Ours vs Loughran-McDonald vs no-news momentum: IC, quantile spreads, long-short backtest."""
    from ..study import run_study

    result = run_study(out, out_dir, start, end, cost_bps, progress=not quiet)
    for name, rep in result.reports.items():
        print_table(name, rep.summary())
    print_table("long-short backtest (LLMOS sentiment)", result.backtest_stats)
    console.print(f"written {out} and reports in {out_dir}/ ({result.seconds / 60:.1f} min)")
