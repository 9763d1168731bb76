"""Run every benchmark (each prints its table and writes bench/results/<name>.json), then render
docs/benchmarks.md from the JSON results.

    python bench/run_all.py            # all benchmarks (about 10 minutes on 2 cores)
    python bench/run_all.py --render   # only re-render docs/benchmarks.md from existing results
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPTS = ["sentiment_throughput.py", "factor_eval.py", "backtest_overhead.py", "backfill.py", "news_parser_eval.py",
           "ray_backfill.py", "device_throughput.py", "novelty.py"]


def load(name: str) -> dict | None:
    p = HERE / "results" / f"{name}.json"
    return json.loads(p.read_text()) if p.is_file() else None


def render() -> Path:
    out = ["# Benchmarks", "", "Each figure is a ratio against a baseline measured in the same run, on the same machine",
           "(2 CPU cores, no GPU). Reproduce with `python bench/run_all.py` (or the single script named per section).", ""]
    s = load("sentiment_throughput")
    if s:
        out += ["## Sentiment inference throughput (`bench/sentiment_throughput.py`)", "",
                f"{s['n_texts']:,} real Reuters headlines (2013-2016); the shipped model's weights in both stacks "
                "(transformers BertModel + the same mean-pooling head for the pipeline). Each configuration in its own "
                "process.", "",
                "| config | texts/s | x pipeline (bs=1) | x pipeline (bs=64) | label agreement | max abs prob diff "
                "| peak RSS MB |",
                "|---|---|---|---|---|---|---|"]
        for r in s["rows"]:
            out.append(f"| {r['config']} | {r['texts_per_s']} | {r['x_vs_pipeline_bs1']} | {r['x_vs_pipeline_bs64']} | "
                       f"{r['label_agreement_vs_pipeline']:.4f} | {r['max_abs_prob_diff']:.2e} | {r['peak_rss_mb']:.0f} |")
        out.append("")
    f = load("factor_eval")
    if f:
        out += ["## Factor evaluation vs alphalens-reloaded (`bench/factor_eval.py`)", "",
                f"S&P 500 prices {f['window'][0]}..{f['window'][1]}: {f['assets']} assets x {f['dates']} dates "
                f"({f['rows']:,} rows), 5-day momentum factor, periods 1/5/10, 5 quantiles. Full evaluation = clean "
                "factor + forward returns, rank IC, quantile mean returns (pooled and by date), factor-weighted returns.", "",
                "| implementation | seconds | peak RSS MB |", "|---|---|---|"]
        out += [f"| {r['impl']} | {r['seconds']} | {r['peak_rss_mb']} |" for r in f["table"]]
        out += ["", f"Speed-up: **{f['speedup']:.1f}x**; largest absolute difference of any number: "
                f"{max(f['max_abs_diff'].values()):.1e}.", ""]
    b = load("backtest_overhead")
    if b:
        out += ["## Backtest runner overhead (`bench/backtest_overhead.py`)", "",
                f"{b['assets']} S&P 500 assets, {b['window'][0]}..{b['window'][1]}, daily top/bottom-quintile "
                "long-short, 10 bps per side; the bare script is plain Backtrader with PandasData feeds.", "",
                "| implementation | seconds | bars/s | final value | peak RSS MB |", "|---|---|---|---|---|"]
        out += [f"| {r['impl']} | {r['seconds']} | {r['bars_per_s']} | {r['final_value']} | {r['peak_rss_mb']} |"
                for r in b["rows"]]
        out += ["", f"Our overhead vs the bare script: **{b['overhead']:+.1%}** (negative = faster); both end on "
                "the same portfolio value.", ""]
    k = load("backfill_llmos")
    if k:
        out += ["## Signal backfill (`bench/backfill.py`)", "",
                f"Reuters headlines {k['window'][0]}..{k['window'][1]} for S&P 500 tickers: {k['news_rows']:,} rows, "
                f"{k['unique_in_window']:,} unique in the window, {k['signal_rows']:,} signal rows, model {k['backend']}.", "",
                "| stage | seconds | items | items/s | share |", "|---|---|---|---|---|"]
        for st in k["stages"]:
            rate = st["items"] / max(st["seconds"], 1e-9)
            out.append(f"| {st['stage']} | {st['seconds']:.2f} | {st['items']:,} | {rate:.1f} | "
                       f"{st['seconds'] / k['total_s']:.1%} |")
        out += ["", f"Total {k['total_s']:.1f} s; time outside model inference: **{k['outside_inference_share']:.1%}** "
                "(target < 10%).", ""]
    r = load("ray_backfill")
    if r:
        out += ["## Backfill on Ray Data (`bench/ray_backfill.py`)", "",
                f"Reuters headlines for S&P 500 tickers, sessions {r['window'][0]}..{r['window'][1]}: {r['news_rows']:,} "
                f"rows, {r['headlines']:,} unique headlines scored by {r['backend']}, {r['signal_rows']:,} signal rows; "
                f"a fresh store per run. `--engine ray` with 1 and 2 CPU actors (one torch thread each, Ray "
                f"{r['ray_version']}, a local Ray of 2 CPUs) against the local engine at 2 torch threads, same run. "
                "Score seconds include starting the actors and loading the model in each; *first shard* is the time "
                "until the first scored block came back (actor start-up + one block), *steady* the throughput after "
                "it. Each actor writes its own Parquet shard (a separate `write_parquet` stage cost the actors about "
                "40% of their CPU on this 2-core machine: 1.12x before the change).", "",
                "| run | seconds | score seconds | headlines/s | x vs ray 1 worker (score) | x vs ray 1 worker (total) "
                "| first shard s | steady headlines/s | x steady | load avg 1 min before/after |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        out += [f"| {x['run']} | {x['seconds']:.1f} | {x['score_seconds']:.1f} | {x['headlines_per_s']:.1f} | "
                f"{x['x_vs_ray_1_worker']:.2f} | {x['x_total_vs_ray_1_worker']:.2f} | {x.get('first_shard_s', '-')} | "
                f"{x.get('steady_headlines_per_s', '-')} | {x.get('x_steady_vs_ray_1_worker', '-')} | "
                f"{'/'.join(str(v) for v in x.get('loadavg_1min_before_after', ['-']))} |" for x in r["rows"]]
        two = next((x for x in r["rows"] if x["run"].startswith("ray, 2 ")), None)
        out += ["", (f"2 workers vs 1: **{two['x_vs_ray_1_worker']:.2f}x** on scoring including start-up, "
                     f"**{two.get('x_steady_vs_ray_1_worker', float('nan')):.2f}x** in steady state (target >= "
                     f"{r['target_speedup_2_workers']}x). " if two else "")
                + f"The Ray runs' stored signals are identical: **{r['ray_signals_identical']}**; local vs Ray largest "
                f"absolute signal difference: {r['local_vs_ray_max_abs_diff']:.1e} (float32 rounding of differently "
                "batched texts). A load average above 2 means other processes shared the 2 cores during that run, "
                "so its ratios are not a clean scaling measurement.", ""]
    d = load("device_throughput")
    if d:
        out += ["## Device throughput and the hardware limit (`bench/device_throughput.py`)", "",
                f"**{d['note']}.** {d['n_texts']:,} Reuters headlines ({d['unique_texts']:,} unique; mean "
                f"{d['mean_tokens']:.1f} tokens), the shipped model against `transformers.pipeline` on the same device "
                f"and weights. Model cost {d['gflop_per_headline']:.3f} GFLOP per headline (2 x non-embedding "
                f"parameters per token + attention); the machine's peak is the best large square matmul in "
                f"{d['peak_dtype'].split('.')[-1]} measured in the same run: {d['peak_matmul_gflop_s']:,.0f} GFLOP/s. "
                f"The tokenizer alone (one call over all texts) took {d['tokenizer_alone_s']:.2f} s.", "",
                "| config | headlines/s | x pipeline | achieved GFLOP/s | fraction of peak matmul | tokenization share |",
                "|---|---|---|---|---|---|"]
        out += [f"| {x['config']} | {x['texts_per_s']:,.0f} | {x['x_vs_pipeline']:.2f} | {x['achieved_gflop_s']:,.0f} | "
                f"{x['fraction_of_peak']:.1%} | {x['tokenization_share']:.1%} |" if 'tokenization_share' in x else
                f"| {x['config']} | {x['texts_per_s']:,.0f} | {x['x_vs_pipeline']:.2f} | {x['achieved_gflop_s']:,.0f} | "
                f"{x['fraction_of_peak']:.1%} | - |" for x in d["rows"]]
        agree = ", ".join(f"{k} {v:.4f}" for k, v in d["label_agreement_vs_pipeline"].items())
        out += ["", f"Label agreement with the pipeline: {agree}. GPU target: >= {d['target_gpu_headlines_per_s']:,} "
                "headlines/s on an H200 in bf16 including tokenization"
                + ("." if d["gpu"] else "; not measured here (no GPU was lent to this run). On a GPU machine run "
                   "`python bench/device_throughput.py --compile` (100,000 headlines by default)."), ""]
    nv = load("novelty")
    if nv:
        f = nv["found"]
        out += ["## News novelty from embeddings (`bench/novelty.py`)", "",
                f"{f['items']:,} Reuters headlines of S&P 500 tickers (2016-01-04..2016-06-30, after the exact-text "
                "dedupe). The embedding pass (the LLMOS encoder with the MiniLM weights, mean-pooled) against the "
                "sentiment scoring pass on the same headlines, same run; then the same-ticker similarity search over "
                f"the previous {nv['lookback_sessions']} sessions.", "",
                "| pass | seconds | headlines/s | x vs scoring |", "|---|---|---|---|"]
        out += [f"| {r['pass']} | {r['seconds']} | {r['headlines_per_s']:,.1f} | {r['x_vs_scoring']} |" for r in nv["rows"]]
        out += ["", f"Near-duplicates at cosine >= {nv['duplicate_threshold']}: {f['near_duplicates_at_0.95']:,} of "
                f"{f['items']:,} items (beyond exact text); {f['share_with_an_earlier_item_above_0.8']:.1%} have an "
                f"earlier same-ticker item above 0.8; median novelty {f['median_novelty']:.3f}. The first five "
                "near-duplicates and their closest earlier item:", ""]
        out += [f"- {e['asset']}: \"{e['headline']}\" ~ \"{e['closest_earlier']}\" ({e['similarity']})"
                for e in nv["examples"]]
        out += ["", "The last example is two different contracts ($5.3 billion and more than $1 billion) above the "
                "threshold: the collapse can merge distinct stories that share a template, so the study weights by "
                "novelty without collapsing (`NoveltyConfig(collapse=False)`), and the threshold is a parameter.", ""]
    path = ROOT / "docs" / "benchmarks.md"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(out))
    return path


def main() -> None:
    if "--render" not in sys.argv:
        for script in SCRIPTS:
            print(f"== {script}", flush=True)
            subprocess.run([sys.executable, str(HERE / script)], check=True, cwd=ROOT)
    print("written", render())


if __name__ == "__main__":
    main()
