"""The novelty pass (``signals.novelty``) on real Reuters news: embedding throughput against the sentiment scoring
pass on the same headlines (the baseline, same run), the similarity search's time, and what it finds.

Headlines: Reuters items for S&P 500 tickers published 2016-01-01..2016-06-30 (after the pipeline's exact-text
dedupe), point-in-time sessions; novelty against the same ticker's previous 5 sessions.

    python bench/novelty.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, write  # noqa: E402


def main() -> None:
    import numpy as np

    from llmos_quant.data.calendar import trading_sessions
    from llmos_quant.data.news import dedupe
    from llmos_quant.encoders.sentiment import SentimentEncoder
    from llmos_quant.jobs.registry import load_news, local_price_assets
    from llmos_quant.signals.aggregate import attach_sessions
    from llmos_quant.signals.novelty import Embedder, item_novelty

    news = load_news("reuters", "2016-01-04", "2016-06-30").frame
    news = news[news["asset"].isin(local_price_assets("sp500"))]
    items = attach_sessions(dedupe(news)).reset_index(drop=True)
    texts = items["headline"].tolist()
    sessions = trading_sessions("2015-12-01", "2016-07-31")

    enc = SentimentEncoder.create("llmos", progress=False)
    enc.score(texts[:64])
    t = time.perf_counter()
    enc.score(texts)
    score_s = time.perf_counter() - t

    emb = Embedder()
    emb.embed(texts[:64])
    t = time.perf_counter()
    vectors = emb.embed(texts)
    embed_s = time.perf_counter() - t

    t = time.perf_counter()
    nov = item_novelty(items, vectors, lookback_sessions=5, duplicate_threshold=0.95, sessions=sessions)
    search_s = time.perf_counter() - t

    n = len(texts)
    rows = [{"pass": "sentiment scoring (baseline)", "seconds": round(score_s, 2), "headlines_per_s": round(n / score_s, 1),
             "x_vs_scoring": 1.0},
            {"pass": "embedding (novelty)", "seconds": round(embed_s, 2), "headlines_per_s": round(n / embed_s, 1),
             "x_vs_scoring": round(score_s / embed_s, 2)},
            {"pass": "similarity search (same ticker, 5 sessions)", "seconds": round(search_s, 3),
             "headlines_per_s": round(n / search_s, 1), "x_vs_scoring": round(score_s / search_s, 2)}]
    found = {"items": n, "near_duplicates_at_0.95": int(nov["near_duplicate"].sum()),
             "share_with_an_earlier_item_above_0.8": float((nov["max_similarity"] >= 0.8).mean()),
             "median_novelty": float(nov["novelty"].median()),
             "novelty_quantiles": {str(q): float(nov["novelty"].quantile(q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)}}
    examples = []
    dup = items[nov["near_duplicate"].to_numpy()].head(5)
    for i, r in dup.iterrows():
        same = items["asset"] == r["asset"]  # "earlier" as item_novelty reads it: by time, ties by row order
        prior = items[same & ((items["published_at"] < r["published_at"])
                              | ((items["published_at"] == r["published_at"]) & (items.index < i)))]
        if len(prior):
            sims = vectors[prior.index] @ vectors[i]
            examples.append({"asset": r["asset"], "headline": r["headline"],
                             "closest_earlier": prior.iloc[int(np.argmax(sims))]["headline"],
                             "similarity": round(float(sims.max()), 3)})
    print(f"{n:,} Reuters headlines (S&P 500 tickers, 2016-01-04..2016-06-30, after the exact-text dedupe)")
    print(f"{'pass':45s} {'seconds':>8s} {'headlines/s':>12s} {'x vs scoring':>13s}")
    for r in rows:
        print(f"{r['pass']:45s} {r['seconds']:8.2f} {r['headlines_per_s']:12,.1f} {r['x_vs_scoring']:13.2f}")
    print(found)
    for e in examples:
        print(f"  {e['asset']}: {e['headline']!r} ~ {e['closest_earlier']!r} ({e['similarity']})")
    print("written", write("novelty", {"machine": machine(), "rows": rows, "found": found, "examples": examples,
                                       "lookback_sessions": 5, "duplicate_threshold": 0.95}))


if __name__ == "__main__":
    main()
