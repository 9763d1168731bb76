"""Movement metrics for tweet-style studies (StockNet, Xu & Cohen 2018): direction accuracy and the Matthews
correlation coefficient (MCC) of a signal's sign against the sign of the next session's close-to-close return.

- The signal dated D (news before D's cutoff) is compared with ``close[D+1] / close[D] - 1`` (the next session's
  close-to-close return).
- StockNet's threshold filter drops small moves: a return ``r`` is "down" when ``r <= -0.005``, "up" when
  ``r > 0.0055``, and the rows in between are removed (``down=-0.005``, ``up=0.0055``).
- A positive signal predicts up, a negative one down; zero or missing signals make no prediction and are
  dropped (counted).
- Every result carries the majority-class baseline of the same filtered sample: the accuracy of always
  predicting its more frequent class (its MCC is 0 by definition), so an accuracy of 0.53 on a sample that is
  54% "up" reads as no skill.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data.prices import validate_prices
from ..errors import UsageError, ValidationError
from ..signals.aggregate import validate_signals
from .evaluate import to_wide

STOCKNET_DOWN = -0.005
STOCKNET_UP = 0.0055


def next_day_returns(prices: pd.DataFrame) -> pd.Series:
    """(date, asset) next-session close-to-close return of each date: ``close[D+1] / close[D] - 1``."""
    close = to_wide(validate_prices(prices)["close"])
    nxt = (close.shift(-1) / close - 1.0).stack(future_stack=True)
    nxt.index = nxt.index.set_names(["date", "asset"])
    return nxt.rename("next_return")


def mcc(tp: int, tn: int, fp: int, fn: int) -> float:
    """Matthews correlation coefficient from a 2x2 confusion matrix; 0 when a marginal is empty (sklearn's rule)."""
    den = float(tp + fp) * float(tp + fn) * float(tn + fp) * float(tn + fn)
    return float((tp * tn - fp * fn) / np.sqrt(den)) if den > 0 else 0.0


@dataclass(frozen=True)
class MovementResult:
    """Direction accuracy and MCC of a signal vs next-session moves, beside the majority-class baseline.

    ``n``: rows scored (after the threshold and with a prediction); ``n_up``/``n_down``: actual classes;
    ``tp``/``tn``/``fp``/``fn``: confusion counts with "up" as the positive class; ``dropped_*``: rows removed
    by the threshold filter, for want of a non-zero signal, or for want of a next-session return."""

    n: int
    accuracy: float
    mcc: float
    baseline_accuracy: float
    baseline_mcc: float
    majority_class: str
    n_up: int
    n_down: int
    tp: int
    tn: int
    fp: int
    fn: int
    dropped_threshold: int
    dropped_no_signal: int
    dropped_no_return: int
    down: float = STOCKNET_DOWN
    up: float = STOCKNET_UP

    @property
    def accuracy_lift(self) -> float:
        return self.accuracy - self.baseline_accuracy

    def confusion(self) -> pd.DataFrame:
        """2x2 counts: rows the actual class, columns the predicted class."""
        return pd.DataFrame([[self.tp, self.fn], [self.fp, self.tn]],
                            index=pd.Index(["up", "down"], name="actual"),
                            columns=pd.Index(["up", "down"], name="predicted"))

    def table(self) -> pd.DataFrame:
        """Accuracy and MCC of the signal and of the majority-class baseline on the same rows."""
        return pd.DataFrame({"accuracy": [self.accuracy, self.baseline_accuracy], "mcc": [self.mcc, self.baseline_mcc],
                             "n": [self.n, self.n]},
                            index=pd.Index(["signal", f"majority ({self.majority_class})"], name="model"))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"accuracy_lift": self.accuracy_lift}


def movement_scores(signal: pd.Series, returns: pd.Series, down: float = STOCKNET_DOWN,
                    up: float = STOCKNET_UP) -> MovementResult:
    """Accuracy and MCC of ``sign(signal)`` vs the class of ``returns`` (same index; the return the signal
    predicts), with the threshold filter (keep ``r <= down`` as down, ``r > up`` as up)."""
    if not down <= up:
        raise UsageError(f"need down <= up, got down={down}, up={up}")
    sig = pd.Series(signal, dtype=float)
    ret = pd.Series(returns, dtype=float).reindex(sig.index)
    has_ret = np.isfinite(ret.to_numpy())
    s = sig.to_numpy()
    has_sig = np.isfinite(s) & (s != 0)
    r = ret.to_numpy()
    with np.errstate(invalid="ignore"):
        is_up, is_down = r > up, r <= down
    moved = is_up | is_down
    dropped_no_return = int((~has_ret).sum())
    dropped_threshold = int((has_ret & ~moved).sum())
    dropped_no_signal = int((has_ret & moved & ~has_sig).sum())
    keep = has_ret & moved & has_sig
    actual_up = is_up[keep]
    pred_up = s[keep] > 0
    n = int(keep.sum())
    tp = int((actual_up & pred_up).sum())
    tn = int((~actual_up & ~pred_up).sum())
    fp = int((~actual_up & pred_up).sum())
    fn = int((actual_up & ~pred_up).sum())
    n_up, n_down = int(actual_up.sum()), int((~actual_up).sum())
    if n == 0:
        raise ValidationError(f"no row left to score: {dropped_no_return} without a return, {dropped_threshold} inside "
                              f"the threshold band ({down:g}, {up:g}], {dropped_no_signal} without a non-zero signal")
    return MovementResult(n=n, accuracy=(tp + tn) / n, mcc=mcc(tp, tn, fp, fn),
                          baseline_accuracy=max(n_up, n_down) / n, baseline_mcc=0.0,
                          majority_class="up" if n_up >= n_down else "down", n_up=n_up, n_down=n_down,
                          tp=tp, tn=tn, fp=fp, fn=fn, dropped_threshold=dropped_threshold,
                          dropped_no_signal=dropped_no_signal, dropped_no_return=dropped_no_return, down=down, up=up)


def movement_metrics(signal: pd.Series | pd.DataFrame, prices: pd.DataFrame, column: str = "sentiment",
                     down: float = STOCKNET_DOWN, up: float = STOCKNET_UP) -> MovementResult:
    """``movement_scores`` of a (date, asset) signal (a Series, or ``column`` of a signals frame) against the
    next session's close-to-close return from ``prices``. Signal rows on dates that are not sessions, or whose
    next session is not in the prices, count as ``dropped_no_return``."""
    if isinstance(signal, pd.DataFrame):
        signal = validate_signals(signal, columns=(column,))[column]
    signal = validate_signals(signal, name="signal")
    return movement_scores(signal, next_day_returns(prices), down, up)
