"""The base class every strategy in ``strategies/`` builds on.

Interface (version ``INTERFACE_VERSION``):

- subclass ``SignalStrategy`` and implement ``target_weights(self, snapshot) -> dict[asset, weight]``;
  ``snapshot`` is a DataFrame indexed by asset with the current bar's ``open, high, low, close, volume,
  tradable`` and signal columns (``sentiment``, ``news_count``, ``surprise``), plus ``history(n)``
  for the last ``n`` closes as a (n x assets) frame;
- weights are fractions of portfolio value (negative = short); assets left out are closed; every weight
  must be a finite number and the gross leverage sum |w| at most ``max_gross_leverage`` (default 2.0),
  else ``ValidationError`` stops the run;
- ``params`` are Backtrader params; the runner fills ``rebalance`` ('daily' or 'weekly'),
  ``fractional`` (fractional shares, for cross-checks), ``cost_rate`` (commission + slippage rate, kept
  aside when sizing so that fills never exceed the book), ``band`` (no-trade band: a held position within
  ``band`` x its target size, same side, is left alone; 0 rebalances exactly), ``max_gross_leverage`` and
  ``signal_lines``.

Timing: the decision for signal date D is taken at D+1's open (Backtrader's cheat-on-open hook), from a
snapshot of bar D only (D's prices and D's signal, i.e. news before D's cutoff); orders are sized at
D+1's open price and filled at it. Nothing of bar D+1 but its open is visible to ``target_weights``.
Bars with ``tradable == 0`` (missing data) are never traded.
"""

from __future__ import annotations

from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from ..errors import UsageError, ValidationError

INTERFACE_VERSION = 1


class FractionalCommission(bt.CommInfoBase):
    """Percentage commission on traded value, allowing fractional share sizes."""

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_PERC), ("percabs", True))

    def getsize(self, price: float, cash: float) -> float:
        return self.p.leverage * (cash / price)


class SignalStrategy(bt.Strategy):
    """Rebalances to ``target_weights`` on each rebalance day; records orders and trades as rows."""

    interface_version = INTERFACE_VERSION
    params: Any = (("rebalance", "daily"), ("fractional", False), ("cost_rate", 0.0), ("band", 0.1),
                   ("max_gross_leverage", 2.0), ("signal_lines", ("sentiment", "news_count", "surprise")))

    def __init__(self) -> None:
        if self.p.rebalance not in ("daily", "weekly"):
            raise ValueError(f"rebalance must be 'daily' or 'weekly', got {self.p.rebalance!r}")
        limit = self.p.max_gross_leverage
        if not isinstance(limit, int | float) or not np.isfinite(limit) or limit <= 0:
            raise UsageError(f"max_gross_leverage must be a finite number > 0, got {limit!r}; pass e.g. 2.0 "
                             "(--max-leverage / BacktestConfig(max_gross_leverage=...))")
        self.order_log: list[dict[str, Any]] = []
        self.trade_log: list[dict[str, Any]] = []
        self.position_log: list[dict[str, Any]] = []
        self.value_log: list[dict[str, Any]] = []
        self._last_week: int | None = None
        self.by_name = {d._name: d for d in self.datas}

    @classmethod
    def check_param_values(cls, values: dict[str, Any]) -> str | None:
        """Optional: what is wrong with these parameter values (the defaults merged with ``--param``), or None.
        Called before the run, so a value the strategy cannot use is a usage error (exit 2) naming the fix, not a
        crash or a silently different strategy."""
        return None

    # ---- to implement -------------------------------------------------------------------------
    def target_weights(self, snapshot: pd.DataFrame) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError("strategies implement target_weights(snapshot) -> {asset: weight}")

    # ---- helpers for subclasses ---------------------------------------------------------------
    def snapshot(self) -> pd.DataFrame:
        """Bar D (the signal date) for every asset: prices, ``tradable`` and signal lines."""
        cols = ["open", "high", "low", "close", "volume", "tradable", *self.p.signal_lines]
        rows = {d._name: [getattr(d.lines, c)[-1] for c in cols] for d in self.datas}
        return pd.DataFrame.from_dict(rows, orient="index", columns=cols)

    def history(self, n: int, field: str = "close") -> pd.DataFrame:
        """Last ``n`` values of a line up to bar D for every asset (oldest first); NaN where shorter."""
        out = {}
        for d in self.datas:
            line = getattr(d.lines, field)
            k = min(n, len(d) - 1)
            vals = np.asarray(line.get(ago=-1, size=k), dtype=float) if k > 0 else np.array([])
            out[d._name] = np.concatenate([np.full(n - len(vals), np.nan), vals])
        return pd.DataFrame(out)

    # ---- machinery ----------------------------------------------------------------------------
    def checked_weights(self, weights: dict[str, float]) -> dict[str, float]:
        """``target_weights``' answer as floats, or ``ValidationError`` for unknown assets, non-finite weights
        and gross leverage above ``max_gross_leverage`` (named with the signal date)."""
        name = type(self).__name__
        day = self.datas[0].datetime.date(-1)  # signal date D (the orders go out at D+1's open)
        unknown = set(weights) - set(self.by_name)
        if unknown:
            raise ValidationError(
                f"{name}.target_weights returned unknown assets {sorted(map(str, unknown))[:5]} for signal date {day}; "
                f"expected assets of the feeds ({len(self.by_name)} assets, e.g. {sorted(self.by_name)[:5]}). "
                "Return weights only for assets in the snapshot's index")
        out: dict[str, float] = {}
        for asset, w in weights.items():
            try:
                value = float(w)
            except (TypeError, ValueError):
                value = float("nan")
            if not np.isfinite(value):
                raise ValidationError(
                    f"{name}.target_weights returned weight {w!r} for {asset} on signal date {day}; expected a finite "
                    "number (fraction of portfolio value). Leave the asset out (or return 0.0) to hold no position, "
                    "e.g. drop NaN signals with snapshot[...].dropna() before computing weights")
            out[asset] = value
        gross = float(sum(abs(v) for v in out.values()))
        limit = float(self.p.max_gross_leverage)
        if gross > limit * (1 + 1e-9):
            raise ValidationError(
                f"{name}.target_weights on signal date {day} asks for gross leverage {gross:.4g} (sum of |weights|), "
                f"above the limit max_gross_leverage={limit:g}; expected sum |w| <= {limit:g}. Scale the weights down "
                "(e.g. the strategy's gross param), or raise the limit with --max-leverage / "
                "BacktestConfig(max_gross_leverage=...)")
        return out

    def _is_rebalance_day(self) -> bool:
        if self.p.rebalance == "daily":
            return True
        week = self.datas[0].datetime.date(-1).isocalendar()[1]
        if week != self._last_week:
            self._last_week = week
            return True
        return False

    def next(self) -> None:
        """After bar D's close: record value and positions (marked at the close)."""
        dt = self.datas[0].datetime.date(0)
        value = self.broker.getvalue()
        self.value_log.append({"date": pd.Timestamp(dt), "value": value, "cash": self.broker.getcash()})
        for d in self.datas:
            size = self.getposition(d).size
            if size:
                self.position_log.append({"date": pd.Timestamp(dt), "asset": d._name, "size": size,
                                          "value": size * d.close[0]})

    def next_open(self) -> None:
        """At bar D+1's open: decide on bar D and send orders sized at this open."""
        if len(self.datas[0]) < 2 or not self._is_rebalance_day():
            return
        # Book value marked at this open (the prices the orders will fill at), less room for costs.
        marked = self.broker.getcash() + sum(self.getposition(d).size * d.open[0] for d in self.datas)
        value = marked / (1.0 + self.p.cost_rate)
        snap = self.snapshot()
        weights = self.checked_weights(self.target_weights(snap) or {})
        for d in self.datas:
            if d.tradable[0] < 0.5 or d.tradable[-1] < 0.5:
                continue
            target = weights.get(d._name, 0.0)
            if not np.isfinite(d.open[0]) or d.open[0] <= 0:
                continue
            size = target * value / d.open[0]
            if not self.p.fractional:
                size = float(int(size))
            current = self.getposition(d).size
            if current and size and np.sign(current) == np.sign(size) and abs(size - current) <= self.p.band * abs(size):
                continue  # inside the no-trade band: skip small drift trades
            if abs(size - current) > 1e-9:
                self.order_target_size(data=d, target=size)

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Completed, order.Canceled, order.Margin, order.Rejected):
            self.order_log.append({
                "date": pd.Timestamp(bt.num2date(order.executed.dt)) if order.executed.dt else pd.NaT,
                "created": pd.Timestamp(bt.num2date(order.created.dt)), "asset": order.data._name,
                "side": "buy" if order.isbuy() else "sell", "size": order.executed.size,
                "price": order.executed.price, "commission": order.executed.comm, "status": order.getstatusname(),
            })

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.isclosed:
            self.trade_log.append({
                "opened": pd.Timestamp(bt.num2date(trade.dtopen)), "closed": pd.Timestamp(bt.num2date(trade.dtclose)),
                "asset": trade.data._name, "pnl": trade.pnl, "pnl_net": trade.pnlcomm, "bars": trade.barlen,
            })
