from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.encoders.events import load_fixture, per_class_report
from llmos_quant.encoders.news_parser import (
    EVENT_TYPES,
    NewsParser,
    TickerLinker,
    UniverseTable,
    company_aliases,
    extract_numbers,
    linking_accuracy,
    rule_events,
)
from llmos_quant.errors import ValidationError


@pytest.fixture(scope="module")
def linker():
    table = UniverseTable.from_pairs([("AAPL", "Apple Inc"), ("MSFT", "Microsoft Corp"), ("TGT", "Target Corp"),
                                      ("GOOG", "Alphabet Inc"), ("GOOGL", "Alphabet Inc"), ("XOM", "Exxon Mobil Corp")],
                                     {"XOM": ["Exxon"]})
    return TickerLinker(table)


def test_names_are_also_linked_as_running_text_spells_them():
    # initials with or without dots, an ampersand between letters spaced or spelled out, "!" dropped, "D/B/A" and a
    # trailing listing qualifier "New" removed
    assert {"J.M. Smucker", "J M Smucker"} <= set(company_aliases("JM Smucker Company (The)"))
    assert "JB Hunt Transport Services" in company_aliases("J.B. Hunt Transport Services")
    assert "T. Rowe Price" in company_aliases("T Rowe Price Group Inc")
    assert {"H & R Block", "H and R Block"} <= set(company_aliases("H&R Block Inc"))
    assert company_aliases("AT&T Inc") == ["AT&T Inc", "AT&T"]  # not between single letters: as written
    assert "Yum Brands" in company_aliases("Yum! Brands Inc")
    assert company_aliases("D/B/A Chubb Limited New")[-1] == "Chubb"
    table = UniverseTable.from_pairs([("SJM", "JM Smucker Company (The)"), ("HRB", "H&R Block Inc"),
                                      ("CB", "D/B/A Chubb Limited New"), ("TROW", "T Rowe Price Group Inc")])
    link = TickerLinker(table).link
    assert link("Coffee sales drive J.M. Smucker results")[0][0]["ticker"] == "SJM"
    assert link("BRIEF-H and R Block shares fall in extended trading")[0][0]["ticker"] == "HRB"
    assert link("UPDATE 1-Chubb's profit rises as catastrophe losses drop")[0][0]["ticker"] == "CB"
    assert link("Asset manager T. Rowe Price profit up")[0][0]["ticker"] == "TROW"


def test_add_gives_hyphen_variants_as_from_pairs_does():
    table = UniverseTable.from_pairs([("AAPL", "Apple Inc")])
    table.add("BF.B", aliases=["Brown-Forman"])
    table.add("AAPL", aliases=["Apple-Computer"])
    aliases = dict(zip(table.frame["ticker"], table.frame["aliases"], strict=True))
    assert {"Brown-Forman", "Brown Forman"} <= set(aliases["BF.B"])
    assert {"Apple-Computer", "Apple Computer", "Apple"} <= set(aliases["AAPL"])
    assert TickerLinker(table).link("Brown Forman raises outlook")[0][0]["ticker"] == "BF.B"


def test_aliases_strip_corporate_suffixes():
    assert company_aliases("Exxon Mobil Corp") == ["Exxon Mobil Corp", "Exxon Mobil"]
    assert company_aliases("Apple Inc.") == ["Apple Inc.", "Apple"]
    # names as the Reuters company table writes them: HTML entities, (The), AG, Ord
    assert company_aliases("Moody&#39;s Corporation") == ["Moody's Corporation", "Moody's"]
    assert company_aliases("Goldman Sachs Group Inc (The)")[-1] == "Goldman Sachs"
    assert company_aliases("Novartis AG")[-1] == "Novartis"
    assert company_aliases("Toyota Motor Corp Ltd Ord")[-1] == "Toyota Motor"
    assert company_aliases("The Boeing Company")[-1] == "Boeing"


def test_names_with_and_hyphens_or_a_leading_digit_link():
    # "Eli Lilly and Company" is "Eli Lilly", not "Eli Lilly and"; hyphenated names are also written with a space
    assert company_aliases("Eli Lilly and Company")[-1] == "Eli Lilly"
    assert "Eli Lilly and" not in company_aliases("Eli Lilly and Company")
    assert "Anheuser Busch Inbev" in company_aliases("Anheuser-Busch Inbev SA")
    assert company_aliases("Coca-Cola Co") == ["Coca-Cola Co", "Coca-Cola", "Coca Cola Co", "Coca Cola"]
    table = UniverseTable.from_pairs([("LLY", "Eli Lilly and Company"), ("BUD", "Anheuser-Busch Inbev SA"),
                                      ("MMM", "3M Company")])
    link = TickerLinker(table).link
    assert link("BRIEF-Eli Lilly reports quarterly earnings")[0][0]["ticker"] == "LLY"
    assert link("Anheuser Busch Inbev total volume rises")[0][0]["ticker"] == "BUD"
    assert link("3M earnings miss expectations")[0][0]["ticker"] == "MMM"  # a name may start with a digit
    assert link("we bought 3m shares of nothing")[0] == []  # but not with a lower-case letter
    # ... and an amount is not 3M: inside a figure, or a short digit name without company context
    assert link("Arctic Cat Reports Q1 EPS $0.14; Revenues $111.3M vs $98.76M Est")[0] == []
    assert link("3M pursues paint-less cars")[0][0]["ticker"] == "MMM"  # a headline that starts with the name
    links, unlinked = link("Startup raises 3M in seed round")
    assert links == [] and unlinked[0]["reason"].startswith("name reads as an amount")
    # the first-word rule reads the names as written: "Snap-On" gives no "Snap", "Twenty-First Century Fox" no "Twenty"
    # a hyphenated name's distinctive first part is an alias ("Freeport"), unless it is a common word
    assert TickerLinker(UniverseTable.from_pairs([("FCX", "Freeport-McMoRan Inc")])).link(
        "Freeport profit dips as metal prices fall")[0][0]["ticker"] == "FCX"
    table = UniverseTable.from_pairs([("SNA", "Snap-On Inc"), ("FOX", "Twenty-First Century Fox Inc"),
                                      ("FOXA", "Twenty-First Century Fox Inc"), ("EBAY", "eBay Inc")],
                                     {"FOX": ["21st Century Fox"], "FOXA": ["21st Century Fox"]})
    link = TickerLinker(table).link
    assert link("Snap election called in Japan")[0] == [] and link("Twenty killed in bus crash")[0] == []
    assert link("21st century fox hunting ban")[0] == []  # a lower-case alias links only as the universe writes it
    assert link("Snap On shares rise")[0][0]["ticker"] == "SNA"
    assert {x["ticker"] for x in link("21st Century Fox shares fall")[0]} == {"FOX", "FOXA"}
    assert link("eBay profit beats estimates")[0][0]["ticker"] == "EBAY"  # written in lower case by the universe
    assert link("EBAY SAYS PROFIT ROSE")[0][0]["ticker"] == "EBAY"


def test_distinctive_first_words_become_aliases_when_they_name_one_issuer():
    from llmos_quant.encoders.news_parser import first_word_alias

    assert first_word_alias("Toyota Motor Corp") == "Toyota" and first_word_alias("Lockheed Martin") == "Lockheed"
    assert first_word_alias("General Electric Company") is None  # generic first word
    assert first_word_alias("Apple Inc") is None  # one word: the name is already its alias
    table = UniverseTable.from_pairs([("TM", "Toyota Motor Corp"), ("LMT", "Lockheed Martin Corp"),
                                      ("MRO", "Marathon Oil Corp"), ("MPC", "Marathon Petroleum Corp"),
                                      ("DISCA", "Discovery Communications Inc"), ("DISCK", "Discovery Communications Inc"),
                                      ("KSS", "Kohl&#39;s Corporation")])
    link = TickerLinker(table).link
    assert link("Toyota recalls 1 million cars")[0][0]["ticker"] == "TM"
    assert link("Lockheed wins Pentagon contract")[0][0]["ticker"] == "LMT"
    assert link("Kohl's down in premarket after September sales")[0][0]["ticker"] == "KSS"
    assert link("Marathon shares rise")[0] == []  # two issuers start with "Marathon": no first-word alias
    assert {x["ticker"] for x in link("Discovery Communications to buy Scripps")[0]} == {"DISCA", "DISCK"}


def test_names_cashtags_rics_possessives(linker):
    for text in ("Apple unveils new iPhone", "Apple Inc shares rise", "$AAPL jumps", "AAPL beats estimates",
                 "Apple's profit rises", "Shares of AAPL.O rose"):
        links, _ = linker.link(text)
        assert links and links[0]["ticker"] == "AAPL", text
    assert linker.link("$AAPL jumps")[0][0]["method"] == "cashtag"
    assert linker.link("Shares of AAPL.O rose")[0][0]["method"] == "ric"
    links, _ = linker.link("Exxon and Microsoft sign cloud deal")
    assert {x["ticker"] for x in links} == {"XOM", "MSFT"}


def test_ambiguous_and_common_word_names(linker):
    # share classes of one issuer: the text names it without doubt, both classes keep the full confidence
    links, _ = linker.link("Alphabet profit beats estimates")
    assert {x["ticker"] for x in links} == {"GOOG", "GOOGL"} and links[0]["confidence"] == pytest.approx(0.9)
    assert links[0]["method"] == "name of 2 share classes"
    # one alias of two different issuers splits the confidence, so a unique name outranks it
    two = TickerLinker(UniverseTable.from_pairs([("AAA", "Acme Foods Inc"), ("BBB", "Bolt Corp")],
                                                {"AAA": ["Acme"], "CCC": ["Acme"]}))
    links, _ = two.link("Acme and Bolt shares rise")
    assert links[0]["ticker"] == "BBB" and {x["ticker"] for x in links} == {"AAA", "BBB", "CCC"}
    assert next(x for x in links if x["ticker"] == "AAA")["confidence"] == pytest.approx(0.45)
    links, unlinked = linker.link("Target price raised to 50 for dozens of names")
    assert not links and unlinked and "common word" in unlinked[0]["reason"]
    assert linker.link("Target shares fall after weak holiday sales")[0][0]["ticker"] == "TGT"
    assert linker.link("apple pie recipe")[0] == []
    links, unlinked = linker.link("$ZZZZ surges")
    assert not links and unlinked[0]["reason"] == "cashtag not in universe"
    assert linker.link(None) == ([], [])


def test_numeric_facts():
    facts = extract_numbers("Acme up 26 pct after Q2 EPS of $0.42 vs $0.38 consensus; PT raised to $150 from $120")
    kinds = {f["kind"] for f in facts}
    assert {"pct", "vs_consensus", "price_target"} <= kinds
    pct = next(f for f in facts if f["kind"] == "pct")
    assert pct["value"] == 26 and pct["direction"] == "up"
    vs = next(f for f in facts if f["kind"] == "vs_consensus")
    assert vs["beat"] and vs["surprise"] == pytest.approx(0.04)
    pt = next(f for f in facts if f["kind"] == "price_target")
    assert pt["value"] == 150 and pt["previous"] == 120
    assert next(f for f in extract_numbers("Shares fall 3%") if f["kind"] == "pct")["direction"] == "down"
    amount = next(f for f in extract_numbers("to buy rival for $2.4 billion") if f["kind"] == "amount")
    assert amount["value"] == 2.4e9 and amount["currency"] == "USD"
    assert extract_numbers(None) == []


def test_rules_on_examples():
    assert rule_events("Acme to buy rival for $2 billion") == ["mna"]
    assert "analyst" in rule_events("Acme upgraded to buy at brokerage")
    assert rule_events("Acme shares edge higher") == ["other"]


def test_parse_adds_columns_and_handles_bad_input(linker):
    parser = NewsParser(linker=linker)
    frame = pd.DataFrame({"headline": ["Apple profit rises 10 pct", None, ""], "body": ["", "", ""]})
    out = parser.parse(frame)
    assert list(out.columns[-4:]) == ["tickers", "events", "numbers", "entities"]
    assert out["tickers"].iloc[0][0]["ticker"] == "AAPL" and out["events"].iloc[0] == ["earnings"]
    assert out["tickers"].iloc[1] == [] and out["events"].iloc[2] == [] and len(out) == 3
    with pytest.raises(ValidationError, match="headline"):
        parser.parse(pd.DataFrame({"title": ["x"]}))


def test_fixture_is_the_projects_own_and_large_enough():
    f = load_fixture()
    assert len(f) >= 300 and f["headline"].is_unique
    assert set(c for evs in f["events"] for c in evs) == set(EVENT_TYPES)
    report = per_class_report(f["events"].tolist(), [rule_events(h) for h in f["headline"]])
    assert list(report.index) == list(EVENT_TYPES)
    assert report["precision"].between(0, 1).all()


def test_linking_accuracy_helper(linker):
    acc = linking_accuracy(linker, ["Apple rises", "nothing here", "$MSFT falls"], ["AAPL", "AAPL", "MSFT"])
    assert acc["coverage"] == pytest.approx(2 / 3) and acc["top1_accuracy"] == pytest.approx(2 / 3)
    texts = ["Apple and Microsoft shares rise", "Microsoft rises", "Alphabet rises"]
    acc = linking_accuracy(linker, texts, ["MSFT", "AAPL", "GOOGL"], accept=[set(), {"MSFT"}, {"GOOG"}])
    assert acc["top1_accuracy"] == 0.0 and acc["gold_linked"] == pytest.approx(2 / 3)
    assert acc["top1_accepted"] == pytest.approx(2 / 3)  # row 2 by accept; row 3: GOOG is GOOGL's other class


@pytest.mark.data
def test_default_universe_links_reuters_rows(shared_data):
    table = UniverseTable.default()
    assert {"AAPL", "MSFT"} <= set(table.frame["ticker"])
    link = TickerLinker(table)
    assert link.link("Apple profit beats estimates")[0][0]["ticker"] == "AAPL"


def test_entity_spans_and_f1():
    from llmos_quant.encoders.ner import entity_f1, spans

    assert spans(["O", "I-ORG", "I-ORG", "O", "I-PER", "I-LOC"]) == {(1, 3, "ORG"), (4, 5, "PER"), (5, 6, "LOC")}
    assert spans(["B-ORG", "B-ORG"]) == {(0, 1, "ORG"), (1, 2, "ORG")}
    m = entity_f1([["I-ORG", "O", "I-PER"]], [["I-ORG", "O", "I-LOC"]])
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["f1_by_type"]["ORG"] == 1.0


def test_shipped_entity_tagger_and_event_head_load_offline(monkeypatch):
    from llmos_quant.encoders.events import DEFAULT_EVENT_ADAPTER, EventClassifier
    from llmos_quant.encoders.ner import DEFAULT_NER_ADAPTER, EntityTagger

    monkeypatch.setenv("LLMOS_QUANT_SHARED_DATA", "/nonexistent")
    for folder in (DEFAULT_EVENT_ADAPTER, DEFAULT_NER_ADAPTER):
        assert sum(p.stat().st_size for p in folder.iterdir()) <= 10 * 1024 * 1024
    ents = EntityTagger.load().entities(["John Smith , chief executive of Silicon Valley Bank , said in Boston .", None])
    assert {"text": "John Smith", "type": "PER"} in ents[0] and ents[1] == []
    events = EventClassifier.load().predict(["Acme to acquire rival for $2 billion", "Acme quarterly profit rises 20 pct", ""])
    assert "mna" in events[0] and "earnings" in events[1] and events[2] == []
    parser = NewsParser(linker=None, event_model=EventClassifier.load(), tagger=EntityTagger.load())
    out = parser.parse(pd.DataFrame({"headline": ["Acme to acquire rival for $2 billion"]}))
    assert out["events"].iloc[0] == events[0] and out["tickers"].iloc[0] == []


def test_actual_versus_consensus_pairs():
    cases = {
        "Acme Q3 EPS $0.26 vs view $0.38": ("eps", 0.26, 0.38, -1),
        "Acme posts Q2 EPS of $1.12 vs. consensus of $0.98": ("eps", 1.12, 0.98, 1),
        "Beta revenue $4.1 billion versus analysts' estimates of $4.0 billion": ("revenue", 4.1, 4.0, 1),
        "Gamma earnings per share 0.50 vs the average estimate 0.50": ("eps", 0.50, 0.50, 0),
        "Delta Q4 EPS ($0.12) vs estimate ($0.05)": ("eps", -0.12, -0.05, -1),
    }
    for text, (metric, actual, est, sign) in cases.items():
        vs = [f for f in extract_numbers(text) if f["kind"] == "vs_consensus"]
        assert len(vs) == 1, text
        v = vs[0]
        assert (v["metric"], v["actual"], v["estimate"], v["surprise_sign"]) == (metric, actual, est, sign), text
        # the pair's numbers are not reported again as loose amounts
        assert not [f for f in extract_numbers(text) if f["kind"] == "amount"], text


def test_each_amount_once_and_percent_direction_from_its_sentence():
    parser = NewsParser(linker=None, use_body=True)
    frame = pd.DataFrame({"headline": ["Acme to buy Beta for $2.4 billion"],
                          "body": ["Acme Corp agreed to buy Beta Inc for $2.4 bln in cash. Beta shares rose. "
                                   "Acme's stock fell sharply on Monday, losing 3%."]})
    facts = parser.parse(frame)["numbers"].iloc[0]
    amounts = [f for f in facts if f["kind"] == "amount"]
    assert [a["value"] for a in amounts] == [2.4e9]  # headline and lede state it once between them
    pct = [f for f in facts if f["kind"] == "pct"]
    assert [(p["value"], p["direction"]) for p in pct] == [(3.0, "down")]  # "rose" is another sentence's verb
    assert extract_numbers("Shares of Acme rallied, adding 4 percent")[0]["direction"] == "up"
    assert extract_numbers("Acme said 12% of staff work remotely")[0]["direction"] == "unknown"
