"""SentimentEncoder vs transformers.pipeline('text-classification') on the same weights and texts.

Texts: 5,000 real Reuters headlines (2013-2016) from ../shared/data. Weights: the shipped LLMOS sentiment
model (MiniLM + merged LoRA), exported into a transformers BertModel + the same mean-pooling classifier,
so that both run identical arithmetic. Each configuration runs in its own process (peak RSS is its own).

    python bench/sentiment_throughput.py [--n 5000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import isolated, machine, write  # noqa: E402


def headlines(n: int) -> list[str]:
    import pandas as pd

    from llmos_quant.data.news import read_reuters_csv

    news = read_reuters_csv().frame
    news = news[(news["published_at"] >= pd.Timestamp("2013-01-01", tz="UTC"))]
    news = news.drop_duplicates("headline").sample(n=n, random_state=0)
    return news["headline"].tolist()


def hf_model():
    """The shipped LLMOS classifier as a transformers model (BertModel + mean pooling + linear head)."""
    import torch
    from transformers import BertConfig, BertModel, BertPreTrainedModel
    from transformers.modeling_outputs import SequenceClassifierOutput

    from llmos_quant.encoders.adapter import load_adapter
    from llmos_quant.encoders.sentiment import DEFAULT_ADAPTER
    from llmos_quant.llmos.convert import _llmos_to_hf_key, minilm_path

    llmos = load_adapter(DEFAULT_ADAPTER)
    cfg = BertConfig.from_pretrained(str(minilm_path()))
    cfg.num_labels = len(llmos.config.labels)
    cfg.id2label = dict(enumerate(llmos.config.labels))
    cfg.label2id = {v: k for k, v in cfg.id2label.items()}

    class MeanPoolBert(BertPreTrainedModel):
        def __init__(self, config):
            super().__init__(config)
            self.bert = BertModel(config, add_pooling_layer=False)
            self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, **kw):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return SequenceClassifierOutput(logits=self.classifier(pooled))

    model = MeanPoolBert(cfg).eval()
    state = {}
    for k, v in llmos.state_dict().items():
        key = _llmos_to_hf_key(k)
        if key:
            state[key] = v
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not [m for m in missing if "position_ids" not in m], missing
    return model


def run_ours(texts: list[str], batch_size: int, quantize: bool) -> dict:
    import numpy as np

    from llmos_quant.encoders.sentiment import SentimentEncoder

    enc = SentimentEncoder.create("llmos", batch_size=batch_size, progress=False, quantize=quantize)
    enc.score(texts[:64])  # warm-up
    t0 = time.perf_counter()
    out = enc.score(texts)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "texts_per_s": len(texts) / dt,
            "probs": out[["p_negative", "p_neutral", "p_positive"]].to_numpy().astype(np.float64).tolist()}


def run_pipeline(texts: list[str], batch_size: int) -> dict:
    import numpy as np
    from transformers import AutoTokenizer, pipeline

    from llmos_quant.llmos.convert import minilm_path

    model = hf_model()
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    pipe = pipeline("text-classification", model=model, tokenizer=tok, device=-1, top_k=None,
                    batch_size=batch_size, truncation=True, max_length=128)
    pipe(texts[:64])
    t0 = time.perf_counter()
    res = pipe(texts)
    dt = time.perf_counter() - t0
    order = ["negative", "neutral", "positive"]
    probs = np.array([[{d["label"]: d["score"] for d in row}[lab] for lab in order] for row in res])
    return {"seconds": dt, "texts_per_s": len(texts) / dt, "probs": probs.tolist()}


def main() -> None:
    import numpy as np

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    args = ap.parse_args()
    texts = headlines(args.n)
    runs = {
        "pipeline (batch_size=1, default)": isolated(run_pipeline, texts, 1),
        "pipeline (batch_size=64)": isolated(run_pipeline, texts, 64),
        "SentimentEncoder (batch 64, fp32)": isolated(run_ours, texts, 64, False),
        "SentimentEncoder (batch 64, dynamic int8)": isolated(run_ours, texts, 64, True),
    }
    ref = np.array(runs["pipeline (batch_size=64)"]["probs"])
    base = runs["pipeline (batch_size=1, default)"]["texts_per_s"]
    base64 = runs["pipeline (batch_size=64)"]["texts_per_s"]
    rows = []
    for name, r in runs.items():
        p = np.array(r.pop("probs"))
        rows.append({"config": name, "texts_per_s": round(r["texts_per_s"], 1),
                     "x_vs_pipeline_bs1": round(r["texts_per_s"] / base, 2),
                     "x_vs_pipeline_bs64": round(r["texts_per_s"] / base64, 2),
                     "label_agreement_vs_pipeline": float((p.argmax(1) == ref.argmax(1)).mean()),
                     "max_abs_prob_diff": float(np.abs(p - ref).max()),
                     "peak_rss_mb": round(r["peak_rss_mb"], 0)})
    header = f"{'config':45s} {'texts/s':>9s} {'x bs1':>7s} {'x bs64':>7s} {'agree':>7s} {'max|dp|':>9s} {'RSS MB':>7s}"
    print(header)
    for r in rows:
        print(f"{r['config']:45s} {r['texts_per_s']:9.1f} {r['x_vs_pipeline_bs1']:7.2f} {r['x_vs_pipeline_bs64']:7.2f} "
              f"{r['label_agreement_vs_pipeline']:7.4f} {r['max_abs_prob_diff']:9.2e} {r['peak_rss_mb']:7.0f}")
    print("written", write("sentiment_throughput", {"n_texts": len(texts), "machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
