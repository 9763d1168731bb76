from __future__ import annotations

import pytest

from llmos_quant.errors import UsageError
from llmos_quant.factors.evaluate import evaluate_factor
from llmos_quant.study import run_study, write_study_md


def test_study_refuses_held_out_period(tmp_path):
    with pytest.raises(UsageError, match="held out"):
        run_study(tmp_path / "s.md", tmp_path, end="2017-03-01")


def test_study_markdown_has_tables(tmp_path, market):
    rep = evaluate_factor(market.truth["true_polarity"], market.prices, decay_horizons=(1, 2))
    path = write_study_md(tmp_path / "study.md", {"truth": rep}, {"sharpe": 1.0}, {"assets in universe": 12},
                          "2021-01-04", "2021-04-30", 10.0, 60.0)
    text = path.read_text()
    assert "| truth | 1D |" in text and "Caveats" in text and "Survivorship" in text
