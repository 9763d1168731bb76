"""Throughput of the shipped sentiment model on this machine's best device, against ``transformers.pipeline`` on the
same device and weights, with the share of time spent in tokenization and the fraction of the hardware's measured
peak matmul rate that the model reaches.

On a CUDA GPU (``--n`` default 100,000 real Reuters headlines): ours in bf16 (token-budget length buckets,
tokenization in a background thread, pinned-memory copies), optionally with ``torch.compile`` (``--compile``), and
the pipeline in bf16 at batch 256. Without a GPU the same script runs on the CPU (``--n`` default 5,000, fp32, the
pipeline at batch 64) and says that no GPU was available.

FLOPs per headline: 2 x (non-embedding parameters) per token + attention (4 x T^2 x hidden per layer), from the
measured token counts (MiniLM-L6: about 0.43 GFLOP for a 20-token headline). Peak: the best of a few large square
matmuls in the same dtype (fp32 on the CPU, bf16 on the GPU), measured in the same run.

    python bench/device_throughput.py [--n N] [--compile] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, write  # noqa: E402


def headlines(n: int) -> tuple[list[str], int]:
    """``n`` real Reuters headlines (all years in the file; repeats only when it holds fewer unique ones)."""
    from llmos_quant.data.news import read_reuters_csv

    unique = read_reuters_csv().frame["headline"].dropna().drop_duplicates().sample(frac=1.0, random_state=0).tolist()
    reps = -(-n // len(unique))
    return (unique * reps)[:n], len(unique)


def peak_matmul(device, dtype, size: int, seconds: float = 2.0) -> float:
    """GFLOP/s of the best of repeated (size x size) @ (size x size) products."""
    import torch

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 4 * 2 * size ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def flops_per_text(model, token_counts) -> float:
    import numpy as np

    cfg = model.config
    non_embedding = sum(p.numel() for n, p in model.named_parameters() if "embed" not in n)
    t = np.asarray(token_counts, dtype=np.float64)
    return float(np.mean(2 * non_embedding * t + 4 * t ** 2 * cfg.hidden_size * cfg.num_layers))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=0, help="headlines (default 100,000 on a GPU, 5,000 on the CPU)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true", help="also time ours with torch.compile")
    args = ap.parse_args()

    import numpy as np
    import torch
    from transformers import AutoTokenizer, pipeline

    from bench.sentiment_throughput import hf_model
    from llmos_quant.encoders.sentiment import SentimentEncoder
    from llmos_quant.llmos.convert import minilm_path
    from llmos_quant.llmos.fit import pick_device

    device = pick_device(args.device)
    gpu = device.type == "cuda"
    n = args.n or (100_000 if gpu else 5_000)
    texts, n_unique = headlines(n)
    note = (f"GPU: {torch.cuda.get_device_name(device)}" if gpu else
            "no GPU was available to this run: CPU figures only (fp32)")
    print(note, flush=True)
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))

    t0 = time.perf_counter()
    ids = tok(texts, truncation=True, max_length=128, padding=False)["input_ids"]
    tokenize_s = time.perf_counter() - t0
    counts = [len(x) for x in ids]

    rows = []

    def ours(name: str, **kw) -> np.ndarray:
        enc = SentimentEncoder.create("llmos", device=str(device), progress=False, **kw)
        enc.score(texts[:2048])  # warm-up (and compilation)
        if gpu:
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = enc.score(texts)
        dt = time.perf_counter() - t
        stats = enc.backend.predictor.stats
        rows.append({"config": name, "texts_per_s": round(n / dt, 1), "seconds": round(dt, 2),
                     "tokenize_s_inside": round(stats.get("tokenize_s", 0.0), 2)})
        print(f"  {name}: {n / dt:,.0f} headlines/s", flush=True)
        return out[["p_negative", "p_neutral", "p_positive"]].to_numpy()

    probs = {"ours": ours("ours (bf16, token-budget buckets, background tokenizer)" if gpu else "ours (fp32, batch 64)")}
    if args.compile:
        probs["ours+compile"] = ours("ours + torch.compile", compile=True)

    model = hf_model()
    pipe_kw = {"torch_dtype": torch.bfloat16} if gpu else {}
    if gpu:
        model = model.to(torch.bfloat16)
    bs = 256 if gpu else 64
    pipe = pipeline("text-classification", model=model, tokenizer=tok, device=device, top_k=None, batch_size=bs,
                    truncation=True, max_length=128, **pipe_kw)
    pipe(texts[:512])
    t = time.perf_counter()
    res = pipe(texts)
    dt = time.perf_counter() - t
    order = ["negative", "neutral", "positive"]
    probs["pipeline"] = np.array([[{d["label"]: d["score"] for d in row}[lab] for lab in order] for row in res])
    rows.append({"config": f"transformers.pipeline (batch {bs}{', bf16' if gpu else ''})", "texts_per_s": round(n / dt, 1),
                 "seconds": round(dt, 2)})
    print(f"  pipeline: {n / dt:,.0f} headlines/s", flush=True)

    from llmos_quant.encoders.adapter import load_adapter
    from llmos_quant.encoders.sentiment import DEFAULT_ADAPTER

    flops = flops_per_text(load_adapter(DEFAULT_ADAPTER), counts)
    dtype = torch.bfloat16 if gpu else torch.float32
    peak = peak_matmul(device, dtype, 8192 if gpu else 2048)
    base = rows[-1]["texts_per_s"]
    for r in rows:
        r["x_vs_pipeline"] = round(r["texts_per_s"] / base, 2)
        r["achieved_gflop_s"] = round(r["texts_per_s"] * flops / 1e9, 1)
        r["fraction_of_peak"] = round(r["texts_per_s"] * flops / 1e9 / peak, 3)
        if "tokenize_s_inside" in r:
            r["tokenization_share"] = round(r["tokenize_s_inside"] / r["seconds"], 3)
    ref = probs["pipeline"]
    agreement = {k: float((v.argmax(1) == ref.argmax(1)).mean()) for k, v in probs.items() if k != "pipeline"}

    print(f"\n{n:,} Reuters headlines ({n_unique:,} unique), mean {np.mean(counts):.1f} tokens; {note}")
    print(f"tokenizer alone (one call, all texts): {tokenize_s:.2f} s = {n / tokenize_s:,.0f} headlines/s")
    print(f"model cost {flops / 1e9:.3f} GFLOP/headline; measured peak matmul ({str(dtype).split('.')[-1]}): "
          f"{peak:,.0f} GFLOP/s")
    print(f"{'config':58s} {'headlines/s':>12s} {'x pipeline':>10s} {'GFLOP/s':>9s} {'of peak':>8s} {'tok share':>9s}")
    for r in rows:
        print(f"{r['config']:58s} {r['texts_per_s']:12,.0f} {r['x_vs_pipeline']:10.2f} {r['achieved_gflop_s']:9,.0f} "
              f"{r['fraction_of_peak']:8.1%} {r.get('tokenization_share', float('nan')):9.1%}")
    print("label agreement with the pipeline:", {k: round(v, 4) for k, v in agreement.items()})
    print("written", write("device_throughput", {
        "machine": machine(), "device": str(device), "gpu": gpu, "note": note, "n_texts": n, "unique_texts": n_unique,
        "mean_tokens": float(np.mean(counts)), "tokenizer_alone_s": tokenize_s, "gflop_per_headline": flops / 1e9,
        "peak_matmul_gflop_s": peak, "peak_dtype": str(dtype), "rows": rows, "label_agreement_vs_pipeline": agreement,
        "target_gpu_headlines_per_s": 100_000,
    }))


if __name__ == "__main__":
    main()
