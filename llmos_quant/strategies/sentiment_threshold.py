"""Long/flat on sentiment: hold (equal weight) every asset whose sentiment is above ``threshold``."""

from __future__ import annotations

import pandas as pd

from llmos_quant.backtest.base import SignalStrategy


class SentimentThreshold(SignalStrategy):
    """Long assets with ``sentiment > threshold`` (and at least ``min_news`` news that day when > 0),
    equal weight with gross exposure ``gross``; flat otherwise."""

    interface_version = 1
    params = (("threshold", 0.2), ("min_news", 0), ("gross", 1.0))

    @classmethod
    def check_param_values(cls, values: dict) -> str | None:
        if not values["gross"] > 0:
            return f"gross={values['gross']!r}: expected a gross exposure > 0, e.g. 1.0"
        if values["min_news"] < 0:
            return f"min_news={values['min_news']!r}: expected a count >= 0"
        return None

    def target_weights(self, snapshot: pd.DataFrame) -> dict[str, float]:
        ok = (snapshot["tradable"] > 0) & (snapshot["sentiment"] > self.p.threshold)
        if self.p.min_news > 0:
            ok &= snapshot["news_count"] >= self.p.min_news
        chosen = snapshot.index[ok.fillna(False)]
        return {a: self.p.gross / len(chosen) for a in chosen} if len(chosen) else {}
