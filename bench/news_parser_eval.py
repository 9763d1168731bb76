"""News-parser metrics: ticker linking on Reuters and Benzinga rows, event types on the hand-labelled
fixture, entity F1 on FIN3. Writes docs/news_parser.md and bench/results/news_parser.json.

    python bench/news_parser_eval.py [--n 5000]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import write  # noqa: E402


def main() -> None:
    import numpy as np
    import pandas as pd

    from llmos_quant.data.news import read_benzinga_csv, read_reuters_csv
    from llmos_quant.encoders.events import DEFAULT_EVENT_ADAPTER
    from llmos_quant.encoders.ner import DEFAULT_NER_ADAPTER
    from llmos_quant.encoders.news_parser import TickerLinker, UniverseTable, linking_accuracy
    from llmos_quant.reporting import markdown_table

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    args = ap.parse_args()
    from llmos_quant.encoders.link_model import LinkModel

    rules = TickerLinker(UniverseTable.default())
    model = LinkModel.default()
    linker = TickerLinker(rules.universe, model=model) if model is not None else rules
    reuters = read_reuters_csv().frame
    reuters = reuters[reuters["published_at"] < pd.Timestamp("2017-01-01", tz="UTC")]
    sample = reuters.sample(n=min(args.n, len(reuters)), random_state=0)
    texts = (sample["headline"] + " " + sample["body"]).tolist()
    # What also counts as right, reported beside the strict figure: the gold issuer's other share classes (the text
    # cannot tell GOOG from GOOGL), and every ticker the same story is filed under in the dataset.
    classes = {}
    for t, issuer in linker.issuer.items():
        classes.setdefault(issuer, set()).add(t)
    share = [classes.get(linker.issuer.get(a, a), set()) - {a} for a in sample["asset"]]
    story = reuters["headline"] + "|" + reuters["body"]
    filed = reuters.groupby(story)["asset"].agg(set)
    filed_sets = [filed[k] | s for k, s in zip(sample["headline"] + "|" + sample["body"], share, strict=True)]
    r_acc = linking_accuracy(linker, texts, sample["asset"].tolist(), accept=share)
    r_filed = linking_accuracy(linker, texts, sample["asset"].tolist(), accept=filed_sets)
    r_acc["top1_any_filed_ticker"] = r_filed["top1_accepted"]
    r_acc["stories_filed_under_several_tickers"] = float(np.mean([len(f) > 1 for f in filed_sets]))
    r_head = linking_accuracy(linker, sample["headline"].tolist(), sample["asset"].tolist(), accept=share)
    bz = read_benzinga_csv().frame
    b_acc = linking_accuracy(linker, bz["headline"].tolist(), bz["asset"].tolist())
    b_acc["gold_in_universe"] = float(bz["asset"].str.upper().isin(linker.tickers).mean())
    rows = {"Reuters title + lede": r_acc, "Reuters title only": r_head, "Benzinga title": b_acc}
    if model is not None:  # the same rows with the name rules alone (the linker before the learned model)
        r_rules = linking_accuracy(rules, texts, sample["asset"].tolist(), accept=share)
        r_rules["top1_any_filed_ticker"] = linking_accuracy(rules, texts, sample["asset"].tolist(),
                                                            accept=filed_sets)["top1_accepted"]
        rows = {"Reuters title + lede": r_acc, "Reuters title + lede, rules only": r_rules,
                "Reuters title only": r_head,
                "Reuters title only, rules only": linking_accuracy(rules, sample["headline"].tolist(),
                                                                   sample["asset"].tolist(), accept=share),
                "Benzinga title": b_acc,
                "Benzinga title, rules only": linking_accuracy(rules, bz["headline"].tolist(), bz["asset"].tolist())}
    link = pd.DataFrame(rows).T
    link = link.rename(columns={"top1_accepted": "top1_share_classes_equal"})
    link["n"] = link["n"].astype(int)
    link.index.name = "sample"
    out = ["# News parser metrics", "", "Produced by `python bench/news_parser_eval.py` (linking) and the training "
           "commands named below (their `metrics.json` files are read here).", "",
           "## Ticker linking", "",
           f"The `ticker` column is hidden and predicted from the text; samples: {r_acc['n']:,} random Reuters rows "
           f"(2011-2016) and all {b_acc['n']:,} Benzinga sample rows. Universe: {len(linker.tickers)} tickers "
           "(Reuters companies, StockNet table, S&P list, the project's alias file).", "",
           "Columns: `top1_accuracy` is strict (the row's own ticker); `gold_linked` is the share of rows whose ticker "
           "is among the links at all, the ceiling of any re-ranking (the rest never name the company in a form the "
           "linker knows: market wraps, 'Deals of the day', stories about a rival); `top1_share_classes_equal` also "
           "accepts the gold issuer's other share class (GOOG/GOOGL, NWS/NWSA, BHP/BBL: the dataset files the same "
           "stories under both); `gold_in_universe` is the share of Benzinga rows whose ticker is in the universe at "
           "all (a link on any other row is wrong); `top1_any_filed_ticker` accepts any ticker the same story is filed under "
           f"({r_acc['stories_filed_under_several_tickers']:.0%} of the sampled stories are filed under more than one). "
           "The linker's rules (HTML entities in company names, corporate suffixes, distinctive first words, share "
           "classes, the spellings of initials, ampersands and hyphens) and the project's alias file were developed "
           "on a disjoint sample (3,000 other rows, seed 1), not on these rows.",
           "", markdown_table(link.round(4)), ""]
    if model is not None:
        out += [*LINK_NOTES.split("\n"), "", f"Shipped model: `{model.meta['recipe']}` ({model.meta['train_rows']:,} "
                f"training rows, {model.meta['train_rows_left_out']:,} left out, {len(model.vocabulary):,} terms); "
                f"`min_score` {model.meta['min_score']:.4f}. Development rows ({model.meta['dev_rows']:,}): rules "
                f"top-1 {model.meta['dev_rules_top1']:.4f} (when linked {model.meta['dev_rules_top1_when_linked']:.4f}), "
                f"with the model {model.meta['dev_top1']:.4f} (when linked {model.meta['dev_top1_when_linked']:.4f}).",
                ""]
        payload_link_model = dict(model.meta)
    else:
        payload_link_model = None
    if model is not None:  # strict top-1 by listing year: the 2011 crawl files market wraps under company pages
        def first(lk: TickerLinker, text: str) -> str:
            links = lk.link(text)[0]
            return links[0]["ticker"] if links else ""

        gold = sample["asset"].str.upper().to_numpy()
        hits = pd.DataFrame({"year": sample["published_at"].dt.year.to_numpy(),
                             "rules only": np.array([first(rules, t) for t in texts]) == gold,
                             "with the model": np.array([first(linker, t) for t in texts]) == gold})
        by_year = hits.groupby("year").agg(rows=("rules only", "size"), rules_only=("rules only", "mean"),
                                           with_the_model=("with the model", "mean"))
        later = hits[hits["year"] >= 2012]
        by_year.loc["2012-2016"] = [len(later), later["rules only"].mean(), later["with the model"].mean()]
        by_year["rows"] = by_year["rows"].astype(int)
        by_year.index = by_year.index.astype(str)
        by_year.index.name = "listing year"
        payload_link_by_year = by_year.to_dict(orient="index")
        out += ["Strict top-1 on the same 5,000 test rows by listing year. The 2011 rows are the outlier: of the "
                "first 12 test rows of 2011 the linker with the model gets wrong, 9 are stories the crawl filed under "
                "a company's page without being about it (two 'US STOCKS' market wraps and an SEC probe under BAC, "
                "an Australian press digest under BBL, a Citi story under BAC, Yara's results under CF); 2 name two "
                "companies (Ford and GM) and 1 is the other share class (NWS/NWSA).", "",
                markdown_table(by_year.round(4)), ""]
    else:
        payload_link_by_year = None
    forward = Path(__file__).resolve().parent / "results" / "link_forward.json"
    if model is not None and forward.is_file():
        f = json.loads(forward.read_text())
        ft = pd.DataFrame({k: f[k] for k in ("rules", "learned", "classifier_alone")}).T
        ft.index.name = "linker"
        out += [f"Forward in time (`python bench/link_forward.py`): the same recipe fitted on rows up to "
                f"{f['train_end']} only ({f['train_rows']:,} rows; `min_score` {f['min_score']:.4f} chosen on 3,000 of "
                f"them), scored on {f['forward_rows']:,} rows of 2016 (seed 2). `classifier_alone` is the model's best "
                "ticker for every row, without the rules.", "", markdown_table(ft.round(4)), ""]
    payload = {"linking": link.to_dict(orient="index"), "link_model": payload_link_model,
               "linking_by_year": payload_link_by_year}
    ev = DEFAULT_EVENT_ADAPTER / "metrics.json"
    if ev.is_file():
        m = json.loads(ev.read_text())
        table = pd.concat({"model": pd.DataFrame(m["model"]).T, "rules": pd.DataFrame(m["rules"]).T}, axis=1)
        table.columns = [f"{a} {b}" for a, b in table.columns]
        for col in [c for c in table.columns if c.endswith("support")]:
            table[col] = table[col].astype(int)
        table.index.name = "event type"
        out += ["## Event types", "", f"Model: LLMOS (MiniLM + LoRA) multi-label head trained by `llmos-quant train "
                f"events` on {m['train_headlines']:,} Reuters/Benzinga headlines weakly labelled by the keyword rules. "
                f"Scored on the project's hand-labelled fixture (`llmos_quant/data/resources/event_headlines.csv`, "
                f"{m['fixture_headlines']} headlines written and labelled by this project). Caveat: the rules and the "
                "fixture were written by the same team, so the rules' figures are optimistic.", "",
                markdown_table(table.round(4)), "",
                f"Macro-F1: model {m['model_macro_f1']:.3f}, rules {m['rules_macro_f1']:.3f}.", ""]
        payload["events"] = m
    ner = DEFAULT_NER_ADAPTER / "metrics.json"
    if ner.is_file():
        m = json.loads(ner.read_text())
        t = m["fin3_test"]
        out += ["## Entities (FIN NER)", "", f"`{ner_command(m)}`: LLMOS token classifier (MiniLM + LoRA r={m['lora_r']}, "
                f"{m['epochs']} epochs{ner_recipe(m)}) trained on FIN5 ({m['train_sentences']} sentences), entity-level "
                f"exact-match scores on FIN3 ({m['test_sentences']} sentences, {t['entities_gold']} entities).", "",
                "| precision | recall | F1 | " + " | ".join(f"F1 {k}" for k in sorted(t["f1_by_type"])) + " |",
                "|---|---|---|" + "---|" * len(t["f1_by_type"]),
                f"| {t['precision']:.4f} | {t['recall']:.4f} | {t['f1']:.4f} | "
                + " | ".join(f"{t['f1_by_type'][k]:.4f}" for k in sorted(t["f1_by_type"])) + " |", "",
                *NER_NOTES.split("\n"), "",
                f"Reference: {m['reference']}.", ""]
        payload["ner"] = m
    out += numeric_section(sample, payload)
    path = Path(__file__).resolve().parents[1] / "docs" / "news_parser.md"
    path.write_text("\n".join(out))
    print("\n".join(out))
    write("news_parser", payload)


# The entity section's prose (a record of each change, the rule fixed before its run, and the outcome): a markdown
# file next to this script, so that a rerun rewrites the table from the shipped metrics.json and keeps the record.
NER_NOTES = (Path(__file__).resolve().parent / "news_parser_ner_notes.md").read_text().strip()
LINK_NOTES = (Path(__file__).resolve().parent / "news_parser_link_notes.md").read_text().strip()


# metrics.json key -> the train ner flag that set it, and how the recipe line describes it
_NER_OPTIONS = (("case_features", lambda v: " --case-features", lambda v: "letter-case embeddings"),
                ("entity_swap_copies", lambda v: f" --entity-swaps {v}",
                 lambda v: f"{v} mention-replacement copies of each FIN5 sentence that holds an ORG or LOC"),
                ("clean_swap_names", lambda v: " --clean-swap-names", lambda v: "names from the cleaned pools"))


def ner_command(m: dict) -> str:
    """The ``train ner`` command line that rebuilds the tagger described by its metrics.json."""
    return "llmos-quant train ner" + "".join(flag(m[k]) for k, flag, _ in _NER_OPTIONS if m.get(k))


def ner_recipe(m: dict) -> str:
    return "".join(f", {say(m[k])}" for k, _, say in _NER_OPTIONS if m.get(k))


def numeric_section(sample, payload: dict) -> list[str]:
    """Numeric facts on the same Reuters rows: what the parser finds, and how many repeats the once-only rule
    removes (a headline amount restated in the lede)."""
    from llmos_quant.encoders.news_parser import _MONEY, NewsParser, extract_numbers

    parsed = NewsParser(linker=None, use_body=True).parse(sample[["headline", "body"]].reset_index(drop=True))
    facts = [f for row in parsed["numbers"] for f in row]
    kinds = {k: sum(f["kind"] == k for f in facts) for k in ("amount", "pct", "vs_consensus", "price_target")}
    raw_amounts = sum(len(list(_MONEY.finditer(f"{h}. {b}"))) for h, b in zip(sample["headline"], sample["body"],
                                                                            strict=True))
    pct = [f for f in facts if f["kind"] == "pct"]
    unknown = sum(f["direction"] == "unknown" for f in pct) / max(len(pct), 1)
    head_only = sum(len([f for f in extract_numbers(h) if f["kind"] == "pct" and f["direction"] == "unknown"])
                    for h in sample["headline"])
    stats = {"rows": len(sample), **{f"{k} facts": v for k, v in kinds.items()},
             "money mentions (before the once-only rule and the pair/target exclusion)": raw_amounts,
             "amount facts kept": kinds["amount"], "percentages with no direction": round(unknown, 4),
             "headline percentages with no direction": head_only}
    payload["numbers"] = stats
    return ["## Numeric facts", "",
            f"`extract_numbers` over the same {len(sample):,} Reuters rows (title + lede as two sentences). An amount "
            "stated in the headline and again in the lede is kept once; the numbers of a price target or an "
            "actual-vs-estimate pair (\"EPS $0.26 vs view $0.38\": actual, estimate, surprise sign) are not repeated as "
            "loose amounts; a percentage takes its direction from its own verb, else from the last direction word "
            "before it in its own sentence. Cases: `tests/encoders/test_news_parser.py`.", "",
            "| measure | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in stats.items()], ""]


if __name__ == "__main__":
    main()
