"""The financial behaviour suite: its shape, its scoring, and that no training corpus can contain it."""

from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.encoders.behaviour import behaviour_report, load_behaviour_suite
from llmos_quant.errors import DataNotFoundError, ValidationError

CAPABILITIES = {"loss_widened_narrowed", "swung_profit_loss", "costs_debt", "expectations", "negation", "guidance",
                "dividends_buybacks", "analyst", "legal", "neutral"}


def test_suite_covers_every_capability_in_both_directions():
    suite = load_behaviour_suite()
    assert len(suite) >= 150 and set(suite["capability"]) == CAPABILITIES
    assert not suite["text"].duplicated().any()
    counts = suite.groupby("capability")["expected"].value_counts().unstack(fill_value=0)
    directional = counts.drop(index="neutral")
    assert (directional["positive"] == directional["negative"]).all() and (directional["positive"] >= 8).all()
    assert counts.loc["neutral", "neutral"] >= 15


def test_report_per_capability_on_a_baseline():
    from llmos_quant.encoders.sentiment import SentimentEncoder

    rep = behaviour_report(SentimentEncoder.create("vader"))
    assert set(rep["by_capability"]) == CAPABILITIES and rep["n"] == len(load_behaviour_suite())
    assert 0 <= rep["min_capability"] <= rep["overall"] <= 1
    assert len(rep["failures"]) == round((1 - rep["overall"]) * rep["n"])


def test_bad_suite_files_are_refused(tmp_path):
    with pytest.raises(DataNotFoundError, match="not found"):
        load_behaviour_suite(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"capability": ["x"], "text": ["t"], "expected": ["bullish"]}).to_csv(bad, index=False)
    with pytest.raises(ValidationError, match="bullish"):
        load_behaviour_suite(bad)


@pytest.mark.data
def test_training_corpora_exclude_the_suite(shared_data):
    from llmos_quant.encoders.distill import _norm, evaluation_texts

    excluded = evaluation_texts()
    assert all(_norm(t) in excluded for t in load_behaviour_suite()["text"])
