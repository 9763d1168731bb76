"""Template: copy to strategies/<your_name>.py, rename the class, implement target_weights.

One SignalStrategy subclass per file. The resolver finds it by file stem or class name:
    llmos-quant backtest --strategy <your_name> --signals ... --param threshold=0.2
"""

from __future__ import annotations

import pandas as pd

from llmos_quant.backtest.base import SignalStrategy


class MyStrategy(SignalStrategy):
    """Describe the rule here: what it buys, what it sells, when."""

    interface_version = 1
    params = (("threshold", 0.0),)  # Backtrader params; overridable with --param k=v

    @classmethod
    def check_param_values(cls, values: dict) -> str | None:
        # optional: say what is wrong with a value before the run (a usage error, exit 2); None when all is fine
        return None if -1.0 <= values["threshold"] <= 1.0 else f"threshold={values['threshold']!r}: expected -1..1"

    def target_weights(self, snapshot: pd.DataFrame) -> dict[str, float]:
        # snapshot: one row per asset: open, high, low, close, volume, tradable, sentiment, news_count, surprise
        chosen = snapshot[(snapshot["tradable"] > 0) & (snapshot["sentiment"] > self.p.threshold)]
        return {asset: 1.0 / len(chosen) for asset in chosen.index} if len(chosen) else {}
