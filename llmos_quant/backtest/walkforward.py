"""Walk-forward parameter selection and the deflated Sharpe ratio: strategy optimisation without fooling yourself.

``walk_forward`` takes the daily returns of every parameter combination (one full backtest each, run by
``run_walk_forward``) and, for each fold, picks the combination with the best Sharpe ratio on a rolling in-sample
window of ``in_sample`` sessions and applies it to the next ``out_sample`` sessions. The out-of-sample pieces,
stitched, are the walk-forward equity; the in-sample figures of the same choices sit beside them.

Simplification, stated: the combinations' returns come from continuous backtests over the whole window, so a fold
that switches combination inherits that combination's positions at the fold start, and the switch itself is not
charged a trade. Strategies rebalanced every session hold little state, so this is close to rerunning from flat.

``deflated_sharpe`` is Bailey and López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias,
Backtest Overfitting and Non-Normality": the probability that the true Sharpe ratio exceeds the best one expected
by chance among ``n_trials`` independent tries with the observed variance of the trials' Sharpe ratios,
accounting for the returns' skewness and kurtosis and the track-record length.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import UsageError

EULER_GAMMA = 0.5772156649015329
ANNUAL = 252


def sharpe(returns: pd.Series, annualize: bool = True) -> float:
    r = pd.Series(returns).dropna()
    sd = r.std()
    if len(r) < 2 or not sd > 0:
        return float("nan")
    return float(r.mean() / sd * (math.sqrt(ANNUAL) if annualize else 1.0))


def probabilistic_sharpe(returns: pd.Series, benchmark_sr: float = 0.0) -> float:
    """P(true per-period Sharpe > ``benchmark_sr``) given the sample's length, skewness and kurtosis (PSR)."""
    r = pd.Series(returns).dropna()
    n = len(r)
    sr = sharpe(r, annualize=False)
    if n < 3 or not math.isfinite(sr):
        return float("nan")
    skew = float(stats.skew(r))
    kurt = float(stats.kurtosis(r, fisher=False))  # 3 for a normal
    denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr ** 2
    if denom <= 0:
        return float("nan")
    return float(stats.norm.cdf((sr - benchmark_sr) * math.sqrt(n - 1) / math.sqrt(denom)))


def expected_max_sharpe(trial_sharpes: Sequence[float]) -> float:
    """SR0: the expected maximum of ``len(trial_sharpes)`` per-period Sharpe ratios under the null of no skill,
    ``sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))`` with ``V`` their variance."""
    srs = np.asarray([s for s in trial_sharpes if math.isfinite(s)], dtype=float)
    n = len(srs)
    if n < 2:
        return 0.0
    v = float(srs.var(ddof=1))
    z = stats.norm.ppf
    return math.sqrt(v) * ((1 - EULER_GAMMA) * z(1 - 1 / n) + EULER_GAMMA * z(1 - 1 / (n * math.e)))


def deflated_sharpe(best_returns: pd.Series, trial_sharpes: Sequence[float]) -> float:
    """DSR of the selected strategy's returns among trials with per-period Sharpe ratios ``trial_sharpes``."""
    return probabilistic_sharpe(best_returns, expected_max_sharpe(trial_sharpes))


@dataclass(frozen=True)
class WalkForwardResult:
    """``folds``: one row per fold (windows, chosen parameters, their in-sample and out-of-sample Sharpe);
    ``oos_returns``: the stitched out-of-sample daily returns; ``trials``: every combination's full-window stats;
    ``summary``: stitched out-of-sample vs in-sample figures, the deflated Sharpe ratio and the trial count."""

    folds: pd.DataFrame
    oos_returns: pd.Series
    trials: pd.DataFrame
    summary: dict[str, float]


def walk_forward(returns: Mapping[str, pd.Series], in_sample: int, out_sample: int,
                 params: Mapping[str, Mapping[str, Any]] | None = None) -> WalkForwardResult:
    """Rolling selection over ``returns`` (combination label -> daily returns on the same sessions)."""
    if in_sample < 20 or out_sample < 1:
        raise UsageError(f"--walk-forward {in_sample},{out_sample}: expected in-sample >= 20 sessions and out-of-sample "
                         ">= 1, e.g. --walk-forward 252,63")
    if len(returns) < 2:
        raise UsageError(f"walk-forward needs at least 2 parameter combinations to choose from, got {len(returns)}; "
                         "give --sweep more values")
    frame = pd.DataFrame(dict(returns)).sort_index().fillna(0.0)
    n = len(frame)
    if n < in_sample + out_sample:
        raise UsageError(f"--walk-forward {in_sample},{out_sample} needs at least {in_sample + out_sample} sessions; the "
                         f"backtest has {n} ({frame.index[0].date() if n else '-'}..{frame.index[-1].date() if n else '-'})."
                         " Shorten the windows or widen --start/--end")
    rows, pieces = [], []
    for start in range(in_sample, n, out_sample):
        ins = frame.iloc[start - in_sample:start]
        oos = frame.iloc[start:start + out_sample]
        is_sharpes = ins.apply(sharpe)
        chosen = is_sharpes.fillna(-np.inf).idxmax()
        pieces.append(oos[chosen])
        rows.append({"fold": len(rows) + 1, "is_start": ins.index[0], "is_end": ins.index[-1], "oos_start": oos.index[0],
                     "oos_end": oos.index[-1], "chosen": chosen, **dict((params or {}).get(chosen, {})),
                     "is_sharpe": float(is_sharpes[chosen]), "oos_sharpe": sharpe(oos[chosen]),
                     "oos_return": float((1 + oos[chosen]).prod() - 1)})
    folds = pd.DataFrame(rows)
    oos_returns = pd.concat(pieces).rename("walk_forward_oos")
    trials = pd.DataFrame({"sharpe": frame.apply(sharpe), "sharpe_per_period": frame.apply(sharpe, annualize=False),
                           "total_return": (1 + frame).prod() - 1})
    best = trials["sharpe"].fillna(-np.inf).idxmax()
    in_sample_chosen = pd.concat([frame[c].loc[r.is_start:r.is_end] for r in folds.itertuples() for c in [r.chosen]])
    summary = {
        "trials": float(len(frame.columns)), "folds": float(len(folds)),
        "oos_sessions": float(len(oos_returns)), "oos_sharpe": sharpe(oos_returns),
        "oos_total_return": float((1 + oos_returns).prod() - 1),
        "oos_psr_vs_0": probabilistic_sharpe(oos_returns),
        "mean_is_sharpe_of_chosen": float(folds["is_sharpe"].mean()),
        "is_sharpe_of_chosen_stitched": sharpe(in_sample_chosen),
        "best_full_window_sharpe": float(trials.loc[best, "sharpe"]),
        "best_full_window_deflated_sharpe": deflated_sharpe(frame[best], trials["sharpe_per_period"].tolist()),
        "expected_max_sharpe_of_trials_annual": expected_max_sharpe(trials["sharpe_per_period"].tolist()) * math.sqrt(ANNUAL),
    }
    trials.index.name = "combination"
    return WalkForwardResult(folds=folds, oos_returns=oos_returns, trials=trials.reset_index(), summary=summary)


def combo_label(params: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items())
