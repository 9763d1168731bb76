"""The real-data study: Reuters headlines 2013-02-08 .. 2016-12-30 with S&P 500 prices from ../shared/data.

Signals compared: our LLMOS sentiment, the Loughran-McDonald dictionary sentiment (same pipeline), and a
no-news baseline (5-session price momentum). For each: IC / rank IC / ICIR at 1, 5 and 10 sessions and
quantile spreads; for ours, the cross-sectional long-short backtest (top/bottom quintile, daily, 10 bps
per side). Writes ``docs/study.md`` (tables) and HTML reports under ``data/study/``. Nothing after
2016-12-30 is read: 2017+ prices are kept for out-of-sample evaluation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .backtest.report import backtest_report
from .backtest.runner import BacktestConfig, run_backtest
from .data.prices import read_sp500_csvs
from .encoders.sentiment import SentimentEncoder
from .errors import UsageError
from .factors.evaluate import FactorReport, evaluate_factor
from .factors.tearsheet import report_figures, write_html
from .jobs.registry import load_news
from .reporting import markdown_table
from .signals.pipeline import run_signals
from .signals.store import SignalStore

log = logging.getLogger(__name__)

START, END = "2013-02-08", "2016-12-30"


@dataclass
class StudyResult:
    reports: dict[str, FactorReport]
    backtest_stats: dict[str, float]
    coverage: dict[str, float]
    seconds: float


def run_study(out_md: str | Path = "docs/study.md", out_dir: str | Path = "data/study", start: str = START,
              end: str = END, cost_bps: float = 10.0, progress: bool = True) -> StudyResult:
    if pd.Timestamp(end) > pd.Timestamp("2016-12-31"):
        raise UsageError(f"end {end} is after 2016-12-31: 2017+ prices are held out; the study stops at 2016-12-30")
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prices = read_sp500_csvs(start=start, end=end)
    universe = sorted(set(prices.index.get_level_values("asset")))
    news = load_news("reuters", start, end).frame
    news = news[news["asset"].isin(universe)].reset_index(drop=True)
    signals: dict[str, pd.DataFrame] = {}
    for name, backend in (("llmos", "llmos"), ("loughran_mcdonald", "lm")):
        encoder = SentimentEncoder.create(backend, **({"progress": progress} if backend == "llmos" else {}))
        with SignalStore(out_dir / f"signals_{name}.duckdb") as store:
            run_signals(news, encoder, store, start, end, universe=universe, progress=progress,
                        events="rules" if name == "llmos" else None)
            signals[name] = store.signals()
    close = prices["close"].unstack("asset")
    momentum = (close / close.shift(5) - 1).stack().rename("momentum_5d")
    momentum.index = momentum.index.set_names(["date", "asset"])
    factors = {"LLMOS sentiment": signals["llmos"]["sentiment"],
               "Loughran-McDonald sentiment": signals["loughran_mcdonald"]["sentiment"],
               "5-day momentum (no news)": momentum.dropna()}
    ev_cols = [c for c in signals["llmos"].columns if c.startswith("sentiment_") and c != "sentiment_mean"]
    reports = {name: evaluate_factor(f.dropna(), prices, cost_bps=cost_bps,
                                     events=signals["llmos"][ev_cols] if name == "LLMOS sentiment" else None)
               for name, f in factors.items()}
    for name, rep in reports.items():
        slug = name.split()[0].lower().replace("-", "_")
        write_html(report_figures(rep), out_dir / f"tear_sheet_{slug}.html", f"Study: {name}")
    bt = run_backtest(prices, signals["llmos"], "long_short",
                      BacktestConfig(commission_bps=cost_bps, params={"quantiles": 5, "min_assets": 10}))
    backtest_report(bt, prices, signals["llmos"], out_dir / "backtest_llmos_long_short.html")
    cov = reports["LLMOS sentiment"].coverage
    coverage = {
        "assets in universe": len(universe),
        "mean assets with a signal per day": float(cov["assets_with_signal"].mean()),
        "mean share of universe with a signal": float(cov["share"].mean()),
        "mean assets with fresh news per day": float((signals["llmos"]["news_count"] > 0).groupby(level="date").sum().mean()),
        "news rows (S&P tickers, window)": len(news),
    }
    write_study_md(out_md, reports, bt.stats(), coverage, start, end, cost_bps, time.perf_counter() - t0)
    return StudyResult(reports, bt.stats(), coverage, time.perf_counter() - t0)


def by_event_table(reports: dict[str, FactorReport]) -> str:
    rep = reports.get("LLMOS sentiment")
    if rep is None or rep.by_event is None:
        return "n/a (no event split in this run)"
    return markdown_table(rep.by_event)


def write_study_md(path: str | Path, reports: dict[str, FactorReport], bt_stats: dict[str, float],
                   coverage: dict[str, float], start: str, end: str, cost_bps: float, seconds: float) -> Path:
    rows = []
    for name, rep in reports.items():
        for period in rep.rank_ic_summary.index:
            s = rep.rank_ic_summary.loc[period]
            sp = rep.spread.attrs["summary"].loc[period]
            rows.append({"signal": name, "horizon": period, "IC mean": rep.ic_summary.loc[period, "mean"],
                         "rank IC mean": s["mean"], "rank IC std": s["std"], "ICIR": s["icir"], "t": s["t_stat"],
                         "Q5-Q1 spread (bps/day-horizon)": sp["mean"] * 1e4, "spread t": sp["t_stat"]})
    table = pd.DataFrame(rows).set_index(["signal", "horizon"])
    ls = pd.DataFrame({name: {"mean daily L/S return (bps, gross)": rep.factor_returns["1D"].mean() * 1e4,
                              f"mean daily L/S return (bps, net {cost_bps:g} bps/side)": rep.net_returns.mean() * 1e4,
                              "mean daily turnover": rep.turnover.mean()} for name, rep in reports.items()}).T
    text = [
        "# Real-data study: Reuters headlines and S&P 500 prices",
        "",
        f"Produced by `llmos-quant study` ({seconds / 60:.1f} minutes on 2 CPU cores). Window {start} .. {end} "
        "(research window only; 2017+ is held out). Signals are point in time: Reuters gives only a listing date, so "
        "every headline counts as published after that day's close and first enters the next session's signal, "
        "which trades at the following open (forward returns are open-to-open from D+1).",
        "",
        "## Information coefficient and quantile spreads",
        "",
        markdown_table(table),
        "",
        "## Factor-weighted long-short returns (1-day horizon, rebalanced daily)",
        "",
        markdown_table(ls),
        "",
        "## LLMOS sentiment by event type (keyword-rule event labels)",
        "",
        "Mean daily rank IC of the same-day mean score of each event type's news (only assets with such news that day).",
        "",
        by_event_table(reports),
        "",
        f"## Backtest: cross-sectional long-short on LLMOS sentiment (Backtrader, {cost_bps:g} bps per side)",
        "",
        "Top vs bottom quintile of the decayed sentiment signal, equal weight, daily rebalance, integer shares.",
        "",
        markdown_table(pd.Series(bt_stats, name="value").to_frame()),
        "",
        "## Coverage",
        "",
        markdown_table(pd.Series(coverage, name="value").to_frame()),
        "",
        "## Caveats",
        "",
        "- Survivorship: the S&P 500 list is the constituents of early 2018 (the Kaggle file), applied backwards.",
        "- Date-only news timestamps: intraday timing is lost; all news is treated as after the close.",
        "- Reuters coverage is sparse for most tickers: on a typical day only a few dozen assets have fresh news, so "
        "the decayed signal covers a minority of the universe and quantile portfolios are small.",
        "- The sentiment model was fine-tuned on Financial PhraseBank sentences, not headlines; nothing here was tuned "
        "on the study's returns.",
        "- HTML tear sheets and the backtest report are written to `data/study/` (not committed).",
        "",
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text))
    return path
