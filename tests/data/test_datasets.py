"""Readers of the labelled datasets (llmos_quant.data.datasets): the tweet-style evaluation sets."""

from __future__ import annotations

import pytest

from llmos_quant.data.datasets import load_fiqa_posts, load_semeval_microblogs
from llmos_quant.errors import ValidationError

pytestmark = pytest.mark.data


def test_semeval_microblogs_test_posts_have_text_and_scores(shared_data):
    test = load_semeval_microblogs("test")
    assert len(test) == 794 and list(test.columns) == ["text", "cashtag", "score"]
    assert test["score"].between(-1, 1).all() and test["text"].str.len().min() > 0
    assert test["cashtag"].str.startswith("$").all()


def test_semeval_microblogs_training_file_is_its_spans(shared_data):
    import json

    from llmos_quant.paths import shared_path

    raw = json.loads(shared_path("semeval2017_task5", "Microblog_Trainingdata.json").read_text())
    assert all("text" not in item for item in raw)  # the file ships spans, not posts
    train = load_semeval_microblogs("train")
    assert len(train) == sum(1 for item in raw if any(s.strip() for s in item.get("spans") or []))
    first = next(item for item in raw if item.get("spans"))
    assert train["text"].iloc[0] == " ... ".join(s.strip() for s in first["spans"])
    assert train["score"].between(-1, 1).all()


def test_microblog_posts_postdate_the_stocknet_tweets(shared_data):
    """The SemEval Twitter posts are later than the StockNet tweets of the transfer set (Twitter ids encode their
    time); the StockTwits posts are another site, and exact copies are excluded by ``distill.evaluation_texts``."""
    import json

    import pandas as pd

    from llmos_quant.paths import shared_path

    ids = [int(item["id"]) for name in ("Microblogs_Testdata_withscores.json", "Microblog_Trainingdata.json")
           for item in json.loads(shared_path("semeval2017_task5", name).read_text()) if item.get("source") == "twitter"]
    times = pd.to_datetime([(i >> 22) + 1288834974657 for i in ids], unit="ms")  # snowflake epoch
    assert len(ids) > 1000 and times.min() > pd.Timestamp("2015-09-30")


def test_fiqa_posts_average_their_aspect_scores(shared_data):
    posts = load_fiqa_posts()
    assert 600 < len(posts) <= 675 and posts["score"].between(-1, 1).all()
    assert posts["text"].is_unique or posts["text"].duplicated().sum() < 5


def test_unknown_split_names_the_choices():
    with pytest.raises(ValidationError, match="split must be 'train' or 'test', got 'dev'"):
        load_semeval_microblogs("dev")
