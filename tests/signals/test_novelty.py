"""News novelty from embeddings on constructed repeats (llmos_quant.signals.novelty)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmos_quant.data.calendar import trading_sessions
from llmos_quant.signals.novelty import Embedder, NoveltyConfig, item_novelty
from llmos_quant.signals.pipeline import run_signals
from llmos_quant.signals.store import SignalStore

SESSIONS = trading_sessions("2016-03-01", "2016-03-31")


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


def _items(rows):
    frame = pd.DataFrame(rows, columns=["date", "asset", "headline"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["published_at"] = frame["date"].dt.tz_localize("UTC") + pd.to_timedelta(np.arange(len(frame)), unit="min")
    return frame


def test_repeats_rewrites_and_new_stories(embedder):
    items = _items([
        ("2016-03-01", "ACME", "Acme Corp quarterly profit rises 20 percent on strong demand"),
        ("2016-03-02", "ACME", "Acme Corp quarterly profit rises 20 percent on strong demand"),  # exact repeat
        ("2016-03-02", "ACME", "UPDATE 2-Acme Corp quarterly profit rises 20 pct on strong demand"),  # rewrite
        ("2016-03-03", "ACME", "Acme to close two plants in Ohio, cutting 800 jobs"),  # a new story
        ("2016-03-03", "BETA", "Acme Corp quarterly profit rises 20 percent on strong demand"),  # other ticker
        ("2016-03-29", "ACME", "Acme Corp quarterly profit rises 20 percent on strong demand"),  # beyond the lookback
    ])
    emb = embedder.embed(items["headline"].tolist())
    assert emb.shape == (6, 384) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    nov = item_novelty(items, emb, lookback_sessions=5, duplicate_threshold=0.9, sessions=SESSIONS)
    assert nov.loc[0, "novelty"] == pytest.approx(1.0) and not nov.loc[0, "near_duplicate"]  # nothing earlier
    assert nov.loc[1, "max_similarity"] == pytest.approx(1.0, abs=1e-5) and nov.loc[1, "near_duplicate"]
    assert nov.loc[2, "max_similarity"] > 0.9 and nov.loc[2, "near_duplicate"]
    assert nov.loc[3, "novelty"] > 0.3 and not nov.loc[3, "near_duplicate"]
    assert nov.loc[4, "novelty"] == pytest.approx(1.0)  # BETA has no earlier news
    assert nov.loc[5, "novelty"] > 0.3 and not nov.loc[5, "near_duplicate"]  # 19 sessions later: outside 5


def test_novelty_is_point_in_time(embedder):
    """Adding later news never changes an earlier item's novelty."""
    base = _items([("2016-03-01", "ACME", "Acme wins a large defence contract"),
                   ("2016-03-02", "ACME", "Acme chief executive resigns")])
    more = pd.concat([base, _items([("2016-03-03", "ACME", "Acme chief executive resigns unexpectedly")])],
                     ignore_index=True)
    more.loc[2, "published_at"] += pd.Timedelta(hours=2)
    a = item_novelty(base, embedder.embed(base["headline"].tolist()), sessions=SESSIONS)
    b = item_novelty(more, embedder.embed(more["headline"].tolist()), sessions=SESSIONS)
    pd.testing.assert_frame_equal(a, b.iloc[:2])


def test_pipeline_collapses_near_duplicates_and_adds_novel_sentiment(tmp_path, embedder):
    from llmos_quant.encoders.sentiment import SentimentEncoder

    acme = ["Acme shares jump after record quarter", "Acme stock rallies on record quarterly results",
            "Record quarter lifts Acme shares", "Acme gains as quarterly results beat records",
            "Investors cheer Acme's record quarter", "Acme shares climb after strong record results",
            "Acme posts record quarter, stock rises", "Acme rally continues after record quarter",
            "Acme stock up again on record quarterly sales", "Shares of Acme extend gains after record quarter"]
    rows = []
    for d, text in zip(SESSIONS[:10], acme, strict=True):
        rows.append((d, "ACME", text))
        rows.append((d, "BETA", "Beta Inc warns of weak demand, shares slump"))  # the same story every day
    news = pd.DataFrame(rows, columns=["published_at", "asset", "headline"])
    news["published_at"] = pd.to_datetime(news["published_at"]).dt.tz_localize("America/New_York") + pd.Timedelta(
        hours=10)
    from llmos_quant.data.news import news_from_table

    news = news_from_table(news.assign(published_at=news["published_at"].dt.tz_convert("UTC")), source="test").frame
    store = tmp_path / "s.duckdb"
    s = run_signals(news, SentimentEncoder.create("vader"), store, SESSIONS[0], SESSIONS[9], progress=False,
                    novelty=NoveltyConfig(lookback_sessions=5, duplicate_threshold=0.95), embedder=embedder)
    dropped = {k: v for k, v in s.dropped.items() if k.startswith("near-duplicate")}
    assert s.duplicates_collapsed == 9  # BETA's exact repeats: the text dedupe, before novelty
    assert sum(dropped.values()) <= 2  # paraphrases mostly stay below the 0.95 collapse threshold
    with SignalStore(store, read_only=True) as st:
        sig = st.signals()
    assert "novel_sentiment" in sig.columns
    beta = sig.xs("BETA", level="asset")
    assert beta["news_count"].sum() == 1 and beta["novel_sentiment"].notna().all()
    first = beta["sentiment"].iloc[0]
    assert beta["novel_sentiment"].iloc[0] == pytest.approx(first)  # the first item is fully novel
    acme = sig.xs("ACME", level="asset")
    news_days = acme["news_count"] > 0
    assert news_days.sum() >= 8
    # ACME's later items retell the same story: novelty discounts them, the first counts in full
    assert acme["novel_sentiment"].iloc[0] == pytest.approx(acme["sentiment"].iloc[0])
    later = news_days & (acme.index > acme.index[0])
    nov, sent = acme.loc[later, "novel_sentiment"].abs(), acme.loc[later, "sentiment"].abs()
    assert (nov <= sent + 1e-12).all() and (nov < sent)[sent > 0].all() and (sent > 0).sum() >= 4
    with SignalStore(store, read_only=True) as st:
        params = st.runs().iloc[-1]
    assert "novelty" in str(params.to_dict())
