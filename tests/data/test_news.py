from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.data.live import parse_yfinance_news, read_feed
from llmos_quant.data.news import (
    NEWS_COLUMNS,
    NewsRead,
    concat_news,
    dedupe,
    normalise_headline,
    read_benzinga_csv,
    news_from_table,
    read_reuters_csv,
    validate_news,
)
from llmos_quant.errors import DataNotFoundError, UsageError, ValidationError

REUTERS = """ticker,company,date,title,body,news_type,recommendation,source_file
AAPL,Apple Inc,20160601,Apple shares rise ,Apple rose on Wednesday,topStory,,news_20160601.csv
AAPL,Apple Inc,20160601,UPDATE 2-Apple shares rise ,Apple rose,normal,,news_20160601.csv
MSFT,Microsoft Corp,2016-06-01,Bad date row ,x,normal,,news_20160601.csv
,Nobody,20160601,No ticker ,x,normal,,news_20160601.csv
MSFT,Microsoft Corp,20160602,Microsoft buys LinkedIn ,Deal,topStory,,news_20160602.csv
"""

BENZINGA = """,title,date,stock
0,Stocks That Hit 52-Week Highs On Friday,2020-06-05 10:30:00-04:00,A
1,Agilent Q2 Earnings Beat,2020-05-22 16:05:00-04:00,A
2,Broken row,,
3,Date only item,2020-05-21,A
"""

FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Test wire</title>
<item><title>$AAPL jumps after results</title><link>http://x/1</link><pubDate>Wed, 01 Jun 2016 14:00:00 GMT</pubDate>
<description>Apple &lt;b&gt;up&lt;/b&gt;</description></item>
<item><title>MSFT and AAPL sign deal</title><pubDate>Wed, 01 Jun 2016 21:00:00 GMT</pubDate></item>
<item><title>Macro news, nobody named</title><pubDate>Wed, 01 Jun 2016 21:00:00 GMT</pubDate></item>
<item><title>No date</title></item>
</channel></rss>"""


def test_reuters_csv(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text(REUTERS)
    read = read_reuters_csv(p)
    news = read.frame
    assert list(news.columns) == NEWS_COLUMNS
    assert len(read) == len(news) == 3 and len(read.rejected) == 2 and read.source == "reuters"
    assert news["date_only"].all() and str(news["published_at"].dt.tz) == "UTC"
    assert news["headline"].iloc[0] == "Apple shares rise"
    assert news["id"].is_unique
    assert read_reuters_csv(p).frame["id"].tolist() == news["id"].tolist()  # stable ids
    assert read.companies == {"AAPL": "Apple Inc", "MSFT": "Microsoft Corp"}  # of the rows kept
    assert read.from_cache == [] and read.fetched_at == {}


def test_benzinga_csv(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text(BENZINGA)
    read = read_benzinga_csv(p)
    news = read.frame
    assert len(news) == 3 and len(read.rejected) == 1 and read.companies == {}
    row = news[news["headline"] == "Agilent Q2 Earnings Beat"].iloc[0]
    assert row["published_at"] == pd.Timestamp("2020-05-22 20:05", tz="UTC") and not row["date_only"]
    assert news[news["headline"] == "Date only item"]["date_only"].iloc[0]


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(DataNotFoundError):
        read_reuters_csv(tmp_path / "nope.csv")
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ValidationError, match="expected Reuters columns"):
        read_reuters_csv(p)


def test_yfinance_items_current_shape():
    items = [
        {"id": "1", "content": {"title": "Apple beats", "pubDate": "2025-01-30T21:35:00Z", "summary": "s",
                                "provider": {"displayName": "Reuters"}, "canonicalUrl": {"url": "https://x/a"}}},
        {"id": "2", "content": {"title": "", "pubDate": "2025-01-30T21:35:00Z"}},
        {"id": "3", "content": {"title": "No date"}},
    ]
    read = parse_yfinance_news(items, "AAPL")
    assert len(read) == 1 and len(read.rejected) == 2
    r = read.frame.iloc[0]
    assert r["url"] == "https://x/a" and r["source"] == "yfinance:Reuters" and r["asset"] == "AAPL"
    assert r["published_at"] == pd.Timestamp("2025-01-30 21:35", tz="UTC")


def test_fetch_yfinance_news_with_fake_ticker(monkeypatch, tmp_path):
    # Retries (3 tries) and a cache now: keep the cache in tmp_path and do not wait between tries
    # (more in tests/data/test_live.py).
    from llmos_quant.data.live import fetch_yfinance_news
    from llmos_quant.errors import FetchError

    monkeypatch.setenv("LLMOS_QUANT_CACHE", str(tmp_path))

    class Fake:
        def __init__(self, t):
            self.t = t

        def get_news(self, count=10):
            if self.t == "BAD":
                raise ConnectionError("rate limited")
            return [{"content": {"title": f"{self.t} news", "pubDate": "2025-01-30T10:00:00Z"}}]

    news = fetch_yfinance_news(["AAPL", "MSFT"], ticker_factory=Fake)
    assert sorted(news.frame["asset"]) == ["AAPL", "MSFT"] and news.source == "yfinance" and news.from_cache == []
    with pytest.raises(FetchError, match="yfinance news for BAD failed after 3 of 3 tries"):
        fetch_yfinance_news(["BAD"], ticker_factory=Fake, sleep=lambda s: None)


def test_rss_feed_links_universe_tickers():
    # Linking is the news parser's TickerLinker over UniverseTable.for_universe (names, cashtags, bare symbols);
    # the XML text is parsed as given (no network, no cache).
    news = read_feed(FEED, universe=["AAPL", "MSFT", "GOOG"])
    assert sorted(news.frame["asset"]) == ["AAPL", "AAPL", "MSFT"]
    reasons = [r["reason"] for r in news.rejected]
    assert "no ticker of the universe named" in reasons and "entry without title or date" in reasons
    assert "<b>" not in news.frame["body"].iloc[0]
    single = read_feed(FEED, asset="SPY")
    assert set(single.frame["asset"]) == {"SPY"} and len(single) == 3


def test_dedupe_collapses_repeats_within_window():
    t = pd.to_datetime(["2016-06-01 10:00", "2016-06-01 12:00", "2016-06-01 12:00", "2016-09-01 10:00"], utc=True)
    frame = pd.DataFrame({"published_at": t, "date_only": False, "asset": ["AAPL", "AAPL", "MSFT", "AAPL"],
                          "headline": ["Apple shares rise", "UPDATE 2-Apple shares rise!", "Apple shares rise",
                                       "Apple shares rise"], "body": "", "source": "x", "url": "",
                          "id": ["a", "b", "c", "d"]})
    out = dedupe(frame)
    assert out["id"].tolist() == ["a", "c", "d"]
    assert out.set_index("id")["dup_count"].to_dict() == {"a": 2, "c": 1, "d": 1}
    assert normalise_headline("UPDATE 2-Apple shares rise!") == "apple shares rise"
    assert out.attrs == {}


def test_validate_news_errors():
    with pytest.raises(ValidationError, match="lacks columns"):
        validate_news(pd.DataFrame({"headline": ["x"]}))
    frame = pd.DataFrame({c: ["x"] for c in NEWS_COLUMNS})
    frame["published_at"] = pd.to_datetime(["2016-01-01"])
    with pytest.raises(ValidationError, match="tz-aware UTC"):
        validate_news(frame)


@pytest.mark.data
def test_real_reuters_and_benzinga_files(shared_data):
    r = read_reuters_csv()
    assert len(r) > 100_000 and r.frame["published_at"].min().year == 2011 and len(r.companies) > 400
    b = read_benzinga_csv()
    assert len(b) > 9000


def test_sniffing_refuses_a_generic_file_with_reuters_column_names(tmp_path):
    from llmos_quant.data.news import sniff_news_format

    p = tmp_path / "mine.csv"
    p.write_text("date,ticker,title\n2024-03-01 14:30,AAPL,Apple rises\n2024-03-01 15:00,MSFT,Microsoft falls\n")
    with pytest.raises(ValidationError, match=r"'2024-03-01 14:30' are not Reuters' YYYYMMDD.*published_at, asset, headline"):
        sniff_news_format(p)
    r = tmp_path / "r.csv"
    r.write_text(REUTERS)  # one malformed date among Reuters rows is still Reuters (the reader rejects that row)
    assert sniff_news_format(r) == "reuters"


def _table(rows):
    return pd.DataFrame(rows, columns=["published_at", "asset", "headline"])


def test_rejected_rows_are_in_the_read_with_their_reason(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text(REUTERS)
    read = read_reuters_csv(p)
    assert [r["reason"] for r in read.rejected] == ["bad date, ticker or title"] * 2
    assert [r["values"]["title"] for r in read.rejected] == ["Bad date row ", "No ticker "]
    assert {r["row"] for r in read.rejected} == {2, 3}  # the rows of the file (0-based, after the header)
    table = news_from_table(_table([["2016-06-01T14:00:00Z", "AAPL", "Apple rises"], ["not a time", "AAPL", "x"],
                                    ["2016-06-01T15:00:00Z", "", "no asset"]]), source="mine")
    assert len(table) == 1 and table.source == "mine"
    assert [(r["row"], r["reason"]) for r in table.rejected] == [(1, "bad published_at, asset or headline"),
                                                                 (2, "bad published_at, asset or headline")]


def test_concat_news_merges_rejected_and_from_cache(tmp_path):
    a = news_from_table(_table([["2016-06-02T14:00:00Z", "AAPL", "Apple rises"], ["", "AAPL", "no time"]]), source="a")
    b = NewsRead(news_from_table(_table([["2016-06-01T14:00:00Z", "MSFT", "Microsoft falls"]])).frame, "b",
                 [{"row": 7, "reason": "entry without title or date", "values": ""}],
                 from_cache=["https://x/feed"], fetched_at={"https://x/feed": "2024-01-01T00:00:00Z"})
    c = NewsRead(a.frame.iloc[:0], "c", [], from_cache=["yfinance news for AAPL", "https://x/feed"],
                 fetched_at={"yfinance news for AAPL": "2024-01-02T00:00:00Z"}, companies={"AAPL": "Apple Inc"})
    out = concat_news([a, b, c])
    assert isinstance(out, NewsRead) and out.source == "a+b+c" and len(out) == 2
    assert out.frame["asset"].tolist() == ["MSFT", "AAPL"]  # sorted by time
    assert [r["reason"] for r in out.rejected] == ["bad published_at, asset or headline", "entry without title or date"]
    assert out.from_cache == ["https://x/feed", "yfinance news for AAPL"]
    assert out.fetched_at == {"https://x/feed": "2024-01-01T00:00:00Z", "yfinance news for AAPL": "2024-01-02T00:00:00Z"}
    assert out.companies == {"AAPL": "Apple Inc"}
    assert concat_news([a, b], source="both").source == "both"
    empty = concat_news([])
    assert len(empty) == 0 and list(empty.frame.columns) == NEWS_COLUMNS and empty.rejected == []
    with pytest.raises(UsageError, match="concat_news takes NewsRead"):
        concat_news([a.frame])


def test_frames_of_every_reader_carry_no_attrs(tmp_path):
    r, b = tmp_path / "r.csv", tmp_path / "b.csv"
    r.write_text(REUTERS)
    b.write_text(BENZINGA)
    reads = [read_reuters_csv(r), read_benzinga_csv(b), read_feed(FEED, asset="SPY"),
             parse_yfinance_news([{"content": {"title": "x", "pubDate": "2025-01-30T21:35:00Z"}}], "AAPL"),
             news_from_table(_table([["2016-06-01T14:00:00Z", "AAPL", "Apple rises"]]))]
    reads.append(concat_news(reads))
    for read in reads:
        assert isinstance(read, NewsRead) and read.frame.attrs == {}, read.source
        assert dedupe(read.frame).attrs == {}
    assert not hasattr(reads[0], "attrs") and not hasattr(NewsRead, "__getitem__")  # a result, not a frame
