"""The financial behaviour suite (CheckList style, Ribeiro et al. 2020): does a sentiment model read basic
financial language right?

``tests/fixtures/behaviour_suite.csv`` holds 160 hand-written sentences, 16 per capability (loss widened/narrowed,
swung to profit/loss, costs and debt up/down, beats/misses expectations, negation, guidance raised/cut, dividends
and buybacks, analyst up/downgrades, legal outcomes, neutral facts), each capability balanced between the two
directions (or all neutral). It is an evaluation set only: nothing trains on it, and ``distill.evaluation_texts``
excludes its sentences from every training corpus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DataNotFoundError, ValidationError

SUITE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "behaviour_suite.csv"
LABELS = ("negative", "neutral", "positive")


def load_behaviour_suite(path: str | Path | None = None) -> pd.DataFrame:
    """Columns ``capability``, ``text``, ``expected`` (negative | neutral | positive)."""
    path = Path(path) if path is not None else SUITE
    if not path.is_file():
        raise DataNotFoundError(f"behaviour suite {path} not found; it ships in the repository's tests/fixtures "
                                "(run from a checkout), or pass its path")
    suite = pd.read_csv(path)
    missing = {"capability", "text", "expected"} - set(suite.columns)
    bad = sorted(set(suite["expected"]) - set(LABELS)) if not missing else []
    if missing or bad:
        raise ValidationError(f"{path}: expected columns capability,text,expected with labels {LABELS}; "
                              f"missing {sorted(missing)}, unknown labels {bad}")
    return suite


def behaviour_report(encoder: Any, suite: pd.DataFrame | None = None) -> dict[str, Any]:
    """Pass rate per capability and overall, plus the failures, for an encoder with ``score(texts)``."""
    suite = load_behaviour_suite() if suite is None else suite
    scored = encoder.score(suite["text"].tolist())
    frame = suite.assign(predicted=scored["label"].to_numpy(), score=scored["score"].to_numpy())
    frame["passed"] = frame["predicted"] == frame["expected"]
    by = frame.groupby("capability", sort=False)["passed"].agg(["mean", "size"])
    return {"overall": float(frame["passed"].mean()), "n": len(frame),
            "by_capability": {k: {"pass_rate": float(v["mean"]), "n": int(v["size"])} for k, v in by.iterrows()},
            "min_capability": float(by["mean"].min()),
            "failures": frame.loc[~frame["passed"], ["capability", "text", "expected", "predicted", "score"]]
            .to_dict(orient="records")}
