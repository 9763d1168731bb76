from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

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
        with pytest.raises(Exception, match="several models"):
            st.signals()


def test_exception_mid_write_rolls_back(tmp_path):
    with SignalStore(tmp_path / "s.duckdb") as st:
        st.write_signals(signals_for(["2016-06-01"]), "m")

        def boom():
            raise RuntimeError("disk full")

        with pytest.raises(RuntimeError):
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
