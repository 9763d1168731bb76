"""Build Cerebro from a config, run a strategy, and return the results as pandas objects."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from ..data.prices import validate_prices
from ..errors import LLMOSQuantError, MaxLossExceededError, StrategyRuntimeError, UsageError, ValidationError
from .base import FractionalCommission, SignalStrategy
from .feeds import DEFAULT_SIGNAL_LINES, DataIssues, feed_class, prepare_frames
from .resolver import resolve_strategy

log = logging.getLogger(__name__)


ORDER_COLUMNS = ["date", "created", "asset", "side", "size", "price", "commission", "status"]


@dataclass(frozen=True)
class BacktestConfig:
    cash: float = 1_000_000.0
    commission_bps: float = 10.0  # per side, on traded value
    slippage_bps: float = 0.0
    rebalance: str = "daily"
    start: str | None = None
    end: str | None = None
    fractional: bool = False
    band: float = 0.1  # no-trade band as a fraction of the target position (0 = rebalance exactly)
    max_gross_leverage: float = 2.0  # sum of |target weights| a strategy may ask for on any day
    signal_lines: tuple[str, ...] = DEFAULT_SIGNAL_LINES
    params: Mapping[str, Any] = field(default_factory=dict)
    max_loss: float = 0.35  # largest fraction of the window's signal rows that may be dropped (as the tear sheet's)

    def __post_init__(self) -> None:
        if not np.isfinite(self.cash) or self.cash <= 0:
            raise UsageError(f"cash must be a finite amount > 0, got {self.cash}; pass e.g. --cash 1000000")
        if not (np.isfinite(self.commission_bps) and np.isfinite(self.slippage_bps)):
            raise UsageError(f"commission_bps and slippage_bps must be finite, got {self.commission_bps}, {self.slippage_bps}")
        if self.commission_bps < 0 or self.slippage_bps < 0:
            raise UsageError(f"commission_bps and slippage_bps must be >= 0, got {self.commission_bps}, {self.slippage_bps}")
        if self.rebalance not in ("daily", "weekly"):
            raise UsageError(f"rebalance must be 'daily' or 'weekly', got {self.rebalance!r}")
        lev = self.max_gross_leverage
        if isinstance(lev, bool) or not isinstance(lev, int | float) or not np.isfinite(lev) or lev <= 0:
            raise UsageError(f"max_gross_leverage must be a finite number > 0 (sum of |weights|), got {lev!r}; "
                             "pass e.g. 2.0 with --max-leverage or BacktestConfig(max_gross_leverage=2.0)")
        ml = self.max_loss
        if isinstance(ml, bool) or not isinstance(ml, int | float) or not 0 <= ml <= 1:
            raise UsageError(f"max_loss must be a fraction between 0 and 1, got {ml!r}; e.g. --max-loss 0.35 (the "
                             "default) or --max-loss 1 to accept any loss")


@dataclass
class BacktestResult:
    strategy: str
    config: BacktestConfig
    returns: pd.Series  # daily portfolio returns (close to close of portfolio value)
    equity: pd.Series
    benchmark: pd.Series  # equal-weight universe daily returns
    positions: pd.DataFrame  # date, asset, size, value
    trades: pd.DataFrame
    orders: pd.DataFrame
    analyzers: dict[str, Any]
    data_issues: DataIssues = field(default_factory=DataIssues)  # signal rows / assets without prices, filled bars

    def stats(self) -> dict[str, float]:
        r = self.returns.dropna()
        ann = np.sqrt(252)
        dd = self.equity / self.equity.cummax() - 1
        return {
            "total_return": float(self.equity.iloc[-1] / self.config.cash - 1) if len(self.equity) else np.nan,
            "annual_return": float((1 + r).prod() ** (252 / max(len(r), 1)) - 1),
            "annual_vol": float(r.std() * ann),
            "sharpe": float(r.mean() / r.std() * ann) if r.std() > 0 else np.nan,
            "max_drawdown": float(dd.min()) if len(dd) else np.nan,
            "trades": int(len(self.trades)),
            "orders": int(len(self.orders)),
            "benchmark_total_return": float((1 + self.benchmark.fillna(0)).prod() - 1),
        }


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if hasattr(obj, "items"):
        return {str(k): _plain(v) for k, v in obj.items()}
    return obj


def build_cerebro(frames: Mapping[str, pd.DataFrame], strategy: type[SignalStrategy], config: BacktestConfig) -> bt.Cerebro:
    cerebro = bt.Cerebro(stdstats=False, runonce=True, preload=True, cheat_on_open=True)
    cls = feed_class(config.signal_lines)
    for asset, frame in frames.items():
        cerebro.adddata(cls(dataname=frame, name=asset), name=asset)
    cerebro.broker.setcash(config.cash)
    cerebro.broker.addcommissioninfo(FractionalCommission(commission=config.commission_bps / 1e4))
    if config.slippage_bps:
        cerebro.broker.set_slippage_perc(config.slippage_bps / 1e4)
    cerebro.broker.set_checksubmit(False)
    cerebro.addstrategy(strategy, rebalance=config.rebalance, fractional=config.fractional,
                        cost_rate=(config.commission_bps + config.slippage_bps) / 1e4, band=config.band,
                        max_gross_leverage=config.max_gross_leverage, signal_lines=config.signal_lines,
                        **dict(config.params))
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="time_return", timeframe=bt.TimeFrame.Days)
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe", timeframe=bt.TimeFrame.Days, annualize=True,
                        riskfreerate=0.0)
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="drawdown")
    cerebro.addanalyzer(bt.analyzers.Returns, _name="returns", tann=252)
    return cerebro


def run_backtest(prices: pd.DataFrame, signals: pd.DataFrame | None, strategy: str | type[SignalStrategy],
                 config: BacktestConfig | None = None, strategy_paths: Sequence[str] = ()) -> BacktestResult:
    """Run one backtest. ``strategy`` is a class or a name resolved from ``strategies/``.

    The universe is every asset with prices in the window. Signal rows of assets without prices (and rows
    dated off the price calendar) are dropped, counted in ``result.data_issues`` and logged; when none of the
    signals' assets has prices, ``ValidationError``. Errors raised by the strategy (e.g. the leverage
    check) reach the caller unchanged.
    """
    config = config or BacktestConfig()
    prices = validate_prices(prices)
    cls = resolve_strategy(strategy, strategy_paths) if isinstance(strategy, str) else strategy
    check_params(cls, config.params)
    column = {**strategy_params(cls), **config.params}.get("signal")
    if isinstance(column, str) and column not in config.signal_lines:
        raise UsageError(f"--param signal={column!r}: strategy {cls.__name__} reads the signal column {column!r}, which "
                         f"is not among the signal lines fed to it {list(config.signal_lines)}; pick one of them")
    frames, issues = prepare_frames(prices, signals, config.signal_lines, start=config.start, end=config.end)
    _check_issues(issues, frames, config)
    cerebro = build_cerebro(frames, cls, config)
    try:
        strat = cerebro.run()[0]
    except LLMOSQuantError:
        raise
    except Exception as exc:  # an error inside the strategy's code, often from a --param value it cannot use
        raise StrategyRuntimeError(
            f"strategy {cls.__name__} failed while running with params {dict(config.params)}: {type(exc).__name__}: "
            f"{exc}. Check the --param values (defaults: {strategy_params(cls)}) or the strategy's code") from exc
    tr = pd.Series(strat.analyzers.time_return.get_analysis(), dtype=float)
    tr.index = pd.DatetimeIndex(tr.index, name="date")
    values = pd.DataFrame(strat.value_log).set_index("date")["value"] if strat.value_log else pd.Series(dtype=float)
    close = pd.DataFrame({a: f["close"].where(f["tradable"] > 0) for a, f in frames.items()})
    bench = close.pct_change(fill_method=None).mean(axis=1).rename("benchmark")
    analyzers = {
        "sharpe": _plain(strat.analyzers.sharpe.get_analysis()),
        "drawdown": _plain(strat.analyzers.drawdown.get_analysis()),
        "returns": _plain(strat.analyzers.returns.get_analysis()),
    }
    trades = pd.DataFrame(strat.trade_log, columns=["opened", "closed", "asset", "pnl", "pnl_net", "bars"])
    analyzers["trades"] = trade_stats(trades)
    return BacktestResult(
        strategy=cls.__name__, config=config, returns=tr.rename("returns"), equity=values.rename("equity"),
        benchmark=bench.reindex(tr.index),
        positions=pd.DataFrame(strat.position_log, columns=["date", "asset", "size", "value"]),
        trades=trades,
        orders=pd.DataFrame(strat.order_log, columns=ORDER_COLUMNS),
        analyzers=analyzers, data_issues=issues,
    )


def _check_issues(issues: DataIssues, frames: Mapping[str, pd.DataFrame], config: BacktestConfig) -> None:
    """Log what the feeds leave out; ``ValidationError`` when no signal asset has prices."""
    window = f"{config.start or 'start'}..{config.end or 'end'}"
    if issues.signal_rows and issues.signal_rows_without_prices == issues.signal_rows:
        sample = sorted(frames)[:10]
        raise ValidationError(
            f"none of the {len(issues.assets_without_prices)} signal assets has prices in the window {window} "
            f"(signal assets e.g. {list(issues.assets_without_prices[:10])}; priced assets e.g. {sample}); expected "
            "prices for at least one asset of the signals. Load prices for the signals' tickers, or check the "
            "--start/--end window and the ticker spelling")
    if issues.signal_rows_without_prices:
        log.warning("%d of %d signal rows dropped: %d asset(s) have no prices in the window %s, e.g. %s",
                    issues.signal_rows_without_prices, issues.signal_rows, len(issues.assets_without_prices), window,
                    list(issues.assets_without_prices[:10]))
    if issues.signal_rows_off_calendar:
        log.warning("%d of %d signal rows dropped: dated on days that are not price sessions in the window %s",
                    issues.signal_rows_off_calendar, issues.signal_rows, window)
    if issues.signal_rows_on_missing_bars:
        log.info("%d signal rows fall on bars without a price (tradable=0; never traded)", issues.signal_rows_on_missing_bars)
    lost = issues.signal_rows_dropped / issues.signal_rows if issues.signal_rows else 0.0
    if lost > config.max_loss:
        suggestion = min(1.0, np.ceil(lost * 100) / 100)
        raise MaxLossExceededError(
            f"the backtest would drop {issues.signal_rows_dropped:,} of the {issues.signal_rows:,} signal rows in the "
            f"window {window} ({lost:.1%}), above max_loss={config.max_loss:g}: {issues.signal_rows_without_prices:,} "
            f"belong to assets without prices, {issues.signal_rows_off_calendar:,} are dated on days that are not price "
            "sessions. Check that the prices cover the signals' assets and dates, or accept the loss with "
            f"--max-loss {suggestion:g} (1 turns the check off)")


def strategy_params(cls: type[SignalStrategy]) -> dict[str, Any]:
    """The strategy's own parameters and their defaults (the runner's machinery parameters left out)."""
    base = set(SignalStrategy.params._getkeys())
    return {k: v for k, v in zip(cls.params._getkeys(), cls.params._getdefaults(), strict=True) if k not in base}


def check_params(cls: type[SignalStrategy], params: Mapping[str, Any]) -> None:
    """Unknown parameter names and values of the wrong type are usage errors that name the valid ones."""
    valid = strategy_params(cls)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise UsageError(f"strategy {cls.__name__} has no parameter {unknown}; its parameters (defaults) are {valid}. "
                         "Fix --param/--sweep")
    for key, value in params.items():
        default = valid[key]
        if isinstance(default, int | float) and not isinstance(default, bool) and (
                isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value)):
            raise UsageError(f"--param {key}={value!r}: strategy {cls.__name__} expects a finite number like its default "
                             f"{default!r}")
    problem = cls.check_param_values({**valid, **params})
    if problem:
        raise UsageError(f"strategy {cls.__name__}: {problem}. Fix --param/--sweep")


def trade_stats(trades: pd.DataFrame) -> dict[str, float]:
    """Closed-trade statistics (Backtrader's TradeAnalyzer totals, computed from the trade log)."""
    if trades.empty:
        return {"closed": 0}
    won = trades["pnl_net"] > 0
    return {"closed": int(len(trades)), "won": int(won.sum()), "lost": int((~won).sum()),
            "win_rate": float(won.mean()), "pnl_net_total": float(trades["pnl_net"].sum()),
            "pnl_net_mean": float(trades["pnl_net"].mean()), "avg_bars": float(trades["bars"].mean()),
            "best": float(trades["pnl_net"].max()), "worst": float(trades["pnl_net"].min())}


def _sweep_one(args: tuple[pd.DataFrame, pd.DataFrame | None, str, BacktestConfig, tuple[str, ...]]) -> dict[str, Any]:
    prices, signals, strategy, config, paths = args
    res = run_backtest(prices, signals, strategy, config, paths)
    return {**dict(config.params), **res.stats(), "_returns": res.returns}


def run_sweep(prices: pd.DataFrame, signals: pd.DataFrame | None, strategy: str, grid: Mapping[str, Sequence[Any]],
              config: BacktestConfig | None = None, workers: int = 2, strategy_paths: Sequence[str] = ()) -> pd.DataFrame:
    """Run every combination of ``grid`` (strategy params) in parallel processes; one stats row each."""
    return sweep_with_returns(prices, signals, strategy, grid, config, workers, strategy_paths).table


@dataclass(frozen=True)
class SweepResult:
    """One stats row per combination (``table``) and each combination's daily returns, keyed by its label."""

    table: pd.DataFrame
    returns: dict[str, pd.Series]
    params: dict[str, dict[str, Any]]


def sweep_with_returns(prices: pd.DataFrame, signals: pd.DataFrame | None, strategy: str,
                       grid: Mapping[str, Sequence[Any]], config: BacktestConfig | None = None, workers: int = 2,
                       strategy_paths: Sequence[str] = ()) -> SweepResult:
    """``run_sweep`` that also keeps every combination's daily returns (for walk-forward selection)."""
    config = config or BacktestConfig()
    keys = list(grid)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]
    if not combos:
        raise UsageError("the parameter grid is empty")
    jobs = [(prices, signals, strategy, replace(config, params={**dict(config.params), **c}), tuple(strategy_paths))
            for c in combos]
    if workers <= 1:
        rows = [_sweep_one(j) for j in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(_sweep_one, jobs))
    labels = [",".join(f"{k}={v}" for k, v in c.items()) for c in combos]
    returns = {label: row.pop("_returns") for label, row in zip(labels, rows, strict=True)}
    return SweepResult(table=pd.DataFrame(rows), returns=returns, params=dict(zip(labels, combos, strict=True)))


def config_dict(config: BacktestConfig) -> dict[str, Any]:
    d = asdict(config)
    d["params"] = dict(config.params)
    return d
