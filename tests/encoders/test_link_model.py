from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmos_quant.encoders.link_model import (
    DEFAULT_LINK_MODEL,
    LinkModel,
    best_allowed,
    choose_min_score,
    combined_top1,
    fit_link_model,
    link_splits,
    story_key,
)
from llmos_quant.encoders.news_parser import NewsParser, TickerLinker, UniverseTable
from llmos_quant.errors import ModelLoadError, ValidationError

# Words that belong to one company's news without naming it (products, executives), as the model learns them.
_WORDS = {"AAPL": ["iphone sales", "ipad shipments", "tim cook said", "app store revenue"],
          "XOM": ["crude output", "refinery outage", "tillerson said", "oil field"],
          "GS": ["blankfein said", "trading desk", "investment banking fees", "bond traders"]}


def _frame(n_per: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for t, words in _WORDS.items():
        for i in range(n_per):
            w = rng.choice(words, size=2, replace=False)
            rows.append({"asset": t, "headline": f"Report {i}: {w[0]} in focus", "body": f"Analysts note {w[1]} today",
                         "published_at": pd.Timestamp("2015-01-01", tz="UTC") + pd.Timedelta(days=int(i))})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def model() -> LinkModel:
    return fit_link_model(_frame(), c=1.0, keep=50, min_df=1)


def test_the_model_learns_words_that_name_no_company(model):
    best = best_allowed(model, ["Tim Cook said iPhone sales beat", "Refinery outage hits crude output",
                                "Blankfein said trading desk revenue fell"])
    assert [b[0] for b in best] == ["AAPL", "XOM", "GS"]


def test_save_and_load_give_the_same_scores_without_pickle(model, tmp_path):
    folder = model.save(tmp_path / "lm")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "link_model.safetensors", "metrics.json"]
    again = LinkModel.load(folder)
    texts = ["iphone sales", "oil field refinery", "nothing in common here"]
    np.testing.assert_allclose(again.scores(texts), model.scores(texts), rtol=1e-6, atol=1e-6)
    assert again.classes == model.classes and again.meta["keep"] == 50


def test_pruning_keeps_at_most_keep_weights_per_ticker():
    m = fit_link_model(_frame(), c=1.0, keep=3, min_df=1)
    per_class = np.diff(m.weights.tocsc().indptr)
    assert per_class.max() <= 3 and len(m.vocabulary) <= 3 * len(m.classes)


def test_bad_folders_and_frames_are_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="not a link model folder"):
        LinkModel.load(tmp_path)
    (tmp_path / "config.json").write_text('{"kind": "bert"}')
    (tmp_path / "link_model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="expected 'llmos-link-model'"):
        LinkModel.load(tmp_path)
    (tmp_path / "config.json").write_text('{"kind": "llmos-link-model"')
    with pytest.raises(ModelLoadError, match="not readable JSON"):
        LinkModel.load(tmp_path)
    (tmp_path / "config.json").write_text('{"kind": "llmos-link-model", "vocabulary": [], "classes": []}')
    with pytest.raises(ModelLoadError, match="a damaged link model .*SafetensorError"):
        LinkModel.load(tmp_path)
    with pytest.raises(ValidationError, match="at least 2 tickers"):
        fit_link_model(_frame().query("asset == 'AAPL'"))


def _linker(model: LinkModel, min_score: float, tickers=("AAPL", "XOM", "GS")) -> TickerLinker:
    names = {"AAPL": "Apple Inc", "XOM": "Exxon Mobil Corp", "GS": "Goldman Sachs Group Inc"}
    return TickerLinker(UniverseTable.from_pairs([(t, names[t]) for t in tickers]), model=model,
                        learned_min_score=min_score)


def test_the_linker_adds_a_learned_link_only_above_its_threshold(model):
    text = "Tim Cook said iPhone sales beat"
    score = model.best(text)[1]
    links, _ = _linker(model, score - 0.01).link(text)
    assert links[0]["ticker"] == "AAPL" and links[0]["method"] == "learned"
    assert _linker(model, score + 0.01).link(text)[0] == []  # below the threshold: the rules alone, none


def test_the_model_reorders_the_rules_links_and_keeps_them_all(model):
    # the rules link both names (Apple first: the earlier mention); the words are Exxon's, so Exxon goes first
    links, _ = _linker(model, float("inf")).link("Apple supplier and Exxon Mobil: refinery outage cuts crude output")
    assert [d["ticker"] for d in links] == ["XOM", "AAPL"] and links[0]["method"] == "name"
    assert "learned_score" in links[0]


def test_a_smaller_universe_gets_no_renormalised_guess(model):
    # the text is Goldman's; a linker over AAPL and XOM only must not turn it into a confident AAPL/XOM link
    text = "Blankfein said trading desk revenue fell"
    gs_score = model.best(text)[1]
    best_here = model.best(text, allowed={"AAPL", "XOM"})
    assert best_here[0] != "GS" and best_here[1] < gs_score
    assert _linker(model, gs_score - 0.01, tickers=("AAPL", "XOM")).link(text)[0] == []


def test_choose_min_score_keeps_the_rules_precision():
    # 4 rows; rules link rows 0-1 (row 0 right, row 1 wrong: precision 0.5); the model's guesses on rows 1-3 are
    # wrong at 0.1, right at 0.9 and wrong at 0.2. Thresholds 0.1 and 0.2 gain row 2 but add wrong links; from
    # 0.2 to 0.9 only the right one is added (top-1 0.5, precision 2/3); ties go to the higher threshold.
    rules = [["A"], ["B"], [], []]
    best = [("A", 0.5), ("Z", 0.1), ("D", 0.9), ("X", 0.2)]
    truth = ["A", "C", "D", "E"]
    out = choose_min_score(rules, best, truth, grid=11)
    assert out["min_score"] == 0.9
    assert out["dev_rules_top1"] == 0.25 and out["dev_top1"] == 0.5 and out["dev_top1_when_linked"] == pytest.approx(2 / 3)
    assert combined_top1(rules, best, out["min_score"]) == ["A", "B", "D", ""]


def test_link_splits_train_shares_no_story_or_ticker_day_with_the_evaluation_rows():
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame({"asset": rng.choice(["AAPL", "XOM", "GS"], n),
                          "headline": [f"UPDATE {i % 3}-Story {i % 150}" for i in range(n)], "body": "",
                          "published_at": pd.Timestamp("2016-01-01", tz="UTC")
                          + pd.to_timedelta(rng.integers(0, 200, n), unit="D")})
    s = link_splits(frame, test_rows=50, dev_rows=30)
    held = pd.concat([s.test, s.dev])
    assert not set(s.train.index) & set(held.index)
    assert not set(s.train["headline"].map(story_key)) & set(held["headline"].map(story_key))
    day = lambda f: set(zip(f["asset"], f["published_at"].dt.tz_convert("America/New_York").dt.date, strict=True))  # noqa: E731
    assert not day(s.train) & day(held)
    assert len(s.train) + len(held) + s.excluded == n
    assert story_key("RPT-UPDATE 2-Apple's iPhone, sales!") == "apple s iphone sales"
    with pytest.raises(ValidationError, match="needs more than 80 rows"):
        link_splits(frame.head(60), test_rows=50, dev_rows=30)


@pytest.mark.skipif(not (DEFAULT_LINK_MODEL / "config.json").is_file(), reason="the shipped link model is not built")
def test_the_shipped_model_records_its_recipe_and_dev_figures(shared_data):
    m = LinkModel.load()
    assert m.meta["recipe"].startswith("llmos-quant train linker") and m.meta["data_end"] == "2016-12-31"
    assert m.meta["dev_top1_when_linked"] >= m.meta["dev_rules_top1_when_linked"]  # the threshold rule held
    parser = NewsParser.default(entities=False)
    assert parser.linker is not None and parser.linker.model is not None
    assert parser.linker.learned_min_score == pytest.approx(m.meta["min_score"])
    assert parser.event_model is None  # the event rules by default; the link model is the linker's only
    parsed = parser.parse(pd.DataFrame({"headline": ["Apple profit rises 5%", "Tim Cook unveils new iPhone"]}))
    assert parsed["tickers"][0][0]["ticker"] == "AAPL" and parsed["events"][0] == ["earnings"]
    assert parsed["tickers"][1][0]["method"] in ("learned", "name")


def test_a_refit_repeats_the_same_weights():
    a, b = (fit_link_model(_frame(), c=1.0, keep=20, min_df=1) for _ in range(2))
    assert a.vocabulary == b.vocabulary
    np.testing.assert_array_equal(a.weights.toarray(), b.weights.toarray())


def test_without_the_shared_datasets_the_default_parser_still_links_tickers(monkeypatch, caplog):
    from llmos_quant.errors import DataNotFoundError

    def absent(cls):
        raise DataNotFoundError("../shared/data is absent")

    monkeypatch.setattr(UniverseTable, "default", classmethod(absent))
    with caplog.at_level("WARNING"):
        parser = NewsParser.default(entities=False, learned_links=False)
    assert "shared datasets are not found" in caplog.text
    parsed = parser.parse(pd.DataFrame({"headline": ["$AAPL shares rise", "Microsoft (MSFT.O) beats"]}))
    assert [[d["ticker"] for d in t] for t in parsed["tickers"]] == [["AAPL"], ["MSFT"]]
