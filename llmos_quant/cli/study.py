"""``llmos-quant study``: the pipeline on any news source, prices and window -> a markdown report + HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, print_table
from .train import source_defaults

_S = source_defaults("study", "StudyConfig")  # the options' defaults are StudyConfig's own


def study(
    news: Annotated[str, typer.Option(help="News source: reuters | benzinga[:PATH] | table:PATH | a .csv/.parquet "
                                           "(columns pick the format) | rss:URL ... (see `signals backfill --help`)")] = _S[
        "news"],
    source_format: Annotated[str | None, typer.Option(help="Format of a --news PATH: reuters | benzinga | table "
                                                           "\\[default: from the file's columns]")] = None,
    lookback_news: Annotated[str | None, typer.Option(help="A second news source for the lookback before --start "
                                                           "(its items before the main source's first item are "
                                                           "added) \\[default: none]")] = None,
    news_tz: Annotated[str | None, typer.Option(help="IANA zone of zone-less timestamps in the news files (e.g. "
                                                     "America/New_York); without it they are refused")] = None,
    prices: Annotated[str, typer.Option(help="sp500 | stocknet | yfinance | a .csv/.parquet price file")] = _S["prices"],
    start: Annotated[str, typer.Option(help="First session YYYY-MM-DD")] = _S["start"],
    end: Annotated[str, typer.Option(help="Last session YYYY-MM-DD; after 2016-12-31 only with --out-of-sample")] = _S[
        "end"],
    out_of_sample: Annotated[bool, typer.Option(help="Allow a window after 2016-12-31 (held out for evaluation) and "
                                                     "stamp the report OUT-OF-SAMPLE")] = False,
    cost_bps: Annotated[float, typer.Option(help="Trading cost per side in bps of traded value (>= 0): the net "
                                                 "factor returns and the net backtest")] = _S["cost_bps"],
    max_loss: Annotated[float, typer.Option(help="Largest fraction of a factor's rows that may be dropped (no price "
                                                 "or no forward return: a window's last 10 sessions have no 10D "
                                                 "return) before the run fails; 1 turns the check off")] = _S[
        "max_loss"],
    out: Annotated[Path, typer.Option(help="Markdown report file (the tables)")] = Path(_S["out_md"]),
    out_dir: Annotated[Path, typer.Option(help="Folder for the signal stores (DuckDB), HTML tear sheets, the event "
                                               "study and the backtest report")] = Path(_S["out_dir"]),
    figures: Annotated[bool, typer.Option(help="Write the event-study figures as PNG next to the report (headless "
                                               "Chromium; skipped with a log line without it)")] = True,
    quiet: Annotated[bool, typer.Option(help="No progress bars")] = False,
) -> None:
    """Ours vs Loughran-McDonald vs momentum: IC, spreads, event types (BH), event study, long-short backtest."""
    from ..study import StudyConfig, run_study

    config = StudyConfig(news=news, source_format=source_format, lookback_news=lookback_news, news_tz=news_tz,
                         prices=prices,
                         start=start, end=end, out_of_sample=out_of_sample, cost_bps=cost_bps, max_loss=max_loss,
                         out_md=str(out),
                         out_dir=str(out_dir),
                         figures_dir=str(Path(out).parent / "figures") if figures else None)
    result = run_study(config, progress=not quiet)
    for name, rep in result.reports.items():
        print_table(name, rep.summary())
    for label, stats in result.backtest_stats.items():
        print_table(f"long-short backtest (LLMOS sentiment), {label}", stats)
    stamp = " (OUT-OF-SAMPLE)" if out_of_sample else ""
    console.print(f"written {out}{stamp} and reports in {out_dir}/ ({result.seconds / 60:.1f} min)")
