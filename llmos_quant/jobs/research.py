"""Research jobs: the demo, backtests (one run or a sweep) and factor tear sheets, as typed configs."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import StrategyNotFoundError, UsageError
from ..paths import check_output_file
from .registry import load_prices, prices_in_window

log = logging.getLogger(__name__)

SYNTHETIC_NOTE = "SYNTHETIC data (simulator), not real markets"


def load_signals(spec: str | Path, model: str | None = None, start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """Signals from a DuckDB store (opened read-only, so a running job may write it) or a .parquet/.csv file."""
    from ..errors import DataNotFoundError, ValidationError
    from ..signals.aggregate import validate_signals
    from ..signals.store import SignalStore

    path = Path(spec)
    if not path.is_file():
        raise DataNotFoundError(f"--signals {spec} does not exist; run `llmos-quant signals backfill` first or pass a file")
    if path.stat().st_size == 0:
        raise ValidationError(f"--signals {spec} is empty (0 bytes); expected a .duckdb store, .parquet or .csv file")
    if path.suffix == ".duckdb":
        with SignalStore(path, read_only=True) as store:
            frame = store.signals(model=model, start=start, end=end)
    elif path.suffix in (".parquet", ".csv"):
        try:
            frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, parse_dates=["date"])
        except Exception as exc:  # parser errors of pandas/pyarrow, a CSV without 'date'
            raise ValidationError(f"--signals {spec} is not readable ({type(exc).__name__}: {exc}); expected columns "
                                  "date, asset, sentiment, ...") from exc
    else:
        raise UsageError(f"--signals {spec}: expected a .duckdb store, .parquet or .csv file")
    if "date" in frame.columns:
        frame = frame.set_index(["date", "asset"])
    if frame.empty:
        raise DataNotFoundError(f"--signals {spec} holds no signals for the requested window/model")
    return validate_signals(frame.sort_index())


# ---- backtests -------------------------------------------------------------------------------------------
def _check_dates(start: str | None, end: str | None) -> None:
    from ..data.calendar import parse_date

    for option, value in (("--start", start), ("--end", end)):
        if value is not None:
            parse_date(value, option)
    if start is not None and end is not None and pd.Timestamp(start) > pd.Timestamp(end):
        raise UsageError(f"--start {start} is after --end {end}; swap them")


def reports_dir() -> Path:
    from ..paths import data_dir

    return data_dir() / "reports"


@dataclass(frozen=True)
class BacktestJobConfig:
    strategy: str
    signals: str
    prices: str = "sp500"
    start: str | None = None
    end: str | None = None
    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    sweep: Mapping[str, Sequence[Any]] | None = None
    cash: float = 1_000_000.0
    commission_bps: float = 10.0
    slippage_bps: float = 0.0
    rebalance: str = "daily"
    max_gross_leverage: float = 2.0
    workers: int = 2
    strategy_paths: tuple[str, ...] = ()
    out: Path | None = None  # default: <data>/reports/backtest_<strategy>.html
    walk_forward: tuple[int, int] | None = None  # (in-sample, out-of-sample) sessions; needs a sweep
    max_loss: float = 0.35  # largest fraction of the window's signal rows the feeds may drop (BacktestConfig)

    def __post_init__(self) -> None:
        _check_dates(self.start, self.end)
        if self.walk_forward is not None:
            if not self.sweep:
                raise UsageError("--walk-forward chooses among --sweep combinations: add a grid, e.g. "
                                 "--sweep threshold=0.1,0.2,0.3")
            if len(self.walk_forward) != 2 or self.walk_forward[0] < 20 or self.walk_forward[1] < 1:
                raise UsageError(f"--walk-forward {self.walk_forward!r}: expected IN,OUT sessions with IN >= 20 and "
                                 "OUT >= 1, e.g. --walk-forward 252,63")
        object.__setattr__(self, "out", Path(self.out) if self.out else reports_dir() / f"backtest_{self.strategy}.html")
        check_output_file(self.out, "--out")
        for folder in self.strategy_paths:
            if not Path(folder).is_dir():
                what = "a file" if Path(folder).exists() else "it does not exist"
                raise StrategyNotFoundError(f"--strategy-path {folder} is not a folder ({what}); pass the folder that "
                                            "holds your strategy .py files")
        if not (math.isfinite(self.max_gross_leverage) and self.max_gross_leverage > 0):
            raise UsageError(f"--max-leverage {self.max_gross_leverage!r}: expected a finite gross leverage > 0, e.g. 2")
        if self.workers < 1:
            raise UsageError(f"--workers {self.workers}: expected >= 1")
        if not (0.0 <= self.max_loss <= 1.0):
            raise UsageError(f"--max-loss {self.max_loss}: expected a fraction between 0 and 1, e.g. 0.35 (1 turns the "
                             "check off)")


@dataclass
class BacktestJobResult:
    result: Any = None  # BacktestResult of a single run
    sweep: pd.DataFrame | None = None
    report: Path | None = None
    synthetic: bool = False
    walk_forward: Any = None  # WalkForwardResult of a --walk-forward sweep


def _signal_window(start: str | None, end: str | None, sig: pd.DataFrame,
                   px: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The backtest's window: ``--start``/``--end`` when given, else the signals' own dates (first signal; the price
    session after the last one, when its trades fill), so that the statistics and the benchmark cover the sessions
    the strategy had signals for, not the whole price history."""
    dates = sig.index.get_level_values("date")
    lo = pd.Timestamp(start) if start is not None else dates.min()
    if end is not None:
        hi = pd.Timestamp(end)
    else:
        sessions = px.index.get_level_values("date").unique().sort_values()
        after = sessions[sessions > dates.max()]
        hi = after[0] if len(after) else dates.max()
    if start is None or end is None:
        log.info("backtest window %s .. %s (from the signals; pass --start/--end for another)", lo.date(), hi.date())
    return lo, hi


def run_backtest_job(config: BacktestJobConfig) -> BacktestJobResult:
    from ..backtest.report import backtest_report
    from ..backtest.runner import BacktestConfig, run_backtest, run_sweep

    sig = load_signals(config.signals, config.model, config.start, config.end)
    assets = sorted(set(sig.index.get_level_values("asset")))
    full = load_prices(config.prices, assets if config.prices not in ("synthetic",) else None, config.start, config.end)
    start, end = _signal_window(config.start, config.end, sig, full)
    dates = full.index.get_level_values("date")
    # prices that share no session with the signals' window: exit 4 naming the dates the source covers
    px = prices_in_window(config.prices, full[(dates >= start) & (dates <= end)], str(start.date()), str(end.date()),
                          lambda: full)
    # the backtest universe is the signals' assets; priced assets without any signal are left out, with a count
    priced = set(px.index.get_level_values("asset"))
    extra = sorted(priced - set(assets))
    if extra:
        log.warning("prices of %d assets without signals are left out of the backtest universe (e.g. %s)", len(extra),
                    extra[:5])
        px = px[px.index.get_level_values("asset").isin(assets)]
    bt_config = BacktestConfig(cash=config.cash, commission_bps=config.commission_bps, slippage_bps=config.slippage_bps,
                               rebalance=config.rebalance, start=str(start.date()), end=str(end.date()),
                               max_gross_leverage=config.max_gross_leverage, params=dict(config.params),
                               max_loss=config.max_loss)
    synthetic = config.prices == "synthetic"
    if config.sweep and config.walk_forward:
        return _walk_forward_job(config, px, sig, bt_config, synthetic)
    if config.sweep:
        table = run_sweep(px, sig, config.strategy, config.sweep, bt_config, workers=config.workers,
                          strategy_paths=config.strategy_paths)
        config.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(config.out.with_suffix(".sweep.csv"), index=False)
        return BacktestJobResult(sweep=table, report=config.out.with_suffix(".sweep.csv"), synthetic=synthetic)
    result = run_backtest(px, sig, config.strategy, bt_config, config.strategy_paths)
    backtest_report(result, px, sig, config.out, synthetic=True if synthetic else None)
    return BacktestJobResult(result=result, report=config.out, synthetic=synthetic)


def _walk_forward_job(config: BacktestJobConfig, px: pd.DataFrame, sig: pd.DataFrame, bt_config: Any,
                      synthetic: bool) -> BacktestJobResult:
    """Every combination once over the window, then rolling selection: folds CSV, stitched returns CSV, HTML."""
    import numpy as np
    import plotly.graph_objects as go

    from ..backtest.runner import sweep_with_returns
    from ..backtest.walkforward import walk_forward
    from ..factors.plots import table
    from ..factors.tearsheet import write_html

    sweep = sweep_with_returns(px, sig, config.strategy, config.sweep or {}, bt_config, workers=config.workers,
                               strategy_paths=config.strategy_paths)
    ins, oos = config.walk_forward or (252, 63)
    wf = walk_forward(sweep.returns, ins, oos, sweep.params)
    base = config.out.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    sweep.table.to_csv(config.out.with_suffix(".sweep.csv"), index=False)
    wf.folds.to_csv(f"{base}.walk_forward_folds.csv", index=False)
    wf.oos_returns.to_frame().to_csv(f"{base}.walk_forward_returns.csv")
    fig = go.Figure()
    fig.add_scatter(x=wf.oos_returns.index, y=(1 + wf.oos_returns).cumprod(), name="walk-forward (out of sample)")
    best = wf.trials.loc[wf.trials["sharpe"].fillna(-np.inf).idxmax(), "combination"]
    full = sweep.returns[best].fillna(0.0).loc[wf.oos_returns.index[0]:]
    fig.add_scatter(x=full.index, y=(1 + full).cumprod(), name=f"best full-window combination ({best}; chosen in "
                    "hindsight)", line={"dash": "dot"})
    fig.update_layout(title=f"{config.strategy}: walk-forward, {ins} in-sample / {oos} out-of-sample sessions, "
                      f"{len(sweep.returns)} combinations", xaxis_title="session", yaxis_title="growth of 1",
                      template="plotly_white")
    summary = pd.Series(wf.summary, name="value").to_frame()
    folds = wf.folds.assign(**{c: wf.folds[c].dt.date for c in ("is_start", "is_end", "oos_start", "oos_end")})
    report = write_html({"equity": fig, "summary": table(summary, "walk-forward summary"),
                         "folds": table(folds, "folds: parameters chosen in sample, applied out of sample",
                                        index=False)},
                        f"{base}.walk_forward.html", f"Walk-forward: {config.strategy}",
                        notes=["Each fold picks the combination with the best in-sample Sharpe ratio and applies it to "
                               "the next window; the out-of-sample pieces are stitched. Deflated Sharpe ratio: Bailey "
                               "and López de Prado (2014), for the number of combinations tried."],
                        synthetic=synthetic)
    return BacktestJobResult(sweep=sweep.table, report=report, synthetic=synthetic, walk_forward=wf)


# ---- tear sheets -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TearsheetJobConfig:
    signals: str
    prices: str = "sp500"
    column: str = "sentiment"
    start: str | None = None
    end: str | None = None
    model: str | None = None
    quantiles: int = 5
    cost_bps: float = 10.0
    max_loss: float = 0.35
    out: Path | None = None  # default: <data>/reports/tear_sheet_<column>.html

    def __post_init__(self) -> None:
        _check_dates(self.start, self.end)
        object.__setattr__(self, "out", Path(self.out) if self.out else reports_dir() / f"tear_sheet_{self.column}.html")
        check_output_file(self.out, "--out")
        if not (math.isfinite(self.cost_bps) and self.cost_bps >= 0):
            raise UsageError(f"--cost-bps {self.cost_bps}: expected a finite cost per side in bps >= 0, e.g. 10")
        if self.quantiles < 2:
            raise UsageError(f"--quantiles {self.quantiles}: expected >= 2")
        if not (0.0 <= self.max_loss <= 1.0):
            raise UsageError(f"--max-loss {self.max_loss}: expected a fraction between 0 and 1")


def run_tearsheet_job(config: TearsheetJobConfig) -> Any:
    from ..factors.tearsheet import tear_sheet

    sig = load_signals(config.signals, config.model, config.start, config.end)
    if config.column not in sig.columns:
        raise UsageError(f"--column {config.column!r} not in the signals (columns: {list(sig.columns)})")
    assets = sorted(set(sig.index.get_level_values("asset")))
    dates = sig.index.get_level_values("date")
    last = dates.max() + pd.Timedelta(days=30)  # the forward returns of the last signal dates
    px = load_prices(config.prices, assets if config.prices != "synthetic" else None, config.start, str(last.date()))
    # prices that share no session with the signals' dates: exit 4 naming the dates the source covers
    first = dates.min()
    pdates = px.index.get_level_values("date")
    prices_in_window(config.prices, px[(pdates >= first) & (pdates <= last)], str(first.date()), str(last.date()),
                     lambda: px)
    by_event = [c for c in sig.columns if c.startswith("sentiment_") and c != "sentiment_mean"]
    return tear_sheet(sig[config.column], px, config.out, title=f"Tear sheet: {config.column}", n_quantiles=config.quantiles,
                      cost_bps=config.cost_bps, events=sig[by_event] if by_event else None, max_loss=config.max_loss,
                      synthetic=True if config.prices == "synthetic" else None)


# ---- demo ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoConfig:
    out: Path | None = None  # default: <data>/demo (the checkout's data/demo; $LLMOS_QUANT_DATA/demo)
    n_assets: int = 30
    n_sessions: int = 250
    seed: int = 0
    backend: str = "llmos"
    model_path: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        from ..paths import data_dir

        object.__setattr__(self, "out", Path(self.out) if self.out else data_dir() / "demo")
        if self.n_assets < 5 or self.n_sessions < 40:
            raise UsageError(f"demo needs --n-assets >= 5 and --n-sessions >= 40, got {self.n_assets}, {self.n_sessions}")


@dataclass
class DemoResult:
    rows: dict[str, Any]
    examples: pd.DataFrame
    out: Path


def run_demo(config: DemoConfig) -> DemoResult:
    """simulate market + news -> score with the shipped model -> signals in a store -> tear sheet -> backtest."""
    from ..backtest.report import backtest_report
    from ..backtest.runner import BacktestConfig, run_backtest
    from ..data.simulate import simulate_market
    from ..encoders.sentiment import SentimentEncoder
    from ..factors.tearsheet import tear_sheet
    from ..signals.pipeline import run_signals
    from ..signals.store import SignalStore
    from .signals import provenance

    t0 = time.perf_counter()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    market = simulate_market(n_assets=config.n_assets, n_sessions=config.n_sessions, seed=config.seed)
    sessions = market.prices.index.get_level_values("date").unique()
    encoder = SentimentEncoder.create(config.backend, config.model_path,
                                      **({"progress": config.progress} if config.backend == "llmos" else {}))
    market.prices.to_parquet(out / "prices.parquet")  # `backtest --prices data/demo/prices.parquet` reuses them
    store_path = out / "signals.duckdb"
    store_path.unlink(missing_ok=True)  # the demo's own throw-away store
    summary = run_signals(market.news, encoder, store_path, sessions[0], sessions[-3], kind="demo",
                          provenance=provenance())
    with SignalStore(store_path, read_only=True) as store:
        signals = store.signals()
    examples = encoder.score(market.news["headline"].head(6)).assign(headline=market.news["headline"].head(6))
    report = tear_sheet(signals["sentiment"], market.prices, out / "tear_sheet.html",
                        title="SYNTHETIC demo: sentiment factor tear sheet", synthetic=True)
    result = run_backtest(market.prices, signals, "long_short", BacktestConfig(commission_bps=10.0, params={"quantiles": 5}))
    backtest_report(result, market.prices, signals, out / "backtest.html", synthetic=True)
    stats = result.stats()
    rows = {
        "data": "SYNTHETIC (llmos_quant.data.simulate)",
        "model": encoder.model_name,
        "headlines scored": summary.scored_new,
        "signal rows": summary.signal_rows,
        "run_id": summary.run_id,
        "rank IC 1D (mean)": float(report.rank_ic_summary.loc["1D", "mean"]),
        "rank IC 1D t-stat": float(report.rank_ic_summary.loc["1D", "t_stat"]),
        "Q5-Q1 spread 1D (bps)": float(report.spread_summary.loc["1D", "mean"] * 1e4),
        "long-short Sharpe (10 bps/side)": stats["sharpe"],
        "long-short total return": stats["total_return"],
        "signal store": str(store_path),
        "prices": str(out / "prices.parquet"),
        "tear sheet": str(out / "tear_sheet.html"),
        "backtest report": str(out / "backtest.html"),
        "wall seconds": round(time.perf_counter() - t0, 1),
    }
    return DemoResult(rows, examples[["headline", "score", "label"]], out)
