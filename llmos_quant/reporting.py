"""Small text-report helpers (markdown tables) used by the CLI, benchmarks and the study."""

from __future__ import annotations

import numpy as np
import pandas as pd


def markdown_table(frame: pd.DataFrame, digits: int = 4, index: bool = True) -> str:
    """A GitHub-flavoured markdown table of ``frame`` (floats rounded to ``digits``)."""
    shown = frame.reset_index() if index else frame

    def fmt(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    head = "| " + " | ".join(str(c) for c in shown.columns) + " |"
    sep = "|" + "|".join("---" for _ in shown.columns) + "|"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([head, sep, *rows])
