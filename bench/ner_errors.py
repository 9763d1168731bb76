"""FIN3 error categories of the shipped entity tagger: spans predicted with no overlapping gold entity
(spurious), with the right type but other boundaries, or with another type; gold entities no prediction touches
(missed). Prints a table and writes bench/results/ner_errors.json. Read after a tagger is chosen, never to choose."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import write  # noqa: E402


def main() -> None:
    from llmos_quant.encoders.ner import DEFAULT_NER_ADAPTER, EntityTagger, read_conll, spans
    from llmos_quant.paths import shared_path

    test = read_conll(shared_path("sec_filings_ner_fin", "FIN3.txt"))
    pred = EntityTagger.load(DEFAULT_NER_ADAPTER).tag_words([w for w, _ in test])
    kinds: Counter[str] = Counter()
    spurious: Counter[str] = Counter()
    for (words, gold), tags in zip(test, pred, strict=True):
        gs, ps = spans(gold), spans(tags)
        for s, e, k in ps - gs:
            near = [g for g in gs if g[0] < e and s < g[1]]
            if not near:
                kinds[f"spurious {k}"] += 1
                spurious[f"{k}: {' '.join(words[s:e])}"] += 1
            elif any(g[2] == k for g in near):
                kinds[f"boundary {k}"] += 1
            else:
                kinds[f"type {near[0][2]} -> {k}"] += 1
        for s, e, k in gs - ps:
            if not [p for p in ps if p[0] < e and s < p[1]]:
                kinds[f"missed {k}"] += 1
    print("| error | count |\n|---|---|")
    for name, n in kinds.most_common():
        print(f"| {name} | {n} |")
    print("\nmost frequent spurious spans:", spurious.most_common(12))
    write("ner_errors", {"adapter": str(DEFAULT_NER_ADAPTER.name), "categories": dict(kinds.most_common()),
                         "spurious_spans": dict(spurious.most_common(40))})


if __name__ == "__main__":
    main()
