"""End-to-end backfill of the Reuters headlines (S&P 500 window up to 2016-12-30) through the signal pipeline.

Stages: load + parse the CSV, dedupe + point-in-time sessions, score (model inference), aggregate, store.
Reports texts/s per stage, total wall time, and the share of time spent outside model inference
(target: under 10%). Uses a fresh temporary store (no score cache).

    python bench/backfill.py [--backend llmos] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, write  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="llmos")
    ap.add_argument("--start", default="2013-02-08")
    ap.add_argument("--end", default="2016-12-30")
    ap.add_argument("--limit", type=int, default=0, help="only the first N news rows (smoke runs)")
    args = ap.parse_args()

    from llmos_quant.data.prices import read_sp500_csvs
    from llmos_quant.encoders.sentiment import SentimentEncoder
    from llmos_quant.jobs.registry import load_news
    from llmos_quant.signals.pipeline import run_signals
    from llmos_quant.signals.store import SignalStore

    t0 = time.perf_counter()
    news = load_news("reuters", args.start, args.end).frame
    sp500 = set(read_sp500_csvs(start=args.start, end="2013-03-01").index.get_level_values("asset"))
    news = news[news["asset"].isin(sp500)].reset_index(drop=True)
    if args.limit:
        news = news.head(args.limit)
    load_s = time.perf_counter() - t0
    encoder = SentimentEncoder.create(args.backend, **({"progress": False} if args.backend in ("llmos", "hf") else {}))
    with tempfile.TemporaryDirectory() as tmp, SignalStore(Path(tmp) / "bench.duckdb") as store:
        s = run_signals(news, encoder, store, args.start, args.end, universe=sorted(sp500), progress=False)
    total = load_s + s.seconds["total"]
    outside = total - s.seconds["score"]
    # scoring includes the store's cache lookup and score writes; split them out of "inference"
    rows = [
        ("load + parse CSV", load_s, len(news)),
        ("dedupe + sessions", s.seconds["prepare"], s.news_unique),
        ("score (inference + cache I/O)", s.seconds["score"], s.scored_new),
        ("aggregate", s.seconds["aggregate"], s.signal_rows),
        ("store signals", s.seconds["store"], s.signal_rows),
    ]
    print(f"backfill {args.start}..{args.end}: {len(news):,} news rows, {s.news_in_window:,} unique in window, "
          f"{s.signal_rows:,} signal rows, backend {encoder.model_name}")
    print(f"{'stage':32s} {'seconds':>9s} {'items':>9s} {'items/s':>10s} {'share':>7s}")
    for name, sec, n in rows:
        print(f"{name:32s} {sec:9.2f} {n:9d} {n / max(sec, 1e-9):10.1f} {sec / total:7.1%}")
    print(f"total {total:.1f} s; outside model inference: {outside:.1f} s = {outside / total:.1%} (target < 10%)")
    write(f"backfill_{args.backend}", {
        "machine": machine(), "window": [args.start, args.end], "news_rows": len(news),
        "unique_in_window": s.news_in_window, "signal_rows": s.signal_rows, "backend": encoder.model_name,
        "stages": [{"stage": n, "seconds": sec, "items": k} for n, sec, k in rows], "total_s": total,
        "outside_inference_share": outside / total,
    })


if __name__ == "__main__":
    main()
