"""Rule-labelled headlines (llmos_quant.encoders.weak)."""

from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.encoders.weak import RULES, clean_headline, weak_label, weak_labels


@pytest.mark.parametrize(("text", "label", "rule"), [
    ("McDonald's raises quarterly dividend 15 percent", "positive", "dividend_raised"),
    ("Pipeline giant Kinder Morgan slashes dividend 75 percent", "negative", "dividend_cut"),
    ("Symantec announces $1 billion share buyback plan", "positive", "buyback_started"),
    ("Chubb suspends share buybacks due to uncertainty on Sandy losses", "negative", "buyback_stopped"),
    ("CLSA Upgrades Goldman and Morgan Stanley to \"buy\"", "positive", "upgraded"),
    ("NVIDIA: Morgan Stanley cuts to underweight", "negative", "downgraded"),
    ("Deere: Barclays raises target price", "positive", "target_raised"),
    ("Equinix: RBC cuts target price", "negative", "target_cut"),
    ("Wal-Mart wins dismissal of Mexico bribery lawsuit", "positive", "legal_win"),
    ("Boston Scientific ordered to pay $100 mln in transvaginal mesh trial", "negative", "legal_loss"),
])
def test_each_rule_labels_its_action(text, label, rule):
    assert weak_label(text) == (label, rule)


@pytest.mark.parametrize("text", [
    "Xerox cuts profit target but raises dividend",  # contrast word
    "Assura pretax profit falls, raises dividend",  # a cue of the other polarity
    "Boeing wins orders worth up to $873 million for F/A-18 upgrades",  # no rule: an order, not a rating
    "Humana sues Medtronic over Infuse bone growth product",  # no rule: who is hurt is not in the words
    "Moody's reviews Chorus' Baa2 ratings for possible downgrade, raises dividend",  # both polarities
])
def test_mixed_or_unruled_headlines_are_not_labelled(text):
    assert weak_label(text) is None


def test_clean_headline_drops_wire_tags_and_restores_commas():
    assert clean_headline("RESEARCH ALERT-Intel: Nomura raises target price") == "Intel: Nomura raises target price"
    assert clean_headline("UPDATE 1-Corning raises dividend  plans $1.5 bln buyback") == (
        "Corning raises dividend, plans $1.5 bln buyback")
    assert clean_headline("BRIEF-TEXT-Fitch upgrades CF Industries to 'BBB'") == "Fitch upgrades CF Industries to 'BBB'"


def test_weak_labels_keeps_input_order_and_only_labelled_rows():
    out = weak_labels(pd.Series(["Deere: Barclays raises target price", "Shares listed in Helsinki",
                                 "Equinix: RBC cuts target price"]))
    assert out["label"].tolist() == ["positive", "negative"]
    assert out.columns.tolist() == ["text", "label", "rule"]
    assert set(RULES) >= set(out["rule"])


@pytest.mark.data
def test_split_is_by_time_inside_the_research_window_and_excludes_evaluation_sentences(shared_data):
    from llmos_quant.data.news import read_reuters_csv
    from llmos_quant.encoders.distill import _norm, evaluation_texts
    from llmos_quant.encoders.weak import weak_label_split

    split = weak_label_split()
    assert len(split.train) > 300 and len(split.valid) > 100
    assert split.train["rule"].value_counts().max() <= 100 and split.valid["rule"].value_counts().max() <= 30
    news = read_reuters_csv().frame
    when = news.assign(key=news["headline"].map(clean_headline).map(_norm)).groupby("key")["published_at"].min()
    train_keys, valid_keys = set(split.train["text"].map(_norm)), set(split.valid["text"].map(_norm))
    assert not train_keys & valid_keys
    assert when.loc[sorted(train_keys)].max() < pd.Timestamp("2016-01-01", tz="UTC")
    assert when.loc[sorted(valid_keys)].min() >= pd.Timestamp("2016-01-01", tz="UTC")
    assert when.loc[sorted(valid_keys)].max() < pd.Timestamp("2017-01-01", tz="UTC")
    assert not (train_keys | valid_keys) & evaluation_texts()
    assert (train_keys | valid_keys) <= split.keys  # the transfer set's exclusion covers every labelled headline
    assert any(k.startswith("research alert ") for k in split.keys)  # ... in its raw form (wire tags and all) too
