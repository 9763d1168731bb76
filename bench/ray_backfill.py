"""Reuters backfill on the Ray Data engine: 1 vs 2 CPU scoring actors (each pinned to one torch thread), with the
local engine at 2 torch threads in the same run as the baseline.

The slice: Reuters headlines for S&P 500 tickers, sessions 2016-01-04..2016-12-30 (news from 120 days before),
scored with the shipped llmos model; a fresh store (no score cache) per run. The two Ray runs' stored signals
must be identical (their batches do not depend on the number of workers); the local run is compared to 1e-6.

    python bench/ray_backfill.py [--start 2016-01-04] [--end 2016-12-30] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, write  # noqa: E402

PROVENANCE = ["run_id", "written_at"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", default="2016-01-04")
    ap.add_argument("--end", default="2016-12-30")
    ap.add_argument("--lookback-days", type=int, default=120)
    ap.add_argument("--limit", type=int, default=0, help="only the last N news rows (smoke runs)")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()

    import numpy as np
    import pandas as pd
    import ray
    import torch

    from llmos_quant.data.prices import read_sp500_csvs
    from llmos_quant.encoders.sentiment import SentimentEncoder
    from llmos_quant.jobs.registry import load_news
    from llmos_quant.signals.pipeline import run_signals
    from llmos_quant.signals.ray_engine import RayScorer, ray_session
    from llmos_quant.signals.store import SignalStore

    start = pd.Timestamp(args.start)
    news = load_news("reuters", start - pd.Timedelta(days=args.lookback_days), args.end).frame
    sp500 = set(read_sp500_csvs(start="2013-02-08", end="2013-03-01").index.get_level_values("asset"))
    news = news[news["asset"].isin(sp500)].reset_index(drop=True)
    if args.limit:
        news = news.tail(args.limit).reset_index(drop=True)
    universe = sorted(sp500)
    workers = [int(w) for w in args.workers.split(",")]
    torch.set_num_threads(2)
    encoder = SentimentEncoder.create("llmos", progress=False)  # names the model + weights hash (the cache key)
    rows, signals = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        def one(name: str, score_fn=None) -> None:
            store = Path(tmp) / f"{name.replace(' ', '_')}.duckdb"
            load_before = os.getloadavg()[0]
            t0 = time.perf_counter()
            s = run_signals(news, encoder, store, args.start, args.end, universe=universe, progress=False,
                            score_fn=score_fn)
            total = time.perf_counter() - t0
            with SignalStore(store, read_only=True) as st:
                signals[name] = st.signals().drop(columns=PROVENANCE)
            rows.append({"run": name, "seconds": round(total, 2), "score_seconds": round(s.seconds["score"], 2),
                         "headlines": s.scored_new, "headlines_per_s": round(s.scored_new / s.seconds["score"], 1),
                         "signal_rows": s.signal_rows, "loadavg_1min_before_after": [round(load_before, 2),
                                                                                     round(os.getloadavg()[0], 2)]})
            print(f"  {name}: {total:.1f} s ({s.scored_new:,} headlines scored in {s.seconds['score']:.1f} s)", flush=True)

        one("local, 2 threads")
        with ray_session(None, num_cpus=max(workers)):
            ray.data.DataContext.get_current().enable_progress_bars = False
            for w in workers:
                scorer = RayScorer("llmos", workers=w, scratch=tmp, progress=False)
                one(f"ray, {w} worker{'s' if w > 1 else ''}", scorer)
                rows[-1]["ray"] = scorer.last
                last = scorer.last  # steady state: the rows after the first shard, over the time after it
                rows[-1]["first_shard_s"] = round(last["seconds_to_first_shard"], 2)
                rows[-1]["steady_headlines_per_s"] = round(
                    (last["items"] - last["rows_per_call"]) / max(1e-9, last["seconds_score_write"]
                                                                  - last["seconds_to_first_shard"]), 1)
    base = next(r for r in rows if r["run"].startswith("ray, 1 "))
    for r in rows:
        if "steady_headlines_per_s" in r:
            r["x_steady_vs_ray_1_worker"] = round(r["steady_headlines_per_s"] / base["steady_headlines_per_s"], 2)
        r["x_vs_ray_1_worker"] = round(base["score_seconds"] / r["score_seconds"], 2)
        r["x_total_vs_ray_1_worker"] = round(base["seconds"] / r["seconds"], 2)
    ray_runs = [k for k in signals if k.startswith("ray")]
    ref = signals[ray_runs[0]]
    ray_identical = all(signals[k].equals(ref) for k in ray_runs[1:])
    num = ref.select_dtypes("number").columns
    local_max_diff = float(np.nanmax(np.abs(signals["local, 2 threads"][num].to_numpy(float) - ref[num].to_numpy(float))))
    print(f"Reuters S&P 500 backfill {args.start}..{args.end}: {len(news):,} news rows, {rows[0]['headlines']:,} "
          f"headlines scored, {rows[0]['signal_rows']:,} signal rows, model {encoder.model_name}")
    print(f"{'run':20s} {'seconds':>8s} {'score s':>8s} {'headlines/s':>12s} {'x vs 1 worker (score)':>22s} "
          f"{'x (total)':>10s} {'first shard s':>14s} {'steady h/s':>11s} {'x steady':>9s}")
    for r in rows:
        print(f"{r['run']:20s} {r['seconds']:8.1f} {r['score_seconds']:8.1f} {r['headlines_per_s']:12.1f} "
              f"{r['x_vs_ray_1_worker']:22.2f} {r['x_total_vs_ray_1_worker']:10.2f} {r.get('first_shard_s', '-'):>14} "
              f"{r.get('steady_headlines_per_s', '-'):>11} {r.get('x_steady_vs_ray_1_worker', '-'):>9}")
    print(f"ray runs' signals identical: {ray_identical}; local vs ray max abs signal diff: {local_max_diff:.1e}")
    write("ray_backfill", {
        "machine": machine(), "window": [args.start, args.end], "news_rows": len(news),
        "headlines": rows[0]["headlines"], "signal_rows": rows[0]["signal_rows"], "backend": encoder.model_name,
        "ray_version": ray.__version__, "rows": rows, "ray_signals_identical": ray_identical,
        "local_vs_ray_max_abs_diff": local_max_diff, "target_speedup_2_workers": 1.8,
    })


if __name__ == "__main__":
    main()
