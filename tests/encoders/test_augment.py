"""Counterfactual rewrites (llmos_quant.encoders.augment)."""

from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.encoders.augment import (
    DEFAULT_RULES,
    LIABILITY_TERMS,
    WIDE_RULES,
    counterfactuals,
    parse_rules,
)
from llmos_quant.errors import ValidationError


def test_rules_flip_the_label_and_keep_the_numbers():
    frame = pd.DataFrame({"text": [
        "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn .",
        "Net sales decreased by 5 % to EUR 20 mn .",
        "The company will expand its plant in Oulu .",
        "Net sales rose 10 % and operating profit rose 20 % .",  # two metrics: no rewrite
        "The company will not pay a dividend .",  # already negated: no rewrite
        "The shares are listed in Helsinki .",  # neutral: never rewritten
    ], "label": ["positive", "negative", "positive", "positive", "negative", "neutral"]})
    cf = counterfactuals(frame)
    assert cf["text"].tolist() == ["Operating loss rose to EUR 13.1 mn from EUR 8.7 mn .",
                                   "Net debt decreased by 5 % to EUR 20 mn .",  # odd rows: net debt
                                   "The company will not expand its plant in Oulu ."]
    assert cf["label"].tolist() == ["negative", "positive", "negative"]
    assert cf["rule"].tolist() == ["profit_to_loss", "sales_to_costs", "will_not"]
    with pytest.raises(ValueError, match="antonyms"):
        counterfactuals(frame, rules=("antonyms",))


def test_wide_rules_rotate_cost_and_debt_lines():
    sentences = [f"Net sales {verb} by {k} % to EUR 20 mn ." for k, verb in enumerate(["rose", "fell"] * 7)]
    frame = pd.DataFrame({"text": sentences, "label": ["positive", "negative"] * 7})
    cf = counterfactuals(frame, rules=parse_rules("wide"))
    assert cf["rule"].unique().tolist() == ["sales_to_liabilities"]
    assert [t.split(" rose")[0].split(" fell")[0] for t in cf["text"]] == [t.capitalize() for t in LIABILITY_TERMS] * 2
    assert cf["label"].tolist() == ["negative", "positive"] * 7  # costs / debt rising is bad news
    assert cf["text"].str.contains(r"by \d+ % to EUR 20 mn").all()  # numbers kept
    assert counterfactuals(frame)["rule"].unique().tolist() == ["sales_to_costs"]  # the default recipe is unchanged


def test_parse_rules_names_the_choices():
    assert parse_rules("default") == DEFAULT_RULES and parse_rules("wide") == WIDE_RULES
    assert parse_rules("will_not, profit_to_loss") == ("will_not", "profit_to_loss")
    with pytest.raises(ValidationError, match="expected 'default', 'wide' or comma-separated names"):
        parse_rules("")


@pytest.mark.data
def test_rewrites_come_from_their_own_split_only(shared_data):
    from llmos_quant.data.datasets import phrasebank_split

    split = phrasebank_split(seed=0)
    train, valid = counterfactuals(split.train), counterfactuals(split.valid)
    assert len(train) > 200 and len(valid) > 20
    assert set(train["source_text"]) <= set(split.train["text"]) and set(valid["source_text"]) <= set(split.valid["text"])
    assert not set(train["text"]) & set(split.test["text"])


def test_config_defaults_are_the_default_rules():
    from llmos_quant.encoders.distill import DistillConfig
    from llmos_quant.encoders.train import SentimentTrainConfig

    assert SentimentTrainConfig().counterfactual_rules == DEFAULT_RULES == DistillConfig().counterfactual_rules
    assert DistillConfig(counterfactual_rules=WIDE_RULES).seed_config().counterfactual_rules == WIDE_RULES
