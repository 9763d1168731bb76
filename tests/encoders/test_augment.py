"""Counterfactual rewrites (llmos_quant.encoders.augment)."""

from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.encoders.augment import counterfactuals


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
    with pytest.raises(ValueError, match="unknown counterfactual rules"):
        counterfactuals(frame, rules=("antonyms",))


@pytest.mark.data
def test_rewrites_come_from_their_own_split_only(shared_data):
    from llmos_quant.data.datasets import phrasebank_split

    split = phrasebank_split(seed=0)
    train, valid = counterfactuals(split.train), counterfactuals(split.valid)
    assert len(train) > 200 and len(valid) > 20
    assert set(train["source_text"]) <= set(split.train["text"]) and set(valid["source_text"]) <= set(split.valid["text"])
    assert not set(train["text"]) & set(split.test["text"])
