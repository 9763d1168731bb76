"""Ablation of domain pretraining: no pretraining, MLM only, InfoNCE only, both; each followed by the same sentiment
fine-tune, evaluated on the validation slice, the fixed test split and the behaviour suite.

The selection rule, fixed before any figure: the variant with the best validation weighted-F1 (the 364-sentence
validation slice of the training part) is the recommended base; test figures and the behaviour suite are reported,
never used to choose.

Scale (2 CPU cores): ``--steps`` pretraining steps of batch 32 on ``--corpus-limit`` pairs, then one seed of the
shipped recipe (full fine-tune, agreement smoothing) for ``--epochs`` epochs. Writes bench/results/domain_ablation.json
and the table in docs/pretraining.md.

    python bench/domain_ablation.py [--steps 300] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, write  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--corpus-limit", type=int, default=30000)
    args = ap.parse_args()

    from llmos_quant.encoders.behaviour import behaviour_report
    from llmos_quant.encoders.sentiment import SentimentEncoder
    from llmos_quant.encoders.train import SentimentTrainConfig, train_sentiment
    from llmos_quant.llmos.domain import DomainPretrainConfig, continue_pretraining, domain_corpus

    corpus = domain_corpus(args.corpus_limit)
    variants = [("no pretraining", None), ("MLM only", (True, False)), ("InfoNCE only", (False, True)),
                ("MLM + InfoNCE", (True, True))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, objectives in variants:
            base = None
            pre = {}
            if objectives is not None:
                base = Path(tmp) / name.replace(" ", "_").replace("+", "and")
                pre = continue_pretraining(corpus, DomainPretrainConfig(steps=args.steps, mlm=objectives[0],
                                                                        infonce=objectives[1], device="cpu"),
                                           base, progress=False)
            out = Path(tmp) / f"sent_{len(rows)}"
            m = train_sentiment(SentimentTrainConfig(seeds=(0,), epochs=args.epochs, device="cpu"), out, progress=False,
                                base=base)
            enc = SentimentEncoder.from_adapter(out, base=base, progress=False)
            beh = behaviour_report(enc)
            row = {"variant": name, "valid_weighted_f1": m["soup_valid"]["weighted_f1"],
                   "valid_counterfactual_accuracy": m["valid_counterfactual_accuracy"],
                   "test_50agree_weighted_f1": m["test_50agree"]["weighted_f1"],
                   "test_allagree_accuracy": m["test_allagree"]["accuracy"],
                   "semeval_spearman": m["semeval2017_headlines_test"]["spearman"],
                   "behaviour_overall": beh["overall"], "behaviour_min_capability": beh["min_capability"],
                   "pretrain_seconds": pre.get("seconds", 0.0), "finetune_seconds": m["train_seconds"],
                   **{k: v for k, v in pre.items() if k.endswith("pct")}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    best = max(rows, key=lambda r: r["valid_weighted_f1"])
    payload = {"machine": machine(), "steps": args.steps, "epochs": args.epochs, "corpus_pairs": len(corpus),
               "corpus_sources": corpus["source"].value_counts().to_dict(), "rows": rows,
               "selected_by_validation": best["variant"]}
    write("domain_ablation", payload)
    render(payload)


def render(d: dict) -> Path:
    cols = ["variant", "valid_weighted_f1", "valid_counterfactual_accuracy", "test_50agree_weighted_f1",
            "test_allagree_accuracy", "semeval_spearman", "behaviour_overall", "behaviour_min_capability"]
    lines = ["", "## Domain pretraining ablation (`python bench/domain_ablation.py`)", "",
             f"Continued pretraining of the MiniLM backbone for {d['steps']} steps (batch 32) on {d['corpus_pairs']:,} "
             f"pairs of financial text up to 2016 ({', '.join(f'{k} {v:,}' for k, v in d['corpus_sources'].items())}; "
             "evaluation sentences removed), then one seed of the sentiment recipe for "
             f"{d['epochs']} epochs, the same for every row. Rule fixed before the run: the best validation weighted-F1 "
             f"is selected: **{d['selected_by_validation']}**. Test and behaviour columns are reported, not used to "
             "choose. A single seed at this scale is noisy (the shipped model is a 5-teacher distillation).", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in d["rows"]:
        lines.append("| " + " | ".join(str(r[c]) if isinstance(r[c], str) else f"{r[c]:.4f}" for c in cols) + " |")
    losses = [r for r in d["rows"] if any(k.endswith("pct") for k in r)]
    if losses:
        lines += ["", "Pretraining losses (mean of the first and last 10% of steps):", ""]
        for r in losses:
            parts = [f"{k.split('_')[0]} {r[k.split('_')[0] + '_first_10pct']:.3f} -> {r[k]:.3f}"
                     for k in r if k.endswith("last_10pct")]
            lines.append(f"- {r['variant']}: " + ", ".join(parts))
    path = ROOT / "docs" / "pretraining.md"
    text = path.read_text() if path.is_file() else "# Pretraining\n"
    marker = "\n## Domain pretraining ablation"
    if marker in text:
        text = text[:text.index(marker)]
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    main()
