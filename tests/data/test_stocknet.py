from __future__ import annotations

import json

import pandas as pd
import pytest

from llmos_quant.data.news import NEWS_COLUMNS, validate_news
from llmos_quant.data.stocknet import read_stocknet_sectors, read_stocknet_tweets
from llmos_quant.errors import DataNotFoundError
from llmos_quant.signals.aggregate import attach_sessions


def _raw_tree(tmp_path):
    root = tmp_path / "tweet" / "raw"
    (root / "AAPL").mkdir(parents=True)
    (root / "BRK-A").mkdir(parents=True)
    lines = [{"created_at": "Wed Jan 01 03:59:03 +0000 2014", "id_str": "1", "text": "$AAPL  up\nbig"},
             {"created_at": "Thu Jan 02 21:30:00 +0000 2014", "id_str": "2", "text": "$AAPL after the close"},
             {"created_at": "not a time", "id_str": "3", "text": "broken"}]
    (root / "AAPL" / "2014-01-01").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (root / "BRK-A" / "2014-01-03").write_text(json.dumps(
        {"created_at": "Fri Jan 03 14:00:00 +0000 2014", "id_str": "4", "text": "$BRK-A"}) + "\n")
    return tmp_path


def test_raw_folders_utc_times_and_sessions(tmp_path):
    read = read_stocknet_tweets(_raw_tree(tmp_path))
    news = validate_news(read.frame)
    assert list(news.columns) == NEWS_COLUMNS and read.source == "stocknet"
    assert len(news) == 3 and len(read.rejected) == 1  # the unparseable time, with a reason
    assert read.rejected[0]["reason"] == "bad published_at, asset or headline"
    first = news.iloc[0]
    assert first["published_at"] == pd.Timestamp("2014-01-01 03:59:03", tz="UTC")
    assert first["headline"] == "$AAPL up big" and first["body"] == "$AAPL  up\nbig"
    assert first["source"] == "stocknet" and first["url"].endswith("/1")
    sessions = attach_sessions(news).set_index("url")["date"]
    # 21:30 UTC on Thu 2 Jan 2014 = 16:30 New York: after the cutoff -> Fri 3 Jan
    assert sessions[news.loc[news["headline"].str.contains("after"), "url"].iloc[0]] == pd.Timestamp("2014-01-03")
    assert sessions[first["url"]] == pd.Timestamp("2014-01-02")  # New Year's Day is no session
    only = read_stocknet_tweets(tmp_path / "tweet" / "raw", tickers=["brk-a"]).frame
    assert only["asset"].tolist() == ["BRK-A"]
    dated = read_stocknet_tweets(tmp_path, start="2014-01-02", end="2014-01-02").frame
    assert dated["published_at"].dt.day.tolist() == [2]
    assert len(read_stocknet_tweets(tmp_path, limit=1)) == 1
    with pytest.raises(DataNotFoundError):
        read_stocknet_tweets(tmp_path / "nowhere")


def test_converted_csv(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"ticker": ["AAPL", "GOOG"], "file_date": ["2014-01-02", "2014-01-02"],
                  "created_at_utc": ["2014-01-01T23:59:00Z", "2014-01-02T15:00:00Z"], "id_str": ["7", "8"],
                  "user_id_str": ["1", "2"], "text": ["a", "b"]}).to_csv(path, index=False)
    news = read_stocknet_tweets(path).frame
    assert news["published_at"].tolist() == [pd.Timestamp("2014-01-01 23:59", tz="UTC"),
                                             pd.Timestamp("2014-01-02 15:00", tz="UTC")]
    assert read_stocknet_tweets(path, tickers=["GOOG"]).frame["headline"].tolist() == ["b"]


@pytest.mark.data
def test_shared_stocknet_tweets(shared_data):
    if not (shared_data / "stocknet").is_dir():
        pytest.skip("stocknet/ is not in the shared datasets folder")
    news = validate_news(read_stocknet_tweets(tickers=["AAPL", "BRK-A"], start="2014-01-01", end="2014-01-31",
                                              limit=500).frame)
    assert 0 < len(news) <= 500 and set(news["asset"]) <= {"AAPL", "BRK-A"}
    assert str(news["published_at"].dt.tz) == "UTC"
    assert news["published_at"].min() >= pd.Timestamp("2014-01-01", tz="UTC")
    assert news["published_at"].max() < pd.Timestamp("2014-02-01", tz="UTC")
    sectors = read_stocknet_sectors()
    assert sectors["AAPL"] == "Consumer Goods" and sectors["RDS-B"] == "Basic Matierials" and len(sectors) == 88
