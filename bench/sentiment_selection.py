"""Apply a sentiment shipping rule of docs/sentiment_training.md: a candidate's written artifact against the shipped
model of its size, both measured by the same code on the selection slices only (no test text is read).

    python bench/sentiment_selection.py --candidate data/cache/mpnet_student_wide            # vs backend llmos
    python bench/sentiment_selection.py --candidate data/cache/mpnet_soup_wide --shipped llmos-mpnet

Slices (``evaluate_encoder(encoder, valid_only=True)["valid"]``): (a) PhraseBank validation weighted-F1, (b) Spearman
on the SemEval-2017 microblog training spans, (c) accuracy on the 2016 rule-labelled headlines, (d) accuracy on the
counterfactual rewrites of the validation sentences. The candidate ships if and only if
1. mean(a, b) > the shipped model's, 2. (a) >= shipped - 0.02, 3. (c) >= shipped, 4. (d) >= shipped - 2/29 (compared as
miss counts: at most two more misses of the 29).
Prints the table and writes bench/results/sentiment_selection_<candidate folder name>[_vs_llmos-mpnet].json (one file
per candidate, so a later candidate does not overwrite an earlier decision's record).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write  # noqa: E402

SLICES = (("a", "weighted_f1", "PhraseBank validation weighted-F1"),
          ("b", "microblog_spearman", "SemEval microblog training spans, Spearman"),
          ("c", "weak_accuracy", "2016 rule-labelled headlines, accuracy"),
          ("d", "counterfactual_accuracy", "counterfactual rewrites, accuracy"))


def valid_slices(backend: str, path: str | None) -> dict[str, float]:
    """The four selection figures of one written artifact, loaded as users load it."""
    from llmos_quant.encoders.sentiment import SentimentEncoder
    from llmos_quant.encoders.train import evaluate_encoder

    enc = SentimentEncoder.create(backend, path, progress=False)
    valid = evaluate_encoder(enc, valid_only=True)["valid"]
    return {key: float(valid[key]) for _, key, _ in SLICES}


def decide(shipped: dict[str, float], candidate: dict[str, float], n_counterfactual: int = 29) -> dict[str, Any]:
    """The four conditions of the rule; ``ships`` only when all hold."""
    mean_s = (shipped["weighted_f1"] + shipped["microblog_spearman"]) / 2
    mean_c = (candidate["weighted_f1"] + candidate["microblog_spearman"]) / 2
    def misses(valid: dict[str, float]) -> int:  # counted, so the boundary is exact
        return round((1 - valid["counterfactual_accuracy"]) * n_counterfactual)

    conditions = {
        "1 mean(a, b) higher": mean_c > mean_s,
        "2 (a) >= shipped - 0.02": candidate["weighted_f1"] >= shipped["weighted_f1"] - 0.02,
        "3 (c) >= shipped": candidate["weak_accuracy"] >= shipped["weak_accuracy"],
        f"4 (d) >= shipped - 2/{n_counterfactual}":
            misses(candidate) <= misses(shipped) + 2,
    }
    return {"mean_shipped": mean_s, "mean_candidate": mean_c, "conditions": conditions,
            "ships": all(conditions.values())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidate", required=True, help="the candidate's adapter folder (written by train sentiment/distill)")
    ap.add_argument("--shipped", default="llmos", choices=["llmos", "llmos-mpnet"],
                    help="the shipped backend of the candidate's size (default: llmos, the 22M student)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from llmos_quant.errors import LLMOSQuantError, ModelLoadError

    try:  # the candidate first: a bad folder fails before the shipped model is measured
        folder = Path(args.candidate)
        if not (folder / "adapter_config.json").is_file():  # exit 6, as the README's table says of a model folder
            what = "does not exist" if not folder.exists() else "has no adapter_config.json"
            raise ModelLoadError(f"--candidate {args.candidate} {what}; expected the --out folder of `llmos-quant "
                                 "train sentiment` or `train distill` (adapter_config.json, adapter_model.safetensors, "
                                 "head.safetensors)")
        candidate = valid_slices("llmos", args.candidate)
        shipped = valid_slices(args.shipped, None)
    except LLMOSQuantError as exc:
        print(f"error ({type(exc).__name__}, exit {exc.exit_code}): {exc}", file=sys.stderr)
        return exc.exit_code
    verdict = decide(shipped, candidate)
    print(f"| slice | shipped {args.shipped} | candidate {args.candidate} |")
    print("|---|---|---|")
    for letter, key, label in SLICES:
        print(f"| ({letter}) {label} | {shipped[key]:.4f} | {candidate[key]:.4f} |")
    print(f"| mean of (a) and (b) | {verdict['mean_shipped']:.4f} | {verdict['mean_candidate']:.4f} |")
    for name, ok in verdict["conditions"].items():
        print(f"condition {name}: {'met' if ok else 'NOT met'}")
    print("decision:", "the candidate SHIPS" if verdict["ships"] else "the shipped model stays (candidate = ablation)")
    tag = folder.resolve().name + ("" if args.shipped == "llmos" else f"_vs_{args.shipped}")
    path = write(f"sentiment_selection_{tag}", {"shipped_backend": args.shipped, "candidate": args.candidate,
                                         "shipped": shipped, "candidate_valid": candidate, **verdict})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
