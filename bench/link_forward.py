"""Learned ticker linking, forward in time: the shipped recipe (``llmos-quant train linker``'s C and keep) fitted on
Reuters rows up to 2015-12-31 only, its threshold chosen on 3,000 of those rows (seed 1, left out of the fit with every
row sharing a story or a ticker-day with them), scored on 3,000 rows of 2016 (seed 2) beside the rules alone. The
shipped model's own test rows are drawn from all of 2011-2016; this is the estimate for news after the training
window. Writes bench/results/link_forward.json (read by bench/news_parser_eval.py).

    python bench/link_forward.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import write  # noqa: E402

TRAIN_END, FORWARD_ROWS = "2015-12-31", 3000


def main() -> None:
    import pandas as pd

    from llmos_quant.data.news import read_reuters_csv
    from llmos_quant.encoders.link_model import (
        DEFAULT_LINK_MODEL,
        LinkModel,
        best_allowed,
        choose_min_score,
        combined_top1,
        fit_link_model,
        link_texts,
        top1_figures,
        training_rows,
    )
    from llmos_quant.encoders.news_parser import TickerLinker, UniverseTable

    t0 = time.perf_counter()
    shipped = LinkModel.load(DEFAULT_LINK_MODEL).meta
    frame = read_reuters_csv().frame
    cut = pd.Timestamp(TRAIN_END, tz="UTC") + pd.Timedelta(days=1)
    past, year = frame[frame["published_at"] < cut], frame[(frame["published_at"] >= cut)
                                                           & (frame["published_at"] < pd.Timestamp("2017-01-01", tz="UTC"))]
    forward = year.sample(n=FORWARD_ROWS, random_state=2)
    dev = past.sample(n=3000, random_state=1)
    train, _ = training_rows(past, pd.concat([dev, forward]))
    model = fit_link_model(train, c=shipped["c"], keep=shipped["keep"])
    rules = TickerLinker(UniverseTable.default())

    def rows(sample: pd.DataFrame) -> tuple[list[list[str]], list]:
        texts = link_texts(sample)
        return [[d["ticker"] for d in rules.link(t)[0]] for t in texts], best_allowed(model, texts, rules.tickers)

    chosen = choose_min_score(*rows(dev), dev["asset"].tolist())
    links, best = rows(forward)

    def figures(top: list[str]) -> dict[str, float]:
        return top1_figures(top, forward["asset"].tolist())

    out = {"train_end": TRAIN_END, "train_rows": len(train), "forward_rows": len(forward), "c": shipped["c"],
           "keep": shipped["keep"], "min_score": chosen["min_score"],
           "rules": figures([x[0] if x else "" for x in links]),
           "learned": figures(combined_top1(links, best, chosen["min_score"])),
           "classifier_alone": figures([b[0] if b else "" for b in best]), "wall_s": time.perf_counter() - t0}
    table = pd.DataFrame({k: out[k] for k in ("rules", "learned", "classifier_alone")}).T.round(4)
    print(table.to_string())
    write("link_forward", out)


if __name__ == "__main__":
    main()
