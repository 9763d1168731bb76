from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from llmos_quant.errors import DataNotFoundError, StoreError, UsageError
from llmos_quant.signals.aggregate import SIGNAL_COLUMNS
from llmos_quant.signals.store import SignalStore


def signals_for(dates, assets=("A", "B"), value=0.1):
    idx = pd.MultiIndex.from_product([pd.to_datetime(dates), list(assets)], names=["date", "asset"])
    frame = pd.DataFrame({c: value for c in SIGNAL_COLUMNS}, index=idx)
    frame["news_count"] = 1
    return frame


def test_rewrite_replaces_never_duplicates(tmp_path):
    with SignalStore(tmp_path / "s.duckdb") as st:
        st.write_signals(signals_for(["2016-06-01", "2016-06-02"]), "m", "h")
        st.write_signals(signals_for(["2016-06-02"], value=0.9), "m", "h")
        got = st.signals(model="m")
        assert len(got) == 4
        assert got.loc[("2016-06-02", "A"), "sentiment"] == 0.9
        assert got.loc[("2016-06-01", "A"), "sentiment"] == 0.1
        assert (got["code_version"] != "").all() and (got["weights_hash"] == "h").all()
        st.write_signals(signals_for(["2016-06-02"], value=0.5), "other", "h2")
        with pytest.raises(UsageError, match="several models.*--model"):
            st.signals()


def test_exception_mid_write_rolls_back(tmp_path):
    with SignalStore(tmp_path / "s.duckdb") as st:
        st.write_signals(signals_for(["2016-06-01"]), "m")

        def boom():
            raise RuntimeError("disk full")

        with pytest.raises(RuntimeError, match="disk full"):
            st.write_signals(signals_for(["2016-06-01"], value=0.7), "m", _between=boom)
        assert st.signals(model="m")["sentiment"].tolist() == [0.1, 0.1]


def test_process_crash_mid_write_leaves_previous_state(tmp_path):
    path = tmp_path / "s.duckdb"
    with SignalStore(path) as st:
        st.write_signals(signals_for(["2016-06-01"]), "m")
    script = textwrap.dedent(f"""
        import os, pandas as pd
        from llmos_quant.signals.store import SignalStore
        from tests.signals.test_store import signals_for
        st = SignalStore({str(path)!r})
        st.write_signals(signals_for(["2016-06-01", "2016-06-02"], value=0.7), "m", _between=lambda: os._exit(3))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert proc.returncode == 3
    with SignalStore(path) as st:
        got = st.signals(model="m")
    assert len(got) == 2 and got["sentiment"].tolist() == [0.1, 0.1]


def test_news_and_scores_are_upserted(tmp_path, market):
    from llmos_quant.encoders.sentiment import SentimentEncoder

    news = market.news.head(5)
    enc = SentimentEncoder.create("vader")
    with SignalStore(tmp_path / "s.duckdb") as st:
        st.write_news(news)
        st.write_news(news)
        scores = enc.score(news["headline"])
        st.write_scores(news["id"], scores, enc.model_name, "")
        st.write_scores(news["id"], scores, enc.model_name, "")
        assert st.counts()["news"] == 5 and st.counts()["scores"] == 5
        cached = st.cached_scores(news["id"], enc.model_name, "")
        assert sorted(cached.index) == sorted(news["id"])


def test_rewrite_replaces_exactly_the_recomputed_assets(tmp_path):
    with SignalStore(tmp_path / "s.duckdb") as st:
        st.write_signals(signals_for(["2016-06-01"], assets=("A", "B", "C")), "m", run_id="r1")
        st.write_signals(signals_for(["2016-06-01"], assets=("A",), value=0.9), "m", run_id="r2")
        got = st.signals(model="m")
    assert got.index.get_level_values("asset").tolist() == ["A", "B", "C"]
    assert got["sentiment"].tolist() == [0.9, 0.1, 0.1] and got["run_id"].tolist() == ["r2", "r1", "r1"]


def test_read_only_readers_and_a_writer_that_holds_the_file(tmp_path):
    path = tmp_path / "s.duckdb"
    with pytest.raises(DataNotFoundError, match="does not exist"):
        SignalStore(path, read_only=True)
    with SignalStore(path) as st:
        st.write_signals(signals_for(["2016-06-01"]), "m")
    with SignalStore(path, read_only=True) as a, SignalStore(path, read_only=True) as b:  # several readers at once
        assert len(a.signals()) == len(b.signals()) == 2
        with pytest.raises(StoreError, match="read-only"):
            a.write_signals(signals_for(["2016-06-02"]), "m")
    # another process holds the file for writing for a moment: a reader waits (bounded) and then reads
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time, duckdb
        con = duckdb.connect({str(path)!r})
        print("locked", flush=True)
        time.sleep(1.5)
        con.close()
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with SignalStore(path, read_only=True, lock_timeout=20) as st:
        assert len(st.signals()) == 2
    holder.wait(timeout=20)
    holder2 = subprocess.Popen([sys.executable, "-c", f"import time, duckdb; con = duckdb.connect({str(path)!r}); "
                                "print('locked', flush=True); time.sleep(5)"], stdout=subprocess.PIPE, text=True)
    assert holder2.stdout.readline().strip() == "locked"
    with pytest.raises(StoreError, match="another process"):
        SignalStore(path, read_only=True, lock_timeout=0.5)
    holder2.kill()
    holder2.wait()


def test_old_stores_are_migrated(tmp_path):
    import duckdb

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE scores (id VARCHAR, model VARCHAR, weights_hash VARCHAR, p_negative DOUBLE, "
                "p_neutral DOUBLE, p_positive DOUBLE, score DOUBLE, valid BOOLEAN, PRIMARY KEY (id, model, weights_hash))")
    con.execute("INSERT INTO scores VALUES ('x', 'm', 'h', 0.1, 0.8, 0.1, 0.0, true)")
    con.close()
    with SignalStore(path) as st:
        cols = [r[0] for r in st.con.execute("DESCRIBE scores").fetchall()]
        assert "run_id" in cols and st.counts()["scores"] == 1


def test_damaged_blocks_are_a_store_error_naming_the_fix(tmp_path):
    """A store whose header is intact but whose data blocks are damaged opens, then fails on read: StoreError (exit
    7) with what to do, not DuckDB's bare error (exit 1)."""
    import os

    import numpy as np

    dates = pd.bdate_range("2010-01-01", periods=1500)
    idx = pd.MultiIndex.from_product([dates, [f"A{i}" for i in range(40)]], names=["date", "asset"])
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.normal(size=len(idx)) for c in SIGNAL_COLUMNS}, index=idx)
    frame["news_count"] = 1
    path = tmp_path / "s.duckdb"
    with SignalStore(path) as st:
        st.write_signals(frame, "m", "h")
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 3)
        f.write(np.random.default_rng(1).bytes(size // 3))
    with SignalStore(path, read_only=True) as st, pytest.raises(StoreError, match="reading the signal store") as err:
        st.signals()
    assert err.value.exit_code == 7 and "backup" in str(err.value) and "Corrupt" in str(err.value)
    assert os.path.getsize(path) == size  # reading changed nothing
