"""The daily/backfill job through ``run_signal_job`` and the CLI, for every news source."""

from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from llmos_quant.cli.main import main
from llmos_quant.errors import UsageError, ValidationError
from llmos_quant.jobs import SignalJobConfig, load_news, resolve_session, run_signal_job
from llmos_quant.signals.store import SignalStore

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures_live"


def job(kind="daily", start="2021-03-01", end=None, **kw):
    return SignalJobConfig(kind, pd.Timestamp(start), pd.Timestamp(end or start), progress=False,
                           **{"backend": "lm", **kw})


def test_rerun_with_a_smaller_universe_keeps_the_other_assets(tmp_path):
    store = tmp_path / "s.duckdb"
    run_signal_job(job(source="synthetic", store=store, universe=("ZACM", "ZBLU", "ZCRX")))
    with SignalStore(store, read_only=True) as st:
        first = st.signals()
    assert sorted(first.index.get_level_values("asset")) == ["ZACM", "ZBLU", "ZCRX"]
    run_signal_job(job(source="synthetic", store=store, universe=("ZACM",)))
    with SignalStore(store, read_only=True) as st:
        after = st.signals()
    assert sorted(after.index.get_level_values("asset")) == ["ZACM", "ZBLU", "ZCRX"]  # nothing lost
    cols = ["sentiment", "news_count"]
    pd.testing.assert_frame_equal(after[cols], first[cols])
    assert after.loc[(pd.Timestamp("2021-03-01"), "ZBLU"), "run_id"] == first.loc[(pd.Timestamp("2021-03-01"), "ZBLU"),
                                                                                      "run_id"]


def test_one_run_id_joins_signals_scores_and_runs_with_provenance(tmp_path):
    store = tmp_path / "s.duckdb"
    res = run_signal_job(job(source="synthetic", store=store, universe=("ZACM", "ZBLU")))
    rid = res.summary.run_id
    with SignalStore(store, read_only=True) as st:
        sig_ids = set(st.con.execute("SELECT DISTINCT run_id FROM signals").fetchall())
        score_ids = set(st.con.execute("SELECT DISTINCT run_id FROM scores").fetchall())
        run = st.runs().set_index("run_id").loc[rid]
        joined = st.con.execute("SELECT count(*) FROM signals s JOIN runs r USING (run_id)").fetchall()[0][0]
        n_signals = st.counts()["signals"]
    assert sig_ids == {(rid,)} and score_ids == {(rid,)} and joined == n_signals
    assert run["status"] == "ok" and run["model"] == res.model and run["package_version"]
    assert run["input_hash"] == res.summary.input_hash and len(run["input_hash"]) == 16
    config = json.loads(run["params"])["config"]
    assert config["source"] == "synthetic" and config["universe"] == ["ZACM", "ZBLU"]
    counts = json.loads(run["counts"])
    assert counts["signal_rows"] == n_signals and "dropped" in counts
    # a second run re-uses the cached scores; those keep the run_id that computed them (which is in runs)
    res2 = run_signal_job(job(source="synthetic", store=store, universe=("ZACM", "ZBLU")))
    assert res2.summary.scored_new == 0 and res2.summary.run_id != rid
    with SignalStore(store, read_only=True) as st:
        orphans = st.con.execute("SELECT count(*) FROM scores WHERE run_id NOT IN (SELECT run_id FROM runs)").fetchall()
    assert orphans[0][0] == 0


def test_weights_hash_covers_the_base_and_the_adapter():
    from llmos_quant.encoders.sentiment import DEFAULT_ADAPTER, SentimentEncoder, folder_hash
    from llmos_quant.llmos.convert import minilm_path

    enc = SentimentEncoder.create("llmos", progress=False)
    assert enc.weights_hash == folder_hash(DEFAULT_ADAPTER, minilm_path())
    assert enc.weights_hash != folder_hash(DEFAULT_ADAPTER)


def test_daily_writes_the_ranked_signals_file(tmp_path):
    store = tmp_path / "store" / "s.duckdb"
    res = run_signal_job(job(source="synthetic", store=store))
    assert res.output == tmp_path / "store" / "daily" / "signals_2021-03-01.csv"
    ranked = pd.read_csv(res.output)
    assert (ranked["date"] == "2021-03-01").all() and ranked["rank"].iloc[0] == 1
    valid = ranked.dropna(subset=["sentiment"])
    assert valid["sentiment"].is_monotonic_decreasing and (ranked["run_id"] == res.summary.run_id).all()
    pq = run_signal_job(job(source="synthetic", store=store, output=tmp_path / "x.parquet")).output
    assert len(pd.read_parquet(pq)) == len(ranked)
    # a rerun for two assets replaces their rows; the day's file still holds every asset, ranked across all of them
    part = run_signal_job(job(source="synthetic", store=store, universe=("ZACM", "ZBLU")))
    again = pd.read_csv(part.output)
    assert set(again["asset"]) == set(ranked["asset"]) and sorted(again["rank"].dropna()) == sorted(ranked["rank"].dropna())
    assert set(again.loc[again["asset"].isin(["ZACM", "ZBLU"]), "run_id"]) == {part.summary.run_id}
    assert (again.loc[~again["asset"].isin(["ZACM", "ZBLU"]), "run_id"] != part.summary.run_id).all()


def test_today_is_the_latest_session_whose_cutoff_passed():
    ny = "America/New_York"
    assert resolve_session("today", now=pd.Timestamp("2024-03-06 15:59", tz=ny)) == pd.Timestamp("2024-03-05")
    assert resolve_session("today", now=pd.Timestamp("2024-03-06 16:00", tz=ny)) == pd.Timestamp("2024-03-06")
    assert resolve_session("today", now=pd.Timestamp("2024-03-09 12:00", tz=ny)) == pd.Timestamp("2024-03-08")  # Sat
    assert resolve_session("today", now=pd.Timestamp("2024-03-07 02:00", tz="UTC")) == pd.Timestamp("2024-03-06")
    assert resolve_session("2024-03-06") == pd.Timestamp("2024-03-06")
    for ambiguous in ("03/06/2024", "06/03/2024", "20240306", "March 6 2024", "2024-03-06 12:00"):
        with pytest.raises(UsageError, match="YYYY-MM-DD"):
            resolve_session(ambiguous)


def test_a_session_whose_cutoff_is_still_to_come_is_refused():
    """Signals for a session before its cutoff would miss news still to be published, yet be stored as final."""
    from llmos_quant.jobs.signals import check_cutoff_passed

    ny = "America/New_York"
    check_cutoff_passed(pd.Timestamp("2024-03-06"), now=pd.Timestamp("2024-03-06 16:00", tz=ny))
    with pytest.raises(UsageError, match="still to come.*16:00 America/New_York.*--date today"):
        check_cutoff_passed(pd.Timestamp("2024-03-06"), now=pd.Timestamp("2024-03-06 15:59", tz=ny))
    with pytest.raises(UsageError, match="still to come"):  # a backfill's last session too
        run_signal_job(job("backfill", start="2021-03-01", end="2099-03-02", source="synthetic"))


@pytest.mark.parametrize("bad", [dict(half_life=float("nan")), dict(half_life=0), dict(batch_size=0),
                                 dict(cutoff="25:00"), dict(backend="gpt"), dict(events="llm"),
                                 dict(output=Path("x.txt"))])
def test_config_refuses_bad_values(bad):
    with pytest.raises(UsageError):
        job(source="synthetic", **bad)


# ---- point in time: every format ---------------------------------------------------------------------
def test_benzinga_date_only_rows_count_after_that_days_close(tmp_path):
    p = tmp_path / "bz.csv"
    p.write_text(",title,date,stock\n0,Acme beats estimates,2016-03-04,AAPL\n"
                 "1,Acme cut to sell,2016-03-04 10:00:00-05:00,AAPL\n")
    news = load_news(f"benzinga:{p}", "2016-03-01", "2016-03-10").frame
    from llmos_quant.signals.aggregate import attach_sessions

    dated = attach_sessions(news).set_index("headline")["date"]
    assert dated["Acme beats estimates"] == pd.Timestamp("2016-03-07")  # Friday date-only -> Monday's session
    assert dated["Acme cut to sell"] == pd.Timestamp("2016-03-04")


def test_zone_less_timestamps_are_refused_with_the_row_and_the_option(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("published_at,asset,headline\n2016-03-04 10:00:00-05:00,AAPL,ok row\n2016-03-04 17:30:00,AAPL,late\n")
    with pytest.raises(ValidationError, match=r"row 1.*2016-03-04 17:30:00.*--news-tz"):
        load_news(f"table:{p}", "2016-03-01", "2016-03-10")
    news = load_news(f"table:{p}", "2016-03-01", "2016-03-10", tz="America/New_York").frame
    from llmos_quant.signals.aggregate import attach_sessions

    dated = attach_sessions(news).set_index("headline")["date"]
    assert dated["late"] == pd.Timestamp("2016-03-07") and dated["ok row"] == pd.Timestamp("2016-03-04")


def test_table_source_csv_and_parquet_through_the_job(tmp_path):
    from llmos_quant.data.news import news_from_table

    # 20:00Z = 15:00 New York (before the cutoff); 21:30Z = 16:30 (after it: next session)
    frame = pd.DataFrame({"published_at": ["2016-03-03T15:00:00-05:00", "2016-03-04T09:00:00Z", "2016-03-04T20:00:00Z",
                                           "2016-03-04T21:30:00Z", "bad", "2016-03-04T10:00:00Z"],
                          "asset": ["AAPL", "AAPL", "MSFT", "MSFT", "MSFT", ""],
                          "headline": ["Apple profit jumps", "Apple sued", "Microsoft beats", "Microsoft after hours", "x",
                                       "no asset"]})
    made = news_from_table(frame)
    assert len(made) == 4 and len(made.rejected) == 2 and made.frame.attrs == {}
    csv, pq = tmp_path / "n.csv", tmp_path / "n.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(pq)
    for spec in (f"table:{csv}", str(pq), str(csv)):
        store = tmp_path / f"{Path(spec).suffix}.duckdb"
        res = run_signal_job(job(start="2016-03-04", source=spec, store=store))
        s = res.summary
        assert s.rejected == {"bad published_at, asset or headline": 2}, spec
        assert s.news_in == 4 and s.dropped == {"after the last session's cutoff": 1}
        with SignalStore(store, read_only=True) as st:
            sig = st.signals()
        assert sig.loc[(pd.Timestamp("2016-03-04"), "AAPL"), "news_count"] == 1
        assert sig.loc[(pd.Timestamp("2016-03-04"), "MSFT"), "news_count"] == 1


@pytest.mark.data
def test_reuters_and_benzinga_through_the_job(tmp_path, shared_data):
    res = run_signal_job(job(start="2016-06-01", source="reuters", store=tmp_path / "r.duckdb",
                             universe=("AAPL", "MSFT", "GOOG")))
    assert res.summary.signal_rows == 3 and res.summary.news_in_window > 0
    res = run_signal_job(job("backfill", "2019-06-03", "2019-06-28", source="benzinga", store=tmp_path / "b.duckdb"))
    assert res.summary.signal_rows > 0 and res.summary.news_in_window > 0


# ---- live sources through the job --------------------------------------------------------------------
@pytest.fixture()
def feed_server():
    handler = partial(SimpleHTTPRequestHandler, directory=str(FIXTURES))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_rss_through_the_job_and_the_cli(tmp_path, feed_server, monkeypatch, capsys):
    monkeypatch.setenv("LLMOS_QUANT_CACHE", str(tmp_path / "cache"))
    store = tmp_path / "s.duckdb"
    res = run_signal_job(job(start="2025-01-31", source=f"rss:{feed_server}/markets.rss", store=store,
                             universe=("AAPL", "MSFT", "NVDA")))
    s = res.summary
    assert s.news_in >= 5 and s.rejected and s.signal_rows == 3
    with SignalStore(store, read_only=True) as st:
        sig = st.signals()
    assert sig["news_count"].sum() >= 1
    # the CLI: same source; a 404 is exit 5 naming the URL; no universe is exit 2
    argv = ["signals", "daily", "--date", "2025-01-31", "--source", f"rss:{feed_server}/markets.rss", "--backend", "lm",
            "--store", str(store), "--quiet"]
    assert main([*argv, "--universe", "AAPL,MSFT,NVDA"]) == 0
    assert main([*argv[:4], "--source", f"rss:{feed_server}/missing.rss", *argv[6:], "--universe", "AAPL"]) == 5
    assert "missing.rss" in capsys.readouterr().err
    assert main(argv) == 2
    assert "needs a universe" in capsys.readouterr().err
    # a live feed whose entries name none of the universe is alive (its entries are rejected with the reason): rows
    # without news, exit 0; a feed with no entries at all is exit 4 (the "a feed with no entries" CLI case)
    quiet = run_signal_job(job(start="2025-01-31", source=f"rss:{feed_server}/markets.rss", store=store,
                               universe=("KO",)))
    assert quiet.summary.signal_rows == 1 and quiet.summary.rejected


def test_network_down_fails_fast_with_exit_5(tmp_path, monkeypatch, capsys):
    import socket
    import time

    monkeypatch.setenv("LLMOS_QUANT_CACHE", str(tmp_path / "cache"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    t0 = time.monotonic()
    code = main(["signals", "daily", "--date", "2025-01-31", "--source", f"rss:http://127.0.0.1:{port}/feed",
                 "--universe", "AAPL", "--backend", "lm", "--store", str(tmp_path / "s.duckdb"), "--quiet"])
    assert code == 5 and time.monotonic() - t0 < 30
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


def test_yfinance_through_the_job_replaying_recorded_responses(tmp_path, monkeypatch, capsys):
    import yfinance

    monkeypatch.setenv("LLMOS_QUANT_CACHE", str(tmp_path / "cache"))
    recorded = json.loads((FIXTURES / "yfinance_get_news.json").read_text())

    class Replay:
        def __init__(self, ticker):
            self.ticker = ticker

        def get_news(self, count=50):
            return recorded[self.ticker]

    monkeypatch.setattr(yfinance, "Ticker", Replay)
    res = run_signal_job(job(start="2025-01-31", source="yfinance", store=tmp_path / "s.duckdb", universe=("AAPL", "MSFT")))
    assert res.summary.news_in >= 3 and res.summary.rejected and res.summary.signal_rows == 2
    # network down: every try fails -> the cache from the first run is used (offline rerun)
    monkeypatch.setattr(yfinance, "Ticker", lambda t: (_ for _ in ()).throw(ConnectionError("network is unreachable")))
    again = run_signal_job(job(start="2025-01-31", source="yfinance", store=tmp_path / "s.duckdb",
                               universe=("AAPL", "MSFT")))
    assert again.summary.input_hash == res.summary.input_hash
    # no universe: usage error through the CLI
    assert main(["signals", "daily", "--date", "2025-01-31", "--source", "yfinance", "--backend", "lm",
                 "--store", str(tmp_path / "s.duckdb"), "--quiet"]) == 2
    assert "needs a universe" in capsys.readouterr().err


def test_a_reader_can_read_while_a_job_is_scoring(tmp_path):
    """The job holds the store only while it reads its cache and while it writes: a report opens it meanwhile."""
    import subprocess
    import sys
    import textwrap
    import time

    store = tmp_path / "s.duckdb"
    run_signal_job(job(source="synthetic", store=store, universe=("ZACM", "ZBLU")))
    script = textwrap.dedent(f"""
        import time
        import pandas as pd
        from llmos_quant.encoders.sentiment import SentimentEncoder
        from llmos_quant.jobs import SignalJobConfig, run_signal_job

        class Slow(SentimentEncoder):
            def score(self, texts):
                print("scoring", flush=True)
                time.sleep(4)
                return super().score(texts)

        enc = Slow(SentimentEncoder.create("vader").backend)  # another model: nothing cached, so it scores
        run_signal_job(SignalJobConfig("daily", pd.Timestamp("2021-03-01"), pd.Timestamp("2021-03-01"), "synthetic",
                                       {str(store)!r}, ("ZACM", "ZBLU"), "vader", progress=False), encoder=enc)
        print("done", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=str(Path(__file__).resolve().parents[2]))
    assert proc.stdout.readline().strip() == "scoring"
    t0 = time.monotonic()
    with SignalStore(store, read_only=True, lock_timeout=2) as st:  # would wait (and fail) if the job held the file
        assert len(st.signals(model="lm")) == 2
    assert time.monotonic() - t0 < 2
    assert proc.stdout.readline().strip() == "done"
    assert proc.wait(timeout=60) == 0


def test_signals_runs_lists_provenance(tmp_path, capsys):
    store = str(tmp_path / "s.duckdb")
    assert main(["signals", "daily", "--date", "2021-03-01", "--source", "synthetic", "--backend", "lm", "--store", store,
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["signals", "runs", "--store", store]) == 0
    out = capsys.readouterr().out
    with SignalStore(store, read_only=True) as st:
        run = st.runs().iloc[0]
    assert run["run_id"] in out and run["input_hash"][:8] in out and "lm" in out  # the list abbreviates hashes
    assert run["input_hash"] not in out and "--run-id ID" in out
    assert main(["signals", "runs", "--store", store, "--run-id", run["run_id"]]) == 0
    full = capsys.readouterr().out
    assert '"source": "synthetic"' in full and "signal_rows" in full
    assert run["input_hash"] in full.replace("\n", "").replace("│", "").replace(" ", "")  # in full (rich may fold it)
    assert main(["signals", "runs", "--store", store, "--run-id", "nope"]) == 4
    assert main(["signals", "runs", "--store", str(tmp_path / "none.duckdb")]) == 4


def test_run_counts_add_up_stage_by_stage(tmp_path):
    """The summary reads top to bottom: what the reader refused or left out is not in news_in, and every row of
    news_in is collapsed, dropped by a named reason or in the window."""
    s = run_signal_job(job(source="synthetic", store=tmp_path / "s.duckdb", universe=None)).summary
    assert s.left_out_by_reader.get("published outside the job's news window", 0) > 0
    assert "published outside the job's news window" not in s.dropped
    assert s.news_in - s.duplicates_collapsed == s.news_unique
    assert s.news_unique - sum(s.dropped.values()) == s.news_in_window
    keys = list(s.rows())
    assert keys.index("left_out_by_reader: published outside the job's news window") < keys.index("news_in")
