from __future__ import annotations

import pytest

from llmos_quant.encoders.ner import (
    EntityTagger,
    _encode,
    entity_swaps,
    read_conll,
    read_conll_documents,
    spans,
    word_windows,
)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from llmos_quant.llmos.convert import minilm_path

    return AutoTokenizer.from_pretrained(str(minilm_path()))


def test_word_windows_tile_a_long_sentence_and_each_fits(tokenizer):
    words = [f"w{i % 7}ord" if i % 5 else "Borrower" for i in range(400)]  # about 1,100 sub-tokens
    windows = word_windows(tokenizer, words, 128)
    assert len(windows) > 4
    cores = [w for _, _, a, b in windows for w in range(a, b)]
    assert cores == list(range(len(words)))  # every word is a core word exactly once, in order
    for start, end, core_start, core_end in windows:
        assert start <= core_start < core_end <= end
        assert len(tokenizer(words[start:end], is_split_into_words=True)["input_ids"]) <= 128
    assert word_windows(tokenizer, ["Apple", "Inc", "."], 128) == [(0, 3, 0, 3)]  # a short one is one window
    assert word_windows(tokenizer, [], 128) == []


def test_conll_documents_split_at_docstart_and_read_conll_is_their_concatenation(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("-DOCSTART- -X- O O\n\nAcme NNP - I-ORG\nsigned VBD - O\n\nBorrower NN - I-PER\n\n"
                    "-DOCSTART- -X- O O\n\nParis NNP - B-LOC\n")
    docs = read_conll_documents(path)
    assert docs == [[(["Acme", "signed"], ["I-ORG", "O"]), (["Borrower"], ["I-PER"])], [(["Paris"], ["I-LOC"])]]
    assert read_conll(path) == [s for d in docs for s in d]  # B- read as I- (the FIN files are IO-tagged)


def test_entity_swaps_replace_org_and_loc_mentions_in_their_case_and_keep_the_rest():
    import numpy as np

    words = ["The", "Borrower", "and", "SILICON", "VALLEY", "BANK", "of", "Santa", "Clara", "signed", "."]
    tags = ["O", "I-PER", "O", "I-ORG", "I-ORG", "I-ORG", "O", "I-LOC", "I-LOC", "O", "O"]
    plain = (["The", "Lender", "signed", "."], ["O", "I-PER", "O", "O"])
    names = {"ORG": [[["Exxon", "Mobil", "Corp"]], [["Acme"]]], "LOC": [[["France"]], []]}
    out = entity_swaps([(words, tags), plain], np.random.default_rng(0), names, copies=6, upper_share=0.0)
    assert len(out) == 6  # copies of the sentence with ORG/LOC only; no originals
    for new_w, new_t in out:
        assert len(new_w) == len(new_t)
        found = {(" ".join(new_w[s:e]), k) for s, e, k in spans(new_t)}
        assert ("Borrower", "PER") in found  # PER untouched
        assert ("France", "LOC") in found  # the only non-empty LOC pool
        assert found & {("EXXON MOBIL CORP", "ORG"), ("ACME", "ORG")}  # in the mention's (upper) case
        assert new_w[:3] == ["The", "Borrower", "and"] and new_w[-2:] == ["signed", "."]
    head, tail = ("The", "Borrower", "and"), ("of", "France", "signed", ".")
    assert {tuple(w) for w, _ in out} >= {(*head, "ACME", *tail), (*head, "EXXON", "MOBIL", "CORP", *tail)}
    upper = entity_swaps([(words, tags)], np.random.default_rng(0), names, copies=3, upper_share=1.0)
    assert all(w == [x.upper() for x in w] for w, _ in upper)
    assert entity_swaps([(words, tags)], np.random.default_rng(0), {"ORG": [[]]}, copies=2) == []


@pytest.mark.data
def test_swap_names_come_from_the_universe_iso_lists_and_the_training_mentions_only(shared_data):
    from llmos_quant.encoders.ner import swap_names

    train = [(["Acme", "Widgets", "Inc", "in", "Gotham"], ["I-ORG", "I-ORG", "I-ORG", "O", "I-LOC"])]
    for clean in (False, True):
        names = swap_names(train, clean=clean)
        companies, own_org = names["ORG"]
        countries, regions, own_loc = names["LOC"]
        assert own_org == [["Acme", "Widgets", "Inc"]] and own_loc == [["Gotham"]]
        assert ["France"] in countries and ["California"] in regions and len(companies) > 300
        assert all(w and all(x.isascii() for x in w) for pool in (countries, regions) for w in pool)
    # the shipped (raw) pools keep the names as pycountry and the universe write them
    raw = swap_names(train)
    assert ["Korea", ",", "Republic", "of"] in raw["LOC"][0] and ["Ile-de-France"] not in raw["LOC"][1]
    assert any(w[-1] == ")" for w in raw["ORG"][0])
    # the cleaned pools (the ablation) write them as running text: no ISO inversion, bracketed code or qualifier
    companies, _ = names["ORG"]
    countries, regions, _ = names["LOC"]
    assert ["South", "Korea"] in countries and ["Ile-de-France"] in regions
    assert not any(x in ("[", "]", "(The)", "(") or x.endswith("-POG") for pool in (countries, regions)
                   for w in pool for x in w)
    assert not any(w[-1] == ")" for w in companies)


@pytest.mark.parametrize(("iso", "text"), [
    ("Bridgend [Pen-y-bont ar Ogwr GB-POG]", "Bridgend"),
    ("Sofia (stolitsa)", "Sofia"),
    ("Bristol, City of", "City of Bristol"),
    ("Virgin Islands, British", "British Virgin Islands"),
    ("Armagh City, Banbridge and Craigavon", "Armagh City, Banbridge and Craigavon"),
    ("Île-de-France", "Ile-de-France"),
    ("Москва", None),
])
def test_place_names_are_written_as_running_text(iso, text):
    from llmos_quant.encoders.ner import place_name

    assert place_name(iso) == text


def test_company_names_lose_their_trailing_qualifier_only():
    from llmos_quant.encoders.ner import company_name

    assert company_name("Boeing Company (The)") == "Boeing Company"
    assert company_name("American Tower Corporation (REIT)") == "American Tower Corporation"
    assert company_name("China Mobile (Hong Kong) Ltd") == "China Mobile (Hong Kong) Ltd"


def test_training_rows_label_each_word_once(tokenizer):
    words = ["Borrower"] * 300
    rows = _encode(tokenizer, [(words, ["I-PER"] * 300)], 64)
    assert len(rows) > 1 and all(len(r["input_ids"]) <= 64 for r in rows)
    assert sum(sum(1 for x in r["labels"] if x != -100) for r in rows) == 300


def test_the_shipped_tagger_tags_words_past_the_model_length(monkeypatch):
    """The tail of a 500-sub-token loan-agreement sentence is tagged (it used to be cut at 128 and left O)."""
    monkeypatch.setenv("LLMOS_QUANT_SHARED_DATA", "/nonexistent")
    tagger = EntityTagger.load()
    filler = ["the", "amount", "of", "any", "advance", "made", "under", "this", "agreement", "shall", "be", "repaid",
              "on", "the", "maturity", "date"]
    words = filler * 30 + ["John", "Smith", "signed", "for", "Silicon", "Valley", "Bank", "."]
    tags = tagger.tag_words([words])[0]
    assert len(tags) == len(words)
    assert tags[-4:-1] == ["I-ORG"] * 3 and "O" not in tags[-8:-6]  # tagged, not left O
    assert tagger.tag_words([words[-8:]])[0][-4:-1] == ["I-ORG"] * 3


def test_texts_are_split_like_the_training_data_and_entities_keep_their_original_text(monkeypatch):
    from llmos_quant.encoders.ner import tokenize

    assert [t for t, _, _ in tokenize("Apria's shares fall; J&J, U.S. Coca-Cola (KO)")] == [
        "Apria", "'", "s", "shares", "fall", ";", "J&J", ",", "U.S", ".", "Coca-Cola", "(", "KO", ")"]
    monkeypatch.setenv("LLMOS_QUANT_SHARED_DATA", "/nonexistent")
    ents = EntityTagger.load().entities(["John Smith, chief executive of Silicon Valley Bank, said in Boston."])[0]
    assert {"text": "John Smith", "type": "PER"} in ents  # no trailing comma glued to the name
    assert {"text": "Silicon Valley Bank", "type": "ORG"} in ents and {"text": "Boston", "type": "LOC"} in ents


def test_the_parser_adds_the_universe_names_the_tagger_missed(monkeypatch):
    import pandas as pd

    from llmos_quant.encoders.news_parser import NewsParser, TickerLinker, UniverseTable

    monkeypatch.setenv("LLMOS_QUANT_SHARED_DATA", "/nonexistent")
    linker = TickerLinker(UniverseTable.from_pairs([("CVS", "CVS Caremark Corp"), ("AAPL", "Apple Inc")]))
    parser = NewsParser(linker=linker, tagger=EntityTagger.load())
    out = parser.parse(pd.DataFrame({"headline": ["CVS Caremark profit rises 10 pct", "Apple's CEO Tim Cook visits China"],
                                     "body": ["Apple is not in this headline.", ""]}))
    assert {"text": "CVS Caremark", "type": "ORG"} in out["entities"].iloc[0]
    assert not any(e["text"] == "Apple" for e in out["entities"].iloc[0])  # a lede mention is not a headline entity
    assert [e["text"] for e in out["entities"].iloc[1]].count("Apple") == 1  # tagged once, not added again


@pytest.mark.data
def test_a_tagger_with_case_features_trains_saves_and_loads(shared_data, tiny_bert_dir, tmp_path):
    """--case-features: the case table is trained with the head, saved in head.safetensors, and the loaded
    tagger feeds it the words' case (an upper-cased sentence is tagged differently from its lower-case copy)."""
    import json

    import torch
    from safetensors.torch import load_file

    from llmos_quant.encoders.ner import train_ner
    from llmos_quant.llmos.model import case_ids

    out = tmp_path / "ner_cased"
    m = train_ner(out, epochs=1, lr=5e-3, lora_r=2, batch_size=64, progress=False, device="cpu", base=tiny_bert_dir,
                  case_features=True, entity_swap_copies=1, holdout_document=5)
    assert m["case_features"] is True and 0.0 <= m["fin3_test"]["f1"] <= 1.0
    # FIN5 agreement 5 (132 sentences) held out and scored; swap copies added to the other four
    assert (m["holdout_document"], m["holdout_sentences"], m["train_sentences"]) == (5, 132, 1164 - 132)
    assert m["fin5_holdout"]["entities_gold"] > 0 and 0 < m["swap_sentences"] < m["train_sentences"]
    with pytest.raises(ValueError, match="1..5, got 6"):
        train_ner(tmp_path / "x", holdout_document=6, base=tiny_bert_dir)
    assert json.loads((out / "llmos_config.json").read_text())["case_vocab_size"] == 5
    table = load_file(str(out / "head.safetensors"))["encoder.case_embeddings.weight"]
    assert table.shape[0] == 5 and table.abs().sum() > 0  # trained away from its zero start
    tagger = EntityTagger.load(out, base=tiny_bert_dir)
    assert tagger.model.config.case_vocab_size == 5
    words = ["the", "agent", "bank", "signed", "for", "silicon", "valley", "bank", "in", "new", "york"]
    assert [len(t) for t in tagger.tag_words([words, [w.upper() for w in words]])] == [len(words)] * 2
    enc = tagger.tokenizer([words], is_split_into_words=True, return_tensors="pt")
    cases = {c: torch.tensor([case_ids([c(w) for w in words], enc.word_ids(0))]) for c in (str.lower, str.upper)}
    with torch.no_grad():  # same sub-tokens (uncased vocabulary), different case ids: different outputs
        lower, upper = (tagger.model(enc["input_ids"], case_ids=cases[c]).logits for c in (str.lower, str.upper))
    assert not torch.allclose(lower, upper)
