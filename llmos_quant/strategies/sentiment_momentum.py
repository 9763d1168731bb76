"""Momentum filtered by sentiment: long the strongest recent performers whose news is not negative."""

from __future__ import annotations

import pandas as pd

from llmos_quant.backtest.base import SignalStrategy


class SentimentMomentum(SignalStrategy):
    """Rank assets by ``lookback``-session return; among the top ``top_n``, keep those whose sentiment is
    at least ``min_sentiment`` (assets without any news yet count as 0); equal weight, long only."""

    interface_version = 1
    params = (("lookback", 20), ("top_n", 10), ("min_sentiment", 0.0))

    @classmethod
    def check_param_values(cls, values: dict) -> str | None:
        for name in ("lookback", "top_n"):
            if not (float(values[name]).is_integer() and values[name] >= 1):
                return f"{name}={values[name]!r}: expected a whole number >= 1"
        return None

    def target_weights(self, snapshot: pd.DataFrame) -> dict[str, float]:
        closes = self.history(self.p.lookback + 1)
        if closes.iloc[0].isna().all():
            return {}
        momentum = (closes.iloc[-1] / closes.iloc[0] - 1).dropna()
        momentum = momentum[snapshot.loc[momentum.index, "tradable"] > 0]
        top = momentum.sort_values(ascending=False, kind="stable").index[: self.p.top_n]
        sentiment = snapshot.loc[top, "sentiment"].fillna(0.0)
        chosen = sentiment.index[sentiment >= self.p.min_sentiment]
        return {a: 1.0 / len(chosen) for a in chosen} if len(chosen) else {}
