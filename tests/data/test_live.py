"""The network news sources against local servers only: a ThreadingHTTPServer on 127.0.0.1 (port 0) serving
recorded feeds and failure modes, and a fake yfinance ticker factory replaying recorded ``get_news`` answers.
No test reaches outside the machine; every wait is bounded (timeouts of well under a second, ``sleep``
injected so backoff does not wait)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from llmos_quant.data import http as http_mod
from llmos_quant.data.http import cache_path, http_get, url_key, write_atomic
from llmos_quant.data.live import fetch_yfinance_news, parse_yfinance_news, read_feed
from llmos_quant.data.news import NEWS_COLUMNS
from llmos_quant.errors import DataNotFoundError, FetchError, UsageError, ValidationError

FIXTURES = Path(__file__).parent / "fixtures_live"
RSS = (FIXTURES / "markets.rss").read_bytes()
ATOM = (FIXTURES / "markets.atom").read_bytes()
RECORDED_YF = json.loads((FIXTURES / "yfinance_get_news.json").read_text())
UNIVERSE = ("AAPL", "MSFT", "NVDA")


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Cache in a temp folder; no proxy from the environment between the client and 127.0.0.1."""
    monkeypatch.setenv("LLMOS_QUANT_CACHE", str(tmp_path / "cache"))
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's signature)
        pass

    def _send(self, status: int, body: bytes = b"", ctype: str = "application/rss+xml", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = urlsplit(self.path).path
        with self.server.lock:
            self.server.hits[path] += 1
            n = self.server.hits[path]
        if path == "/markets.rss":
            self._send(200, RSS)
        elif path == "/markets.atom":
            self._send(200, ATOM, "application/atom+xml")
        elif path == "/missing":
            self._send(404, b"not here", "text/plain")
        elif path == "/flaky":  # 500 once, then the feed
            self._send(500, b"oops", "text/plain") if n == 1 else self._send(200, RSS)
        elif path == "/busy":  # 429 with Retry-After once, then the feed
            self._send(429, b"slow down", "text/plain", {"Retry-After": "1"}) if n == 1 else self._send(200, RSS)
        elif path == "/down":
            self._send(500, b"always broken", "text/plain")
        elif path == "/gone":  # the feed once, then 404
            self._send(200, RSS) if n == 1 else self._send(404, b"gone", "text/plain")
        elif path == "/slow":  # answers, but only after 2 s (longer than the client's timeout)
            self.server.stop.wait(2.0)
            self._send(200, RSS)
        elif path == "/hang":  # accepts, reads the request and never writes a byte (released at teardown)
            self.server.stop.wait(60.0)
        elif path == "/page.html":
            self._send(200, b"<html><head><title>Markets</title></head><body><p>hello</p></body></html>", "text/html")
        else:
            self._send(404, b"unknown route", "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
        # a client that gave up (timeout tests) leaves a broken pipe behind: expected here, not worth a traceback
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        if self.stop.is_set():
            return
        self.stop.set()  # releases /slow and /hang handlers
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def start_server():
    servers: list[_Server] = []

    def start() -> _Server:
        servers.append(_Server())
        return servers[-1]

    yield start
    for s in servers:
        s.close()


@pytest.fixture
def server(start_server) -> _Server:
    return start_server()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.rss"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# ---------------------------------------------------------------------------------------------- feeds over HTTP
def test_rss_over_http_links_names_cashtags_and_caches(server, tmp_path):
    url = server.base + "/markets.rss"
    read = read_feed(url, universe=UNIVERSE, sleep=Sleeps())
    news = read.frame
    assert list(news.columns) == NEWS_COLUMNS and str(news["published_at"].dt.tz) == "UTC"
    pairs = sorted(zip(news["asset"], news["headline"], strict=True))
    assert pairs == [
        ("AAPL", "Apple and Microsoft lead tech rebound on Wall Street"),   # one entry, two tickers: two rows
        ("AAPL", "Apple beats first-quarter estimates as services revenue hits record"),  # by name
        ("MSFT", "Apple and Microsoft lead tech rebound on Wall Street"),
        ("MSFT", "Microsoft shares slide after Azure growth slows"),
        ("NVDA", "$NVDA falls 17% as DeepSeek model rattles AI trade"),  # by cashtag
    ]
    reasons = {r["values"]: r["reason"] for r in read.rejected}
    assert reasons == {"Fed holds rates steady, signals patience on cuts": "no ticker of the universe named",
                       "Undated item from the wire": "entry without title or date"}
    msft = news[news["headline"].str.startswith("Microsoft shares")].iloc[0]
    assert msft["published_at"] == pd.Timestamp("2025-01-30 02:15", tz="UTC")  # -0500 converted to UTC
    apple = news[news["headline"].str.startswith("Apple beats")].iloc[0]
    assert apple["body"] == "Services revenue rose 14% to $26.3 billion , the company said."  # HTML stripped
    assert apple["url"] == "https://news.example.com/markets/apple-q1-2025"
    assert set(news["source"]) == {"rss:Example Markets Wire"} and read.from_cache == [] and read.fetched_at == {}
    cached = tmp_path / "cache" / "news" / "rss" / f"{url_key(url)}.xml"
    assert cached.read_bytes() == RSS
    assert json.loads(cached.with_name(cached.name + ".meta.json").read_text())["url"] == url
    assert [p.name for p in cached.parent.iterdir() if p.name.endswith(".tmp")] == []  # atomic writes left nothing


def test_atom_feed_uses_published_else_updated(server):
    read = read_feed(server.base + "/markets.atom", universe=UNIVERSE)
    news = read.frame
    got = dict(zip(news["asset"], news["published_at"], strict=True))
    assert got == {"NVDA": pd.Timestamp("2025-01-31 08:30", tz="UTC"),   # <published> +01:00
                   "MSFT": pd.Timestamp("2025-01-30 15:45", tz="UTC")}   # only <updated>
    assert news.loc[news["asset"] == "NVDA", "body"].iloc[0] == "Shipments start in the second quarter."
    assert [r["values"] for r in read.rejected] == ["Weather delays rocket launch"]


def test_http_404_fails_at_once_naming_url_and_status(server):
    sleeps = Sleeps()
    url = server.base + "/missing"
    with pytest.raises(FetchError, match=r"GET http://127\.0\.0\.1:\d+/missing failed: HTTP 404") as err:
        read_feed(url, universe=UNIVERSE, sleep=sleeps)
    assert err.value.exit_code == 5 and err.value.status == 404 and not err.value.transient
    assert server.hits["/missing"] == 1 and sleeps == []  # no retry, no wait


def test_http_500_then_ok_is_retried_with_backoff(server):
    sleeps = Sleeps()
    got = http_get(server.base + "/flaky", backoff=0.25, sleep=sleeps)
    assert got.status == 200 and got.body == RSS and got.attempts == 2
    assert server.hits["/flaky"] == 2 and sleeps == [0.25]


def test_http_429_is_retried_honouring_retry_after(server):
    sleeps = Sleeps()
    news = read_feed(server.base + "/busy", universe=UNIVERSE, sleep=sleeps)
    assert len(news) == 5 and server.hits["/busy"] == 2
    assert sleeps == [1.0]  # Retry-After: 1 is longer than the first backoff (0.5 s)


def test_http_always_500_fails_after_n_tries(server):
    sleeps = Sleeps()
    url = server.base + "/down"
    with pytest.raises(FetchError, match=r"/down failed after 3 of 3 tries .*last: HTTP 500") as err:
        read_feed(url, universe=UNIVERSE, retries=3, sleep=sleeps)
    assert err.value.exit_code == 5 and url in str(err.value) and "no cached copy" in str(err.value)
    assert server.hits["/down"] == 3 and sleeps == [0.5, 1.0]  # exponential backoff between the tries


def test_slow_server_times_out(server):
    t0 = time.monotonic()
    with pytest.raises(FetchError, match=r"/slow failed after 2 of 2 tries .*timed out"):
        read_feed(server.base + "/slow", universe=UNIVERSE, timeout=0.5, retries=2, sleep=Sleeps())
    assert time.monotonic() - t0 < 3.0


def test_never_answering_server_times_out(server):
    t0 = time.monotonic()
    with pytest.raises(FetchError, match=r"/hang failed after 2 of 2 tries .*timed out"):
        http_get(server.base + "/hang", timeout=0.5, retries=2, sleep=Sleeps())
    assert time.monotonic() - t0 < 3.0 and server.hits["/hang"] == 2


def test_deadline_bounds_the_whole_call(server):
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="/hang failed after"):
        http_get(server.base + "/hang", timeout=0.4, retries=10, deadline=1.0, sleep=Sleeps())
    assert time.monotonic() - t0 < 2.0  # 10 tries x 0.4 s would be 4 s
    assert server.hits["/hang"] < 10


def test_network_down_fails_fast_naming_url(closed_port_url):
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="failed after 3 of 3 tries") as err:
        read_feed(closed_port_url, universe=UNIVERSE, timeout=0.5, sleep=Sleeps())
    assert closed_port_url in str(err.value) and "no cached copy" in str(err.value)
    assert err.value.exit_code == 5 and time.monotonic() - t0 < 5.0


def test_offline_rerun_reuses_the_cache(start_server, caplog):
    srv = start_server()
    url = srv.base + "/markets.rss"
    first = read_feed(url, universe=UNIVERSE)
    srv.close()  # the network is gone
    caplog.set_level(logging.WARNING)
    again = read_feed(url, universe=UNIVERSE, timeout=0.5, sleep=Sleeps())
    pd.testing.assert_frame_equal(first.frame, again.frame)  # same rows, same ids
    assert first.from_cache == [] and again.from_cache == [url] and again.fetched_at[url]
    assert any("using the cached copy" in r.getMessage() for r in caplog.records)
    with pytest.raises(FetchError, match="the cache is off"):
        read_feed(url, universe=UNIVERSE, timeout=0.5, cache=False, sleep=Sleeps())


def test_4xx_is_not_papered_over_with_the_cache(server):
    url = server.base + "/gone"
    assert len(read_feed(url, universe=UNIVERSE)) == 5  # cached
    with pytest.raises(FetchError, match="HTTP 404"):
        read_feed(url, universe=UNIVERSE)


def test_non_feed_body_is_a_validation_error_and_not_cached(server, tmp_path):
    url = server.base + "/page.html"
    with pytest.raises(ValidationError, match=r"page\.html: not an RSS/Atom feed"):
        read_feed(url, universe=UNIVERSE)
    assert not (tmp_path / "cache" / "news" / "rss" / f"{url_key(url)}.xml").exists()


def test_feedparser_never_gets_a_url_or_path(server, monkeypatch, tmp_path):
    import feedparser

    seen = []
    real = feedparser.parse
    monkeypatch.setattr(feedparser, "parse", lambda src, *a, **k: seen.append(type(src).__name__) or real(src, *a, **k))
    (tmp_path / "f.rss").write_bytes(RSS)
    for src in (server.base + "/markets.rss", str(tmp_path / "f.rss"), tmp_path / "f.rss", RSS, RSS.decode()):
        assert len(read_feed(src, universe=UNIVERSE)) == 5
    assert seen == ["BytesIO"] * 5
    for bad in ("file:///etc/passwd", "ftp://example.com/feed.rss"):
        with pytest.raises(UsageError, match="scheme that is not fetched"):
            read_feed(bad, universe=UNIVERSE)


# ---------------------------------------------------------------------------------------------- local files and arguments
def test_local_file_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_feed(tmp_path / "nope.rss", universe=UNIVERSE)
    with pytest.raises(DataNotFoundError, match="is not a file"):
        read_feed(tmp_path, universe=UNIVERSE)
    empty = tmp_path / "empty.rss"
    empty.write_bytes(b"")
    with pytest.raises(ValidationError, match=r"empty\.rss is empty \(0 bytes\)"):
        read_feed(empty, universe=UNIVERSE)
    junk = tmp_path / "junk.rss"
    junk.write_bytes(b"\x00\x01 this is not xml {")
    with pytest.raises(ValidationError, match=r"junk\.rss: not an RSS/Atom feed"):
        read_feed(str(junk), universe=UNIVERSE)


def test_read_feed_arguments():
    with pytest.raises(UsageError, match="needs asset="):
        read_feed(RSS)
    with pytest.raises(UsageError, match="not a valid symbol"):
        read_feed(RSS, universe=["AAPL", "../../etc"])
    with pytest.raises(UsageError, match="retries=0"):
        read_feed(RSS, universe=UNIVERSE, retries=0)
    single = read_feed(RSS, asset="spy")
    assert set(single.frame["asset"]) == {"SPY"} and len(single) == 5 and len(single.rejected) == 1


def test_universe_table_for_universe_alias_file_only(monkeypatch):
    from llmos_quant import paths
    from llmos_quant.encoders.news_parser import TickerLinker, UniverseTable

    monkeypatch.setattr(paths, "shared_data_dir", lambda required=False: None)
    table = UniverseTable.for_universe(["aapl", "NVDA", "ZZZQ"])
    assert sorted(table.frame["ticker"]) == ["AAPL", "NVDA", "ZZZQ"]
    by = dict(zip(table.frame["ticker"], table.frame["aliases"], strict=True))
    assert "Apple" in by["AAPL"] and "Nvidia" in by["NVDA"] and by["ZZZQ"] == []
    linker = TickerLinker(table)
    assert [d["ticker"] for d in linker.link("Apple and Microsoft rise; $ZZZQ too")[0]] == ["ZZZQ", "AAPL"]
    with pytest.raises(UsageError):
        UniverseTable.for_universe(["a/b"])


@pytest.mark.data
def test_universe_table_for_universe_with_shared_data(shared_data):
    from llmos_quant.encoders.news_parser import UniverseTable

    table = UniverseTable.for_universe(["AAPL", "NVDA"])
    assert sorted(table.frame["ticker"]) == ["AAPL", "NVDA"]
    names = dict(zip(table.frame["ticker"], table.frame["name"], strict=True))
    assert names["AAPL"].startswith("Apple")  # company names from the shared tables, not only aliases


# ---------------------------------------------------------------------------------------------- cache helpers
def test_cache_paths_stay_inside_the_cache(tmp_path):
    root = tmp_path / "cache" / "news"
    assert cache_path("rss", "x.xml") == (root / "rss" / "x.xml").resolve()
    for bad in ("..", "../x", "a/b", "/etc/passwd", ""):
        with pytest.raises(UsageError, match="cache"):
            cache_path("rss", bad)


def test_write_atomic_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    target = cache_path("rss", "feed.xml")
    write_atomic(target, b"old")
    monkeypatch.setattr(http_mod.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in target.parent.iterdir()] == ["feed.xml"]


# ---------------------------------------------------------------------------------------------- yfinance
class ReplayTicker:
    """Fake ``yfinance.Ticker`` replaying the recorded ``get_news`` answers; counts calls per ticker."""

    calls: Counter[str] = Counter()

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker

    def get_news(self, count: int = 10):
        ReplayTicker.calls[self.ticker] += 1
        return RECORDED_YF.get(self.ticker, [])[:count]


@pytest.fixture
def replay():
    ReplayTicker.calls = Counter()
    return ReplayTicker


def test_yfinance_replay_current_shape_and_cache(replay, tmp_path):
    read = fetch_yfinance_news(["AAPL", "msft"], ticker_factory=replay, sleep=Sleeps())
    news = read.frame
    assert list(news.columns) == NEWS_COLUMNS
    assert news.groupby("asset").size().to_dict() == {"AAPL": 2, "MSFT": 1}
    assert len(read.rejected) == 2  # the item without a title and the one without a date, both counted
    top = news[news["headline"].str.startswith("Apple beats")].iloc[0]
    assert top["source"] == "yfinance:Reuters" and top["published_at"] == pd.Timestamp("2025-01-30 21:35:12", tz="UTC")
    assert top["url"] == "https://finance.yahoo.com/news/apple-beats-iphone-services-213512.html"
    msft = news[news["asset"] == "MSFT"].iloc[0]
    assert msft["url"].endswith("microsoft-azure-growth-212000.html")  # clickThroughUrl when canonicalUrl is null
    saved = json.loads((tmp_path / "cache" / "news" / "yfinance" / "AAPL.json").read_text())
    assert saved["ticker"] == "AAPL" and saved["items"] == RECORDED_YF["AAPL"]
    assert read.from_cache == [] and replay.calls == {"AAPL": 1, "MSFT": 1}


def test_yfinance_connection_error_fails_after_bounded_tries():
    calls = Counter()

    class Down:
        def __init__(self, t):
            self.t = t

        def get_news(self, count=10):
            calls[self.t] += 1
            raise ConnectionError("Failed to resolve 'query2.finance.yahoo.com'")

    sleeps = Sleeps()
    with pytest.raises(FetchError, match=r"yfinance news for AAPL failed after 3 of 3 tries .*ConnectionError") as err:
        fetch_yfinance_news(["AAPL"], ticker_factory=Down, sleep=sleeps)
    assert err.value.exit_code == 5 and "no cached copy" in str(err.value)
    assert calls == {"AAPL": 3} and sleeps == [1.0, 2.0]


def test_yfinance_flaky_then_ok():
    calls = Counter()

    class Flaky(ReplayTicker):
        def get_news(self, count=10):
            calls[self.ticker] += 1
            if calls[self.ticker] == 1:
                raise ConnectionError("reset by peer")
            return RECORDED_YF["MSFT"]

    news = fetch_yfinance_news(["MSFT"], ticker_factory=Flaky, sleep=Sleeps())
    assert len(news) == 1 and calls == {"MSFT": 2}


@pytest.fixture
def never_returning():
    release = threading.Event()

    class Hangs:
        def __init__(self, t):
            self.t = t

        def get_news(self, count=10):
            release.wait(30)  # "never" returns; released at teardown so no thread outlives the test
            return []

    yield Hangs
    release.set()


def test_yfinance_never_returning_call_fails_within_the_bound(never_returning):
    t0 = time.monotonic()
    with pytest.raises(FetchError, match=r"yfinance news for NVDA failed after 2 of 2 tries .*no answer within 0\.3s"):
        fetch_yfinance_news(["NVDA"], ticker_factory=never_returning, timeout=0.3, retries=2, sleep=Sleeps())
    assert time.monotonic() - t0 < 2.0


def test_yfinance_total_deadline(never_returning):
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="yfinance news for AAPL failed after 1 of 3 tries"):
        fetch_yfinance_news(["AAPL", "MSFT"], ticker_factory=never_returning, timeout=10, deadline=0.5, sleep=Sleeps())
    assert time.monotonic() - t0 < 2.0


def test_yfinance_offline_rerun_reuses_the_cache(replay, caplog):
    first = fetch_yfinance_news(["AAPL"], ticker_factory=replay)

    def offline(t):
        raise ConnectionError("network is unreachable")

    caplog.set_level(logging.WARNING)
    again = fetch_yfinance_news(["AAPL"], ticker_factory=offline, sleep=Sleeps())
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert again.from_cache == ["yfinance news for AAPL"] and again.fetched_at["yfinance news for AAPL"]
    assert any("using the cached copy" in r.getMessage() for r in caplog.records)
    with pytest.raises(FetchError, match="the cache is off"):
        fetch_yfinance_news(["AAPL"], ticker_factory=offline, sleep=Sleeps(), cache=False)


def test_yfinance_refuses_bad_tickers_and_writes_nothing(replay, tmp_path):
    with pytest.raises(UsageError, match="not a valid symbol"):
        fetch_yfinance_news(["AAPL", "../../etc/passwd"], ticker_factory=replay)
    assert replay.calls == {} and not (tmp_path / "cache" / "news" / "yfinance").exists()


def test_parse_yfinance_news_counts_unreadable_dates():
    items = [{"content": {"title": "Odd date", "pubDate": "not a date"}}, "junk",
             {"title": "Old flat shape", "providerPublishTime": 1738272900, "publisher": "AP", "link": "https://x/y"}]
    read = parse_yfinance_news(items, "AAPL")
    news = read.frame
    assert news["headline"].tolist() == ["Old flat shape"] and news["source"].iloc[0] == "yfinance:AP"
    assert [r["reason"].split(" (")[0] for r in read.rejected] == ["unreadable content.pubDate",
                                                                           "item is not a dict with 'content'"]
