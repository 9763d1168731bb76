"""Cross-sectional long-short on a signal: long the top quantile, short the bottom quantile."""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmos_quant.backtest.base import SignalStrategy


class LongShort(SignalStrategy):
    """Each rebalance: rank assets with a signal; long the top ``1/quantiles``, short the bottom.

    ``weighting``: ``equal`` (each leg gross/2 split equally) or ``signal`` (weights proportional to the
    demeaned signal, gross ``gross``: the factor pipeline's factor-weighted portfolio when quantiles=1).
    ``quantiles=1`` with ``weighting='signal'`` holds every asset with a signal.
    """

    interface_version = 1
    params = (("signal", "sentiment"), ("quantiles", 5), ("weighting", "equal"), ("gross", 1.0),
              ("min_assets", 4))

    @classmethod
    def check_param_values(cls, values: dict) -> str | None:
        q, w = values["quantiles"], values["weighting"]
        if w not in ("equal", "signal"):
            return f"weighting={w!r}: expected 'equal' or 'signal'"
        if not (float(q).is_integer() and q >= 1):
            return f"quantiles={q!r}: expected a whole number >= 1"
        if w == "equal" and q < 2:
            return f"quantiles={q!r} with weighting='equal': expected >= 2 (one bucket is both legs); use 5, or " \
                   "weighting='signal' to hold every asset"
        if not values["gross"] > 0:
            return f"gross={values['gross']!r}: expected a gross exposure > 0, e.g. 1.0"
        if not (float(values["min_assets"]).is_integer() and values["min_assets"] >= 1):
            return f"min_assets={values['min_assets']!r}: expected a whole number >= 1"
        return None

    def target_weights(self, snapshot: pd.DataFrame) -> dict[str, float]:
        s = snapshot.loc[snapshot["tradable"] > 0, self.p.signal].dropna()
        if len(s) < self.p.min_assets:
            return {}
        if self.p.weighting == "signal":
            if self.p.quantiles > 1:
                q = pd.qcut(s.rank(method="first"), self.p.quantiles, labels=False)
                s = s[(q == 0) | (q == self.p.quantiles - 1)]
            d = s - s.mean()
            denom = d.abs().sum()
            return (d / denom * self.p.gross).to_dict() if denom > 0 else {}
        if self.p.weighting != "equal":
            raise ValueError(f"weighting must be 'equal' or 'signal', got {self.p.weighting!r}")
        n = max(1, int(np.floor(len(s) / self.p.quantiles)))
        ordered = s.sort_values(kind="stable")
        shorts, longs = ordered.index[:n], ordered.index[-n:]
        w = {a: self.p.gross / 2 / n for a in longs}
        w.update({a: -self.p.gross / 2 / n for a in shorts})
        return w
