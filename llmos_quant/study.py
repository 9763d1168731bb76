"""The real-data study, on any window and news source: ``llmos-quant study`` -> ``docs/study.md`` + HTML reports.

Default: Reuters headlines 2013-02-08 .. 2016-12-30 with S&P 500 prices from ../shared/data. Any news source of
the registry (``--news``, ``--source-format``), a second file for the lookback news before ``--start``
(``--lookback-news``), any price source (``--prices``) and any window work; a window ending after 2016-12-31 needs
``out_of_sample=True`` (``--out-of-sample``), which stamps the report as such: 2017+ is held out for evaluation and
nothing may be tuned on it.

Signals compared: our LLMOS sentiment, the Loughran-McDonald dictionary sentiment (same pipeline), and a no-news
baseline (5-session price momentum), plus LLMOS novel sentiment (each item's score weighted by its novelty
against the same ticker's previous 5 sessions, ``signals.novelty``). For each: IC / rank IC / ICIR at 1, 5 and 10
sessions and quantile spreads, gross and net of costs; the event-type factors (``sentiment_<event>``) with every test listed and a
Benjamini-Hochberg note; an event study (abnormal returns -5..+10 sessions around news sessions by sentiment
quintile, vs the equal-weight universe and vs sector where a sector map exists, per event type); and for ours
the cross-sectional long-short backtest (top/bottom quintile, daily), gross and net.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import NoCompleteEventsError, UsageError
from .reporting import markdown_table

log = logging.getLogger(__name__)

START, END = "2013-02-08", "2016-12-30"
RESEARCH_END = "2016-12-31"


@dataclass(frozen=True)
class StudyConfig:
    """What ``run_study`` runs (see the module docstring). ``news``: a news-source spec of the registry
    (``reuters``, ``benzinga:PATH``, ``table:PATH``, a bare .csv/.parquet, ...); ``source_format``: the format of a
    bare path in ``news`` (``reuters`` | ``benzinga`` | ``table``), joined as ``FORMAT:PATH``."""

    news: str = "reuters"
    source_format: str | None = None
    lookback_news: str | None = None
    news_tz: str | None = None  # the IANA zone of zone-less timestamps in the news files (else they are refused)
    prices: str = "sp500"
    start: str = START
    end: str = END
    out_of_sample: bool = False
    cost_bps: float = 10.0
    max_loss: float = 0.35  # the factor evaluations' largest dropped fraction of rows with a value (alphalens')
    lookback_days: int = 90
    out_md: str = "docs/study.md"
    out_dir: str = "data/study"
    event_window: tuple[int, int] = (-5, 10)
    backtest: bool = True
    figures_dir: str | None = "docs/figures"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        from .data.calendar import parse_date

        start, end = parse_date(self.start, "--start"), parse_date(self.end, "--end")
        if start > end:
            raise UsageError(f"--start {self.start} is after --end {self.end}; swap them")
        synthetic = self.prices == "synthetic" and self.news == "synthetic"  # invented data: nothing held out
        if end > pd.Timestamp(RESEARCH_END) and not self.out_of_sample and not synthetic:
            raise UsageError(f"--end {self.end} is after {RESEARCH_END}: 2017+ prices and news are held out for "
                             "evaluation. Pass --out-of-sample to run an evaluation (the report is stamped "
                             "OUT-OF-SAMPLE; tune nothing on it), or end the window by 2016-12-30")
        if self.source_format is not None:
            if self.source_format not in ("reuters", "benzinga", "table"):
                raise UsageError(f"--source-format {self.source_format!r}: expected reuters, benzinga or table")
            if ":" in self.news and not Path(self.news).exists():
                raise UsageError(f"--source-format {self.source_format} applies to a file given as --news PATH, got "
                                 f"{self.news!r}; drop one of them")
        if not (np.isfinite(self.cost_bps) and self.cost_bps >= 0):
            raise UsageError(f"--cost-bps {self.cost_bps!r}: expected a finite number >= 0, e.g. 10")
        if isinstance(self.max_loss, bool) or not 0.0 <= self.max_loss <= 1.0:
            raise UsageError(f"--max-loss {self.max_loss!r}: expected a fraction between 0 and 1, e.g. 0.35 (1 turns "
                             "the check off)")
        if self.lookback_days < 0:
            raise UsageError(f"lookback_days must be >= 0, got {self.lookback_days}")

    @property
    def news_spec(self) -> str:
        return f"{self.source_format}:{self.news}" if self.source_format else self.news


@dataclass
class StudyResult:
    reports: dict[str, Any]
    backtest_stats: dict[str, dict[str, float]]
    coverage: dict[str, float]
    seconds: float
    event_study: Any = None
    event_study_sector: Any = None
    config: StudyConfig | None = None
    figures: list[Path] = field(default_factory=list)
    event_study_notes: dict[str, str] = field(default_factory=dict)  # benchmark -> why that event study is empty


FORWARD_DAYS = 45  # calendar days of prices after --end: 20 sessions (the longest IC-decay horizon) and holidays


def _outcome_end(config: StudyConfig) -> str:
    """The last price date the evaluations read: ``FORWARD_DAYS`` after ``end``, capped at the research window's
    end unless the study is out of sample (or on invented data), so that no 2017+ price enters an in-sample run."""
    last = pd.Timestamp(config.end) + pd.Timedelta(days=FORWARD_DAYS)
    in_sample = not config.out_of_sample and not (config.prices == "synthetic" and config.news == "synthetic")
    if in_sample:
        last = min(last, pd.Timestamp(RESEARCH_END))
    return str(last.date())


def _news(config: StudyConfig, universe: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The study's news: the main source over [start - lookback_days, end] plus, when given, the lookback file's
    items published before the main source's first item; exact repeats across the two files are dropped."""
    from .jobs.registry import load_news

    start = pd.Timestamp(config.start)
    lo = start - pd.Timedelta(days=config.lookback_days)
    main = load_news(config.news_spec, lo, config.end, tz=config.news_tz).frame
    counts = {"news rows (main source, window + lookback)": len(main)}
    frames = [main]
    if config.lookback_news:
        extra = load_news(config.lookback_news, lo, config.start, tz=config.news_tz).frame
        first = main["published_at"].min() if len(main) else pd.Timestamp(config.end, tz="UTC")
        extra = extra[extra["published_at"] < first]
        counts["news rows (lookback file, before the main source)"] = len(extra)
        frames.append(extra)
    news = pd.concat(frames, ignore_index=True)
    repeats = news.duplicated(["published_at", "asset", "headline"])
    counts["exact repeats (same time, asset, headline) dropped"] = int(repeats.sum())
    news = news[~repeats].reset_index(drop=True)
    inside = news["asset"].isin(universe)
    counts["news rows outside the price universe (left out)"] = int((~inside).sum())
    return news[inside].reset_index(drop=True), counts


def _sectors(universe: list[str]) -> pd.Series | None:
    """asset -> sector where a map exists (StockNet's StockTable), else None."""
    try:
        from .data.stocknet import read_stocknet_sectors

        sectors = read_stocknet_sectors()
    except Exception as exc:  # the shared data may be absent
        log.info("no sector map (%s): the event study runs vs the market only", exc)
        return None
    covered = sectors[sectors.index.isin(universe)]
    return covered if len(covered) >= 10 else None


def _event_labels(signals: pd.DataFrame) -> pd.Series:
    cols = [c for c in signals.columns if c.startswith("sentiment_") and c != "sentiment_mean"]
    has = signals[cols].notna()
    names = [c.removeprefix("sentiment_") for c in cols]
    return has.apply(lambda row: [n for n, v in zip(names, row, strict=True) if v], axis=1)


def run_study(config: StudyConfig | None = None, progress: bool = True, **overrides: Any) -> StudyResult:
    """Run the study (``StudyConfig``; keyword overrides replace its fields) and write the report."""
    from .backtest.report import backtest_report
    from .backtest.runner import BacktestConfig, run_backtest
    from .encoders.sentiment import SentimentEncoder
    from .factors.evaluate import evaluate_factor
    from .factors.event_study import event_study
    from .factors.plots import car_by_event_type, car_by_quantile
    from .factors.tearsheet import report_figures, write_html
    from .jobs.registry import load_prices
    from .signals.novelty import NoveltyConfig
    from .signals.pipeline import run_signals
    from .signals.store import SignalStore

    config = replace(config or StudyConfig(), **overrides) if overrides else (config or StudyConfig())
    t0 = time.perf_counter()
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # the forward returns and post-event returns of the window's last signals need the sessions after --end: the
    # evaluations read prices up to FORWARD_DAYS past it (never past the research window's end in-sample); the
    # universe, the momentum baseline and the backtest keep to the window itself
    outcomes = load_prices(config.prices, None, config.start, _outcome_end(config))
    prices = outcomes[outcomes.index.get_level_values("date") <= pd.Timestamp(config.end)]
    universe = sorted(set(prices.index.get_level_values("asset")))
    news, news_counts = _news(config, universe)
    if news.empty:
        from .errors import DataNotFoundError

        raise DataNotFoundError(f"no news of {config.news_spec!r} for the {len(universe)} priced assets in "
                                f"{config.start}..{config.end}; check --news (and --source-format), --prices and the "
                                "window")
    signals: dict[str, pd.DataFrame] = {}
    for name, backend in (("llmos", "llmos"), ("loughran_mcdonald", "lm")):
        encoder = SentimentEncoder.create(backend, **({"progress": progress} if backend == "llmos" else {}))
        store_path = out_dir / f"signals_{name}.duckdb"  # its score cache makes a rerun score only new headlines
        with SignalStore(store_path) as store:
            run_signals(news, encoder, store, config.start, config.end, universe=universe, progress=progress,
                        events="rules" if name == "llmos" else None,
                        novelty=NoveltyConfig(lookback_sessions=5, collapse=False) if name == "llmos" else None)
            # this run rewrote every (session, priced asset) row of the window for this model: read exactly those
            signals[name] = store.signals(model=encoder.model_name, start=config.start, end=config.end,
                                          assets=universe)
    close = prices["close"].unstack("asset")
    momentum = (close / close.shift(5) - 1).stack().rename("momentum_5d")
    momentum.index = momentum.index.set_names(["date", "asset"])
    factors = {"LLMOS sentiment": signals["llmos"]["sentiment"],
               "LLMOS novel sentiment": signals["llmos"]["novel_sentiment"],
               "Loughran-McDonald sentiment": signals["loughran_mcdonald"]["sentiment"],
               "5-day momentum (no news)": momentum.dropna()}
    ev_cols = [c for c in signals["llmos"].columns if c.startswith("sentiment_") and c != "sentiment_mean"]
    reports = {name: evaluate_factor(f.dropna(), outcomes, cost_bps=config.cost_bps, max_loss=config.max_loss,
                                     events=signals["llmos"][ev_cols] if name == "LLMOS sentiment" and ev_cols else None)
               for name, f in factors.items()}
    stamp = "OUT-OF-SAMPLE " if config.out_of_sample else ""
    for name, rep in reports.items():
        slug = "_".join(name.lower().replace("-", "_").replace("(", "").replace(")", "").split()[:3])
        write_html(report_figures(rep), out_dir / f"tear_sheet_{slug}.html", f"{stamp}Study: {name}")

    llmos = signals["llmos"].assign(events=_event_labels(signals["llmos"]))
    es_notes: dict[str, str] = {}

    def study_of(benchmark: str, **kwargs: Any) -> Any:
        """The event study, or None with the reason in ``es_notes`` when no event has a complete window (a short
        window or sparse news): the rest of the study still stands, so its section says so instead of failing."""
        try:
            return event_study(llmos, outcomes, window=config.event_window, score="sentiment_mean", benchmark=benchmark,
                               **kwargs)
        except NoCompleteEventsError as exc:
            log.warning("event study vs %s left empty: %s", benchmark, exc)
            es_notes[benchmark] = str(exc)
            return None

    es = study_of("market")
    sectors = _sectors(universe)
    es_sector = study_of("sector", sectors=sectors) if sectors is not None else None
    es_figs = {"car_by_quintile": car_by_quantile(es), "car_by_event_type": car_by_event_type(es)} if es else {}
    if es_sector is not None:
        es_figs["car_by_quintile_sector"] = car_by_quantile(es_sector)
    write_html(es_figs, out_dir / "event_study.html", f"{stamp}Event study: LLMOS sentiment around news sessions",
               notes=[f"No event study vs {b}: {why}" for b, why in es_notes.items()])
    figures = _pngs(es_figs, config)

    bt_stats: dict[str, dict[str, float]] = {}
    if config.backtest:
        for label, cost in (("gross (0 bps)", 0.0), (f"net ({config.cost_bps:g} bps/side)", config.cost_bps)):
            bt = run_backtest(prices, signals["llmos"], "long_short",
                              BacktestConfig(commission_bps=cost, params={"quantiles": 5, "min_assets": 10}))
            bt_stats[label] = bt.stats()
        backtest_report(bt, prices, signals["llmos"], out_dir / "backtest_llmos_long_short.html")
    cov = reports["LLMOS sentiment"].coverage
    coverage = {
        "assets in universe": len(universe),
        "mean assets with a signal per day": float(cov["assets_with_signal"].mean()),
        "mean share of universe with a signal": float(cov["share"].mean()),
        "mean assets with fresh news per day": float((signals["llmos"]["news_count"] > 0).groupby(level="date").sum().mean()),
        **news_counts,
        "news rows used (priced assets)": len(news),
    }
    seconds = time.perf_counter() - t0
    result = StudyResult(reports, bt_stats, coverage, seconds, es, es_sector, config, figures, es_notes)
    write_study_md(config.out_md, result)
    return result


def _pngs(figures: dict[str, Any], config: StudyConfig) -> list[Path]:
    """PNG copies of the event-study figures for the markdown report (headless Chromium); none when unavailable."""
    if not config.figures_dir:
        return []
    from .reporting import figures_to_png

    prefix = "study_oos_" if config.out_of_sample else "study_"
    return figures_to_png({f"{prefix}{k}": v for k, v in figures.items()}, config.figures_dir)


def by_event_table(reports: dict[str, Any]) -> str:
    rep = reports.get("LLMOS sentiment")
    if rep is None or rep.event_tests is None:
        return ("n/a: no event type had news on 3 or more assets on the same session, which a cross-sectional rank "
                "IC needs (the event study below pools events over time instead)")
    return markdown_table(rep.event_tests.set_index(["factor", "period"]))


def _event_study_md(es: Any, title: str, empty_because: str | None = None) -> list[str]:
    if es is None:
        return [f"### {title}", "", f"n/a: {empty_because}", ""] if empty_because else []
    summary = es.summary()
    summary["events"] = [("" if pd.isna(v) else f"{int(v):,}") for v in summary["events"]]
    out = [f"### {title}", "", markdown_table(summary), ""]
    rows = []
    for name, sub in es.by_event.items():
        spread = sub.spread_column
        if spread is None:
            continue
        rows.append({"event type": name, "events": int(sub.counts.get("all", 0)),
                     f"{spread} CAR day 0": sub.car.loc[0, spread], "t day 0": sub.car_t.loc[0, spread],
                     f"{spread} CAR +{es.window[1]}": sub.car.loc[es.window[1], spread],
                     f"t +{es.window[1]}": sub.car_t.loc[es.window[1], spread]})
    if rows:
        out += [f"By event type (top minus bottom sentiment quintile, {title.split('(')[-1].rstrip(')')}):", "",
                markdown_table(pd.DataFrame(rows).set_index("event type")), ""]
    return out


def write_study_md(path: str | Path, result: StudyResult) -> Path:
    config = result.config or StudyConfig()
    reports, cost_bps = result.reports, config.cost_bps
    rows = []
    for name, rep in reports.items():
        for period in rep.rank_ic_summary.index:
            s = rep.rank_ic_summary.loc[period]
            sp = rep.spread_summary.loc[period]
            rows.append({"signal": name, "horizon": period, "IC mean": rep.ic_summary.loc[period, "mean"],
                         "rank IC mean": s["mean"], "rank IC std": s["std"], "ICIR": s["icir"], "t": s["t_stat"],
                         "Q5-Q1 spread (bps/day-horizon)": sp["mean"] * 1e4, "spread t": sp["t_stat"]})
    table = pd.DataFrame(rows).set_index(["signal", "horizon"])
    ls = pd.DataFrame({name: {"mean daily L/S return (bps, gross)": rep.factor_returns["1D"].mean() * 1e4,
                              f"mean daily L/S return (bps, net {cost_bps:g} bps/side)": rep.net_returns.mean() * 1e4,
                              "mean daily turnover": rep.turnover.mean()} for name, rep in reports.items()}).T
    cov = result.coverage
    oos = config.out_of_sample
    title = ("# OUT-OF-SAMPLE evaluation" if oos else "# Real-data study") + f": {config.news_spec} news, {config.prices} prices"
    command = ["llmos-quant study"]
    defaults = StudyConfig()
    for opt, value, default in (("--news", config.news, defaults.news), ("--source-format", config.source_format, None),
                                ("--lookback-news", config.lookback_news, None), ("--prices", config.prices, "sp500"),
                                ("--start", config.start, START), ("--end", config.end, END),
                                ("--cost-bps", config.cost_bps, defaults.cost_bps),
                                ("--max-loss", config.max_loss, defaults.max_loss), ("--out", config.out_md, defaults.out_md),
                                ("--out-dir", config.out_dir, defaults.out_dir)):
        if value is not None and value != default:
            command.append(f"{opt} {value}")
    if oos:
        command.append("--out-of-sample")
    text = [title, ""]
    if oos:
        text += ["> **OUT-OF-SAMPLE**: this window ends after 2016-12-31, the end of the research window. Nothing in the "
                 "library was tuned on it; do not tune anything on these figures.", ""]
    text += [
        f"Produced by `{' '.join(command)}` ({result.seconds / 60:.1f} minutes on 2 CPU cores). Window {config.start} .. "
        f"{config.end}. Signals are point in time: a signal dated session D uses only news published before D's "
        "cutoff (16:00 New York); date-only timestamps (Reuters) count as published after that day's close, so they "
        "first enter the next session's signal. Signals trade at the following open (forward returns are "
        f"open-to-open from D+1; those of the window's last sessions read prices up to {_outcome_end(config)}, never past "
        f"{RESEARCH_END} in-sample).",
        "",
        "## Information coefficient and quantile spreads",
        "",
        markdown_table(table),
        "",
        "## Factor-weighted long-short returns, gross and net (1-day horizon, rebalanced daily)",
        "",
        markdown_table(ls),
        "",
        "## Event-type factors: every test, with the multiple-testing correction",
        "",
        "Rank IC of each event type's same-day mean score (only assets with such news that day), per horizon. "
        f"Every (event type, horizon) test is listed ({0 if reports['LLMOS sentiment'].event_tests is None else len(reports['LLMOS sentiment'].event_tests)} "  # noqa: E501
        "tests); `bh_q` is the Benjamini-Hochberg adjusted p-value over all of them and `survives_bh` marks q <= 0.10. "
        "Multi-day horizons overlap from day to day, so their t-stats are overstated.",
        "",
        by_event_table(reports),
        "",
        f"## Event study: abnormal returns around news sessions ({config.event_window[0]} .. +{config.event_window[1]} "
        "sessions)",
        "",
        "News sessions of each asset (sessions with at least one item), bucketed by quintile of that session's mean "
        "LLMOS score (pooled over the window). Abnormal return: close-to-close return minus the equal-weight universe "
        "(or the asset's sector). Offset 0 is the news session itself: a reaction there shows that sentiment is "
        "priced when the news arrives (for date-only Reuters items, some of it may precede publication), as opposed "
        "to predictive after it (offsets > 0). CAR t-stats use the cross-event standard error.",
        "",
    ]
    notes = result.event_study_notes
    text += _event_study_md(result.event_study, "vs the equal-weight universe (market)", notes.get("market"))
    text += _event_study_md(result.event_study_sector, "vs sector (StockNet sector map, covered assets only)",
                            notes.get("sector"))
    for fig in result.figures:
        text += [f"![{fig.stem}](figures/{fig.name})", ""]
    text += [f"Interactive figures: `{config.out_dir}/event_study.html`.", ""]
    if result.backtest_stats:
        bt = pd.DataFrame(result.backtest_stats)
        text += ["## Backtest: cross-sectional long-short on LLMOS sentiment (Backtrader), gross and net", "",
                 "Top vs bottom quintile of the decayed sentiment signal, equal weight, daily rebalance, integer shares.",
                 "", markdown_table(bt), ""]
        if all(int(v.get("trades", 0)) == 0 for v in result.backtest_stats.values()):
            text += ["The backtest made no trade: the long-short strategy trades only on sessions where at least "
                     "10 assets have a signal (`min_assets`), so its quintiles are not empty; this window and "
                     "universe never had that many.", ""]
    text += [
        "## Coverage",
        "",
        markdown_table(pd.Series({k: (f"{v:,}" if isinstance(v, int) else f"{v:,.4g}") for k, v in cov.items()},
                                 name="value").to_frame()),
        "",
        "## Caveats",
        "",
        "- Survivorship: the S&P 500 list is the constituents of early 2018 (the Kaggle file), applied backwards."
        if config.prices == "sp500" else f"- Prices from `{config.prices}`: check its survivorship and coverage.",
        "- Date-only news timestamps (Reuters): intraday timing is lost; all such news is treated as after the close, "
        "so every item waits a full night before it can trade.",
        f"- Coverage: on a mean day {cov['mean assets with fresh news per day']:.1f} of {cov['assets in universe']} "
        f"assets have fresh news; {cov['mean share of universe with a signal']:.1%} of the universe has a signal, "
        + ("most of it decayed news of earlier sessions, so the cross-section ranks mostly stale information."
           if cov["mean share of universe with a signal"] >= 0.3 else
           "so quantile portfolios are small and the results are noisy."),
        "- Event study: for date-only items the news session is the session after the listing date, so offset -1 is "
        "the listing day itself (the news may have moved the price that day); the reaction by offsets -1 and 0 "
        "against the flat CARs after shows whether sentiment is priced at once rather than predictive.",
        "- The shipped sentiment model was fine-tuned on Financial PhraseBank and then distilled on unlabelled Reuters "
        "titles and ledes of 2011-2016 (teacher soft labels, no returns), which overlaps the default study window: "
        "the model has seen the text (never the returns) of many of these headlines. Nothing here was tuned on the "
        "study's returns.",
        f"- HTML tear sheets, the event-study figures and the backtest report are written to `{config.out_dir}/` "
        "(not committed).",
        "",
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text))
    return path
