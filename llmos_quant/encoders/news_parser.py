"""News parser: from a headline (and lede) to tickers, event types, numeric facts and entities.

- ``UniverseTable`` / ``TickerLinker``: company names, aliases, cashtags ($AAPL), Reuters RICs (AAPL.O) and
  bare upper-case tickers -> tickers of a universe, each with a confidence and the method that matched.
  Names that are also common words ("Target", "Gap") need company context; a name shared by several
  tickers (share classes) links to all of them with the confidence split; unlinked mentions carry a reason.
  With a learned ``link_model.LinkModel`` (shipped; ``NewsParser.default()`` uses it) the model's best ticker goes
  first when the rules link it too, or, with a high enough score, as a link of its own (method ``learned``).
- Event types (multi-label, ``EVENT_TYPES``): transparent keyword rules give weak labels; an LLMOS
  classification head is trained on those weak labels (``llmos-quant train events``). On the project's
  hand-labelled fixture the rules still score higher than the head (docs/news_parser.md), so
  ``NewsParser.default()`` uses the rules unless ``events='model'`` is asked for.
- Numeric facts: percentages with direction, price targets, EPS / revenue vs consensus, currency amounts.
- Entities: the FIN-NER token classifier (``ner.EntityTagger``).

``NewsParser.parse(frame)`` adds the columns ``tickers``, ``events``, ``numbers``, ``entities``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ValidationError

if TYPE_CHECKING:
    from .link_model import LinkModel

EVENT_TYPES = ("earnings", "guidance", "analyst", "mna", "legal", "management", "product", "capital", "macro", "other")

EVENT_DOCS = {
    "earnings": "results and their components: profit, revenue, EPS, same-store sales, vs estimates",
    "guidance": "company forecasts and outlook changes, profit warnings",
    "analyst": "rating changes, price targets, coverage initiations",
    "mna": "mergers, acquisitions, divestitures, stakes, takeover bids, spin-offs",
    "legal": "lawsuits, settlements, fines, probes, regulatory decisions and approvals, recalls",
    "management": "executive and board changes, hires, departures, pay",
    "product": "launches, unveilings, contracts and orders, trials, new facilities",
    "capital": "buybacks, dividends, share and debt offerings, IPOs, splits, financing",
    "macro": "economy, central banks, rates, inflation, commodities, trade policy",
    "other": "none of the above",
}

_RULES: dict[str, str] = {
    "earnings": r"\b(earnings|results?|profit|net (income|loss)|(quarterly|annual|first-half|q[1-4]) (loss|revenue|sales)|"
                r"revenue|sales (rise|fall|jump|drop|decline|grow|climb)|eps\b|per share (rise|fall)|same-store sales|"
                r"(beats?|miss(es)?|tops?|top|in line with) (\w+ )?(estimates|expectations|forecasts)|swings? to|"
                r"loss (narrows|widens)|quarterly (deliveries|subscriber))",
    "guidance": r"\b(guidance|outlook|forecasts?\b|profit warning|warns|sees (\w+ )?(revenue|growth|flat|20\d\d|fy|q[1-4])|"
                r"expects?\b|(raises|lifts|cuts|lowers|trims|reaffirms|withdraws) (its )?(full-year|annual|fiscal|\d{4}|"
                r"forecast|outlook|guidance)|guides)",
    "analyst": r"\b(upgrade[sd]?|downgrade[sd]?|price target|\bpt\b|target (raised|cut|lowered|trimmed)|"
               r"(initiat\w+|starts) (\w+ )?coverage|initiated with|rating|overweight|underweight|equal-weight|"
               r"outperform|underperform|reiterat\w+|top pick|(cut|raised|upgraded|downgraded) to (buy|sell|hold|neutral)|"
               r"\bto (buy|sell|hold|neutral) from\b|at broker|brokerage)",
    "mna": r"\b(acquir\w+|acquisition|merger?s?|merge\b|takeover|buyout|to buy (?!back)\w+|buys (?!back)\w+|"
           r"bought by|to be (bought|acquired)|deal to buy|bids?\b|offer for|stake\b|divest\w*|spin off|spin-off|"
           r"sells? (\w+ ){0,3}(unit|business|stations|assets|wind farms|brand)|sale of|explores sale|all-(stock|share) deal|"
           r"to combine|talks to buy|takeover approach)",
    "legal": r"\b(lawsuits?|sue[sd]?\b|court|judge|settles?|settlement|probe|investigation|regulators?|regulatory|"
             r"\bsec\b|ftc|fcc|justice department|antitrust|fined?|penalty|fda|approval|approved by|approves|"
             r"rejected by|recalls?|patent|permit|consent decree|class action|stress test|accused|appeal|dispute)",
    "management": r"\b(ceo|chief (executive|financial|operating|risk)|cfo|coo|chairman|president\b|resigns?|steps down|"
                  r"appoints?|names (\w+ )?(new|interim|former|first)|hires?|executive|board (ousts|seats)|directors?\b|"
                  r"retire|departs|departure|succession|promotes|shake-up|activist|leave\b)",
    "product": r"\b(launch\w*|unveil\w*|introduc\w+|debuts?|releases? (new|a|its)|rolls? out|new (version|product|model|"
               r"collection|menu)|opens? (\w+ )?(new|largest|flagship)|begins? (production|deliveries|trial)|"
               r"starts production|contract|orders? from|trial|drug|treatment|deliveries of|wins? (\$|order|approval for)|"
               r"signs (\w+ )?(supply|licensing) deal|discovers|develops|plans \$[\d.]+ (billion|million) factory)",
    "capital": r"\b(buyback|buy back|repurchase|dividend|payout|offering|share sale|stock sale|notes\b|bonds?\b|"
               r"ipo\b|initial public offering|stock split|credit facility|raises \$|debt financing|convertible|"
               r"capital through|first day of trading)",
    "macro": r"\b(fed\b|federal reserve|interest rates?|rates? (steady|hike|cut)|inflation|gdp|jobs|unemployment|"
             r"oil prices|crude|tariffs?|economy|central banks?|treasury yields|ecb|bank of (england|japan)|dollar|yen|"
             r"consumer (prices|confidence)|housing starts|manufacturing activity|retail sales|opec|emerging market|"
             r"factory orders|mortgage rates|global growth|trade fears)",
}
_RULES_RE = {k: re.compile(v, re.I) for k, v in _RULES.items()}


def rule_events(text: str) -> list[str]:
    """Weak event labels from the keyword rules (``other`` when none fires)."""
    found = [k for k, rx in _RULES_RE.items() if rx.search(text or "")]
    return found or ["other"]


# ---------------------------------------------------------------------------------------------- numbers
_PCT = re.compile(r"(?P<verb>up|down|rises?|rose|falls?|fell|jumps?|jumped|drops?|dropped|gains?|gained|climbs?|"
                  r"climbed|slumps?|slumped|surges?|surged|declines?|declined|plunges?|plunged|soars?|soared|"
                  r"increases?|increased|decreases?|decreased|grows?|grew|slides?|slid|sinks?|sank|cuts?|raises?|"
                  r"lifts?|higher|lower)?\s*(?:by\s+)?(?:about\s+|nearly\s+|almost\s+)?"
                  r"(?P<num>-?\d+(?:\.\d+)?)\s*(?P<unit>%|pct|percent|per cent)", re.I)
_UP = {"up", "rise", "rises", "rose", "jump", "jumps", "jumped", "gain", "gains", "gained", "climb", "climbs", "climbed",
       "surge", "surges", "surged", "soar", "soars", "soared", "increase", "increases", "increased", "grow", "grows",
       "grew", "raise", "raises", "lift", "lifts", "higher"}
_DOWN = {"down", "fall", "falls", "fell", "drop", "drops", "dropped", "slump", "slumps", "slumped", "decline",
         "declines", "declined", "plunge", "plunges", "plunged", "decrease", "decreases", "decreased", "slide", "slides",
         "slid", "sink", "sinks", "sank", "cut", "cuts", "lower"}
_MONEY = re.compile(r"(?P<cur>\$|€|£|US\$|EUR\s?|USD\s?|GBP\s?)(?P<num>\d+(?:,\d{3})*(?:\.\d+)?)\s*"
                    r"(?P<scale>billion|bln|bn|million|mln|mn|thousand|k)?\b", re.I)
_PT = re.compile(r"(?:price target|\bpt\b|target)\D{0,30}?(?:to|at|of)?\s*\$(?P<new>\d+(?:\.\d+)?)"
                 r"(?:\s*from\s*\$?(?P<old>\d+(?:\.\d+)?))?", re.I)
_VS = re.compile(r"(?P<what>eps|revenues?|sales|earnings per share)\b(?:[^$\d.;]|\.(?!\s)){0,30}?"
                 r"(?P<neg>-|\()?\$?(?P<actual>\d+(?:\.\d+)?)\)?\s*(?P<scale>billion|million|bln|mln|bn|mn)?\s*"
                 r"(?:vs\.?|versus|compared with|against)\s*"
                 r"(?:(?:the\s+|an?\s+)?(?:wall street\s+|analysts'?\s+|street\s+|average\s+|mean\s+)?"
                 r"(?:view|consensus|estimates?|expectations?|forecasts?)\s*(?:of\s*)?)?"
                 r"(?P<eneg>-|\()?\$?(?P<est>\d+(?:\.\d+)?)\)?"
                 r"\s*(?:billion|million|bln|mln|bn|mn)?\s*(?:consensus|estimates?|expected|forecast|view)?", re.I)
_DIRECTION_WORDS_UP = {"gaining", "advancing", "adding", "rallying", "rallied", "advanced", "added",
                                      "boosted", "improved", "improving", "widened", "widening", "beat", "topped"}
_DIRECTION_WORDS_DOWN = {"losing", "lost", "shed", "shedding", "sliding", "falling", "dropping", "declining",
                         "tumbled", "tumbling", "slipped", "slipping", "narrowed", "narrowing", "missed", "eased",
                         "weakened", "lowered", "trimmed", "reduced", "slashed"}
_SCALE = {"billion": 1e9, "bln": 1e9, "bn": 1e9, "million": 1e6, "mln": 1e6, "mn": 1e6, "thousand": 1e3, "k": 1e3}
_CUR = {"$": "USD", "US$": "USD", "USD": "USD", "€": "EUR", "EUR": "EUR", "£": "GBP", "GBP": "GBP"}


def _sentence_direction(text: str, pos: int) -> str:
    """``up``/``down`` from the last direction word before ``pos`` in the sentence that holds it, else ``unknown``."""
    start = max(text.rfind(". ", 0, pos), text.rfind("; ", 0, pos), text.rfind("\n", 0, pos)) + 1
    for word in reversed(re.findall(r"[a-z]+", text[start:pos].lower())):
        if word in _UP or word in _DIRECTION_WORDS_UP:
            return "up"
        if word in _DOWN or word in _DIRECTION_WORDS_DOWN:
            return "down"
    return "unknown"


def extract_numbers(text: str) -> list[dict[str, Any]]:
    """Numeric facts: ``pct`` (value, direction), ``price_target`` (new, old), ``vs_consensus`` (metric, actual,
    estimate, surprise, beat) and ``amount`` (value in units, currency).

    A percentage's direction is its verb ("rose 5%"), else the last direction word before it in its own sentence
    ("fell sharply, losing 3%"). Numbers inside a price target or an actual-vs-estimate pair are not repeated as
    amounts, and a fact stated twice (a headline and its lede) is reported once."""
    if not isinstance(text, str) or not text:
        return []
    facts: list[dict[str, Any]] = []
    for m in _PCT.finditer(text):
        verb = (m.group("verb") or "").lower()
        val = float(m.group("num"))
        direction = "up" if verb in _UP else "down" if verb in _DOWN else ("down" if val < 0 else "unknown")
        if direction == "unknown":
            direction = _sentence_direction(text, m.start())
        facts.append({"kind": "pct", "value": abs(val), "direction": direction, "text": m.group(0).strip()})
    spans = []
    for m in _PT.finditer(text):
        facts.append({"kind": "price_target", "value": float(m.group("new")),
                      "previous": float(m.group("old")) if m.group("old") else None, "text": m.group(0).strip()})
        spans.append(m.span())
    for m in _VS.finditer(text):
        actual = float(m.group("actual")) * (-1 if m.group("neg") else 1)
        est = float(m.group("est")) * (-1 if m.group("eneg") else 1)
        metric = m.group("what").lower()
        metric = "eps" if metric == "earnings per share" else "revenue" if metric.startswith("revenue") else metric
        facts.append({"kind": "vs_consensus", "metric": metric, "actual": actual, "estimate": est,
                      "surprise": round(actual - est, 10), "beat": actual > est,
                      "surprise_sign": int((actual > est) - (actual < est)), "text": m.group(0).strip()})
        spans.append(m.span())
    for m in _MONEY.finditer(text):
        if any(a <= m.start() < b for a, b in spans):
            continue
        scale = _SCALE.get((m.group("scale") or "").lower(), 1.0)
        cur = _CUR.get(m.group("cur").strip().upper(), _CUR.get(m.group("cur").strip(), "USD"))
        facts.append({"kind": "amount", "value": float(m.group("num").replace(",", "")) * scale, "currency": cur,
                      "text": m.group(0).strip()})
    return _once(facts)


def _once(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeats of a fact (same kind and values; the text may differ: "$2.4 billion" / "$2.4 bln")."""
    seen, out = set(), []
    for f in facts:
        key = (f["kind"], *(f.get(k) for k in ("value", "currency", "direction", "previous", "metric", "actual",
                                                "estimate")))
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


# ---------------------------------------------------------------------------------------------- tickers
_SUFFIXES = re.compile(r"(,?\s+(inc\.?|incorporated|corp\.?|corporation|co\.?|company|companies|cos\.?|ltd\.?|limited|"
                       r"plc|p\.l\.c\.?|holdings?|group|n\.?v\.?|s\.?a\.?|s\.?e\.?|ag|a\.?g\.?|s\.?p\.?a\.?|l\.?p\.?|"
                       r"& co\.?|ord|adr|ads|oyj|asa|ab|tbk|bhd|the|\(the\)|\(new\)|new|class [abc]|cl [abc])\.?)+$", re.I)
# Generic first words: "General Electric" is not "General", "American Express" is not "American".
_GENERIC_FIRST = {"snap", "twenty", "parker", "coca", "kimberly",  # first words of hyphenated names: common words
                  "general", "american", "united", "first", "national", "international", "global", "bank", "banco",
                  "western", "eastern", "southern", "northern", "pacific", "atlantic", "capital", "royal", "public",
                  "state", "energy", "health", "best", "dollar", "news", "new", "central", "world", "china", "japan",
                  "texas", "california", "the", "j", "jp", "mr", "air", "home", "great", "digital", "consolidated",
                  "principal", "life", "sealed", "twenty-first", "universal", "regional", "advanced", "applied", "booking",
                  "host", "realty", "simon", "union", "prudential", "allied", "continental", "citizens",
                  "people's", "peoples", "edison", "duke", "dominion", "marathon", "mid-america", "essex", "federal",
                  "discovery", "target", "gap", "progressive", "mosaic", "ball", "southwest", "norfolk",
                  "hartford", "aon", "arch", "crown", "alliance", "assurant", "motorola", "deutsche",
                  "british", "canadian", "australian", "swiss", "french", "german", "korea", "taiwan", "india", "hong"}
COMMON_WORD_NAMES = {"target", "gap", "ball", "block", "discovery", "progressive", "southern", "visa",
                     "general", "american", "united", "first", "national", "best",
                     "dollar", "news", "fox", "mosaic", "nasdaq", "equity", "public", "state", "entergy"}
_CONTEXT = re.compile(r"\b(shares?|stock|inc|corp|company|retailer|maker|firm|group|'s|ceo|chief|quarterly|profit|"
                      r"revenue|sales|results|to buy|deal)\b", re.I)
STOP_TICKERS = {"A", "I", "CEO", "CFO", "COO", "IPO", "US", "USA", "UK", "EU", "FDA", "SEC", "AI", "IT", "ALL", "ARE",
                "ON", "NOW", "HAS", "CAN", "KEY", "LOW", "MAN", "FAST", "DE", "BRIEF", "UPDATE", "RPT", "GDP", "ECB",
                "OPEC", "FTC", "FCC", "DOJ", "EPS", "PT", "Q1", "Q2", "Q3", "Q4", "FY", "NYSE", "ETF", "CEO'S", "AM",
                "PM", "GO", "SO", "BE", "BIG", "CAT", "COST", "HOG", "LUV", "DISH", "AN", "OR", "AND", "THE", "FOR",
                "NEW", "TV", "PC", "OIL", "CO", "INC", "EST", "IMF", "ADR", "LLC", "GE"}


_TRAILING_AND = re.compile(r"(\s+(and|&))+$", re.I)
_HYPHEN = re.compile(r"(?<=[A-Za-z])-(?=[A-Za-z])")
_INITIALS = re.compile(r"^([A-Z]{1,2}|[A-Z] [A-Z]) (?=[A-Z][a-z])")  # "JM Smucker", "T Rowe Price", "J M Smucker"
_DOTTED_INITIALS = re.compile(r"^([A-Z]\. ?){1,2}(?=[A-Z][a-z])")  # "J.M. Smucker", "J. M. Smucker", "T. Rowe"
_LETTER_AMP = re.compile(r"\b([A-Z])&([A-Z])\b")  # "H&R Block", not "AT&T"
_DBA = re.compile(r"^(d/b/a|dba)\s+", re.I)  # "D/B/A Chubb Limited New": doing business as


_AMOUNT_BEFORE = re.compile(r"\b(raises?|raised|raising|of|to|about|up|over|nearly|almost|some|by|for|than|around|"
                            r"approximately|additional|another|extra)\s+$", re.I)


def _word_cases(text: str) -> tuple[bool, ...]:
    return tuple(_first_letter_is_upper(w) for w in text.split())


def _first_letter_is_upper(text: str) -> bool:
    return next((ch for ch in text if ch.isalpha()), "A").isupper()


def _clean_name(name: str) -> str:
    """A company name as written in text: HTML entities decoded (``Moody&#39;s``), whitespace collapsed."""
    import html

    return _DBA.sub("", re.sub(r"\s+", " ", html.unescape(str(name))).strip())


def company_aliases(name: str) -> list[str]:
    """Aliases from a company name: the name (HTML entities decoded: ``Moody&#39;s`` -> ``Moody's``), the name without
    corporate suffixes (``Inc``, ``plc``, ``AG``, ``(The)``, ``Ord`` ...; a trailing "and" too) and without a leading
    "The"; also each of them with its hyphens written as spaces (``Anheuser Busch``)."""
    name = _clean_name(name)
    base = _TRAILING_AND.sub("", _SUFFIXES.sub("", name).strip(" ,."))  # "Eli Lilly and Company" -> "Eli Lilly"
    out = [name]
    if base and base != name:
        out.append(base)
    if base.lower().startswith("the ") and len(base) > 6:
        out.append(base[4:])
    return [a for a in with_variants(out) if len(a) >= 2]


def _spellings(alias: str) -> list[str]:
    """Other ways running text writes ``alias``: hyphens as spaces ("Anheuser-Busch" -> "Anheuser Busch"), leading
    initials with and without dots ("JM Smucker" <-> "J.M. Smucker"), an ampersand between single letters spaced or
    spelled out ("H&R Block" -> "H & R Block", "H and R Block")."""
    out = [_HYPHEN.sub(" ", alias)] if _HYPHEN.search(alias) else []
    if "!" in alias:  # "Yum! Brands" -> "Yum Brands"
        out.append(re.sub(r"\s+", " ", alias.replace("!", "")).strip())
    if m := _INITIALS.match(alias):  # "JM Smucker" -> "J.M. Smucker", "J M Smucker"; "T Rowe Price" -> "T. Rowe Price"
        letters, rest = [c for c in m.group(0) if c.isalpha()], alias[m.end():]
        out += [".".join(letters) + ". " + rest, " ".join(letters) + " " + rest]
    if m := _DOTTED_INITIALS.match(alias):  # "J.M. Smucker" -> "JM Smucker"
        out.append("".join(c for c in m.group(0) if c.isalpha()) + " " + alias[m.end():])
    if _LETTER_AMP.search(alias):
        out += [_LETTER_AMP.sub(r"\1 & \2", alias), _LETTER_AMP.sub(r"\1 and \2", alias)]
    return out


def with_variants(aliases: Iterable[str]) -> list[str]:
    """``aliases`` plus their other spellings (``_spellings``)."""
    aliases = list(aliases)
    return list(dict.fromkeys(aliases + [v for a in aliases for v in _spellings(a)]))


def first_word_alias(name: str) -> str | None:
    """The distinctive first word of a multi-word company name ("Toyota Motor" -> "Toyota", "Lockheed Martin" ->
    "Lockheed"), or None when it is short, lower-case or generic ("General Electric", "American Express")."""
    base = _SUFFIXES.sub("", _clean_name(name)).strip(" ,.")
    words = base.split()
    if len(words) < 2:
        return None
    first = words[0].strip(",.")
    if len(first) < 4 or not first[0].isupper() or first.lower() in _GENERIC_FIRST or not re.fullmatch(r"[A-Za-z&'-]+",
                                                                                                        first):
        return None
    return first


def _issuer_key(name: str) -> str:
    """Issuer of a company name, for grouping share classes: the lower-cased name without corporate suffixes."""
    aliases = company_aliases(name) if name else []
    return aliases[-1].lower() if aliases else ""


@dataclass
class UniverseTable:
    """Columns ``ticker``, ``name``, ``aliases`` (list of str). Extend with ``add``."""

    frame: pd.DataFrame

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]], extra_aliases: dict[str, list[str]] | None = None) -> UniverseTable:
        rows: dict[str, dict[str, Any]] = {}
        for ticker, name in pairs:
            t = str(ticker).strip().upper().lstrip("$")
            if not t:
                continue
            row = rows.setdefault(t, {"ticker": t, "name": str(name or ""), "aliases": []})
            if name:
                row["aliases"] = sorted(set(row["aliases"]) | set(company_aliases(name)))
        for t, aliases in (extra_aliases or {}).items():
            row = rows.setdefault(t.upper(), {"ticker": t.upper(), "name": aliases[0] if aliases else "", "aliases": []})
            row["aliases"] = sorted(set(row["aliases"]) | set(with_variants(aliases)))
        # A distinctive first word becomes an alias when it names one issuer only (share classes of one issuer
        # share their names; two issuers starting with the same word get neither).
        issuer = {t: _issuer_key(r["name"]) for t, r in rows.items()}
        firsts: dict[str, set[str]] = {}
        for t, row in rows.items():
            for alias in [row["name"], *row["aliases"]]:
                if (w := first_word_alias(alias)) is not None:
                    firsts.setdefault(w.lower(), set()).add(issuer[t] or t)
        for row in rows.values():
            for alias in [row["name"], *row["aliases"]]:
                w = first_word_alias(alias)
                if w is not None and len(firsts[w.lower()]) == 1:
                    row["aliases"] = sorted(set(row["aliases"]) | {w})
        return cls(pd.DataFrame(list(rows.values()), columns=["ticker", "name", "aliases"]))

    @classmethod
    def default(cls) -> UniverseTable:
        """Reuters ``ticker,company`` pairs + StockNet's StockTable + S&P tickers (../shared/data) + the project's
        alias file (``data/resources/aliases.csv``)."""
        from ..data.news import read_reuters_csv
        from ..paths import shared_path

        reuters = read_reuters_csv()
        pairs = list(reuters.companies.items())
        table = pd.read_csv(shared_path("stocknet", "StockTable.tsv"), sep="\t")
        pairs += list(zip(table["Symbol"].str.lstrip("$"), table["Company"], strict=True))
        sp = shared_path("sp500_prices_5yr", "individual_stocks_5yr")
        pairs += [(p.name.removesuffix("_data.csv"), "") for p in sp.glob("*_data.csv")]
        return cls.from_pairs(pairs, load_alias_file())

    @classmethod
    def for_universe(cls, tickers: Iterable[str]) -> UniverseTable:
        """A table of just ``tickers`` (validated with ``data.tickers.validate_ticker``): names and aliases from
        the project alias file and, when the shared datasets are present, from ``default()`` filtered to these
        tickers. A ticker found in neither still gets a row (it links by cashtag or as a bare symbol)."""
        import logging

        from ..data.tickers import validate_tickers
        from ..paths import shared_data_dir

        wanted = validate_tickers(tickers)
        keep = set(wanted)
        aliases = {t.upper(): a for t, a in load_alias_file().items() if t.upper() in keep}
        table = cls.from_pairs([(t, "") for t in wanted], aliases)
        if shared_data_dir() is not None and wanted:
            try:
                full = cls.default().frame
            except FileNotFoundError as exc:  # DataNotFoundError too: the shared folder is incomplete
                logging.getLogger(__name__).warning("UniverseTable.for_universe: shared datasets incomplete (%s); "
                                                    "using the project alias file only", exc)
            else:
                for row in full[full["ticker"].isin(keep)].itertuples(index=False):
                    table.add(row.ticker, "", row.aliases)
                    if row.name:
                        table.frame.loc[table.frame["ticker"] == row.ticker, "name"] = row.name
        return table

    def add(self, ticker: str, name: str = "", aliases: Iterable[str] = ()) -> None:
        """Add a ticker, or more aliases to one: ``name``'s aliases (``company_aliases``) and ``aliases``, each with
        its hyphen-as-space variant, as ``from_pairs`` makes them."""
        t = ticker.upper()
        extra = sorted(set(with_variants(aliases)) | set(company_aliases(name) if name else []))
        if t in set(self.frame["ticker"]):
            i = self.frame.index[self.frame["ticker"] == t][0]
            self.frame.at[i, "aliases"] = sorted(set(self.frame.at[i, "aliases"]) | set(extra))
        else:
            self.frame = pd.concat([self.frame, pd.DataFrame([{"ticker": t, "name": name, "aliases": extra}])],
                                   ignore_index=True)


def load_alias_file(path: str | Path | None = None) -> dict[str, list[str]]:
    path = Path(path) if path else Path(__file__).resolve().parents[1] / "data" / "resources" / "aliases.csv"
    frame = pd.read_csv(path, comment="#")
    return {t: list(g["alias"]) for t, g in frame.groupby("ticker")}


class TickerLinker:
    """Links mentions in a text to universe tickers; see the module docstring for the rules."""

    def __init__(self, universe: UniverseTable, model: LinkModel | None = None,
                 learned_min_score: float | None = None) -> None:
        """``model``: a learned ``LinkModel`` (``LinkModel.default()`` is the shipped one). Its best ticker of the
        linker's universe goes first when the rules link it too; when it is not among the rules' links, it goes first
        only with a score of at least ``learned_min_score`` (method ``"learned"``; default: the model's recorded
        ``min_score``, chosen on the development rows)."""
        self.universe = universe
        self.model = model
        self.learned_min_score = (learned_min_score if learned_min_score is not None
                                  else float(model.meta.get("min_score", 0.0)) if model is not None else 0.0)
        self.tickers = set(universe.frame["ticker"])
        by_alias: dict[str, list[str]] = {}
        for t, aliases in zip(universe.frame["ticker"], universe.frame["aliases"], strict=True):
            for a in aliases:
                by_alias.setdefault(a.lower(), [])
                if t not in by_alias[a.lower()]:
                    by_alias[a.lower()].append(t)
        self.by_alias = by_alias
        # how each alias is written (each word's first letter upper or not): "Apple", "eBay", "3M", "21st Century Fox"
        self._word_cases: dict[str, set[tuple[bool, ...]]] = {}
        for aliases in universe.frame["aliases"]:
            for a in aliases:
                self._word_cases.setdefault(a.lower(), set()).add(_word_cases(a))
        self.issuer = {t: _issuer_key(n) or t for t, n in zip(universe.frame["ticker"], universe.frame["name"], strict=True)}
        names = sorted(by_alias, key=len, reverse=True)
        self._names = re.compile(r"(?<![\w$])(" + "|".join(re.escape(n) for n in names) + r")(?:'s|’s)?(?![\w])", re.I) \
            if names else None

    def _cased_as_a_name(self, match: str) -> bool:
        """The matched text's first letter is upper case (a name, or a headline in capitals), or lower case where the
        universe writes the alias so ("eBay", "21st Century Fox")."""
        forms = self._word_cases.get(match.lower(), set())
        if all(form[:1] != (False,) for form in forms):
            return _first_letter_is_upper(match)
        # an alias written with a lower-case first letter: every word as the universe writes it, or all capitals
        return match.isupper() or _word_cases(match) in forms

    def link(self, text: str) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """(links, unlinked): links = [{ticker, confidence, method, match, position}] best first;
        unlinked = [{match, reason}]."""
        if not isinstance(text, str) or not text.strip():
            return [], []
        scores: dict[str, dict[str, Any]] = {}
        unlinked: list[dict[str, str]] = []

        def add(t: str, conf: float, method: str, match: str, pos: int) -> None:
            cur = scores.get(t)
            if cur is None or conf > cur["confidence"]:
                scores[t] = {"ticker": t, "confidence": round(conf, 3), "method": method, "match": match,
                             "position": min(pos, cur["position"]) if cur else pos}

        for m in re.finditer(r"\$([A-Za-z]{1,5}(?:[.-][A-Za-z])?)\b", text):
            t = m.group(1).upper()
            (add(t, 0.99, "cashtag", m.group(0), m.start()) if t in self.tickers
             else unlinked.append({"match": m.group(0), "reason": "cashtag not in universe"}))
        for m in re.finditer(r"\b([A-Z]{1,5})\.(O|N|OQ|K|A|P)\b", text):
            if m.group(1) in self.tickers:
                add(m.group(1), 0.95, "ric", m.group(0), m.start())
        if self._names is not None:
            for m in self._names.finditer(text):
                alias = m.group(1)
                key = alias.lower()
                cands = self.by_alias.get(key, [])
                if not cands:
                    continue
                if not self._cased_as_a_name(alias):
                    continue  # written as the name is: "apple pie" is not Apple, "3m" is not 3M; "eBay" is eBay
                if alias[0].isdigit() and m.start() > 0 and text[m.start() - 1] in ".,":
                    continue  # "$111.3M" is an amount, not 3M
                if key[0].isdigit() and len(key) <= 3 and _AMOUNT_BEFORE.search(text[max(0, m.start() - 16):m.start()]):
                    unlinked.append({"match": alias, "reason": "name reads as an amount (raised 3M, of 3M)"})
                    continue
                if key in COMMON_WORD_NAMES and not _CONTEXT.search(text[max(0, m.start() - 40):m.end() + 40]):
                    unlinked.append({"match": alias, "reason": "name is also a common word and no company context"})
                    continue
                issuers = {self.issuer.get(t, t) for t in cands}
                # share classes of one issuer (GOOG/GOOGL): the text names that issuer without doubt, so each class
                # keeps the full confidence (ties: alphabetical); different issuers split it
                conf = 0.9 / len(issuers)
                method = ("name" if len(cands) == 1 else f"name of {len(cands)} share classes" if len(issuers) == 1
                          else f"name shared by {len(cands)} tickers")
                for t in cands:
                    add(t, conf, method, alias, m.start())
        for m in re.finditer(r"(?<![\w$.])([A-Z]{2,5})(?![\w.])", text):
            t = m.group(1)
            if t in self.tickers and t not in STOP_TICKERS and t not in scores:
                add(t, 0.6, "ticker", t, m.start())
        # best first: confidence, then the earliest mention (the subject of a headline usually comes first)
        links = sorted(scores.values(), key=lambda d: (-d["confidence"], d["position"], d["ticker"]))
        if self.model is not None:
            links = self._learned_first(text, links)
        return links, unlinked

    def _learned_first(self, text: str, links: list[dict[str, Any]]) -> list[dict[str, Any]]:
        best = self.model.best(text, allowed=self.tickers) if self.model is not None else None
        if best is None:
            return links
        from .link_model import learned_goes_first

        ticker, score = best
        if not learned_goes_first(ticker, score, [d["ticker"] for d in links], self.learned_min_score):
            return links
        ranked = [d for d in links if d["ticker"] == ticker]
        if ranked:
            return [{**ranked[0], "learned_score": round(score, 3)}, *[d for d in links if d["ticker"] != ticker]]
        return [{"ticker": ticker, "confidence": 0.5, "method": "learned", "match": "", "position": -1,
                 "learned_score": round(score, 3)}, *links]


# ---------------------------------------------------------------------------------------------- parser
class NewsParser:
    """``parse(frame)`` adds ``tickers``, ``events``, ``numbers``, ``entities`` to a news frame (``headline``,
    optional ``body``). Bad input: missing or empty headlines give empty lists; a frame without a
    ``headline`` column raises ``ValidationError``."""

    def __init__(self, linker: TickerLinker | None = None, event_model: Any = None, tagger: Any = None,
                 use_body: bool = True) -> None:
        self.linker, self.event_model, self.tagger, self.use_body = linker, event_model, tagger, use_body

    @classmethod
    def default(cls, entities: bool = True, events: str = "rules", learned_links: bool = True) -> NewsParser:
        """The shipped parts: the linker over ``UniverseTable.default()`` with the shipped learned link model
        (``learned_links=False``: the name rules alone; on Benzinga's short analyst headlines the model adds more
        wrong links than right ones, and on general news, which it never saw, it still names a company: "Coffee prices
        surge" -> SBUX; docs/news_parser.md), the event rules (``events="model"``: the LLMOS head) and
        the entity tagger (``entities=False``: none)."""
        from .events import DEFAULT_EVENT_ADAPTER, EventClassifier
        from .link_model import LinkModel
        from .ner import DEFAULT_NER_ADAPTER, EntityTagger

        event_model = EventClassifier.load() if events == "model" and DEFAULT_EVENT_ADAPTER.is_dir() else None
        tagger = EntityTagger.load() if entities and DEFAULT_NER_ADAPTER.is_dir() else None
        link_model = LinkModel.default() if learned_links else None
        try:
            table = UniverseTable.default()
        except FileNotFoundError as exc:  # DataNotFoundError too: no ../shared/data
            # the universe without the shared datasets: the project alias file and the link model's tickers (so
            # cashtags, RICs and bare tickers of those still link); company names only where the alias file has them
            tickers = sorted(set(link_model.classes) if link_model is not None else set())
            table = UniverseTable.from_pairs([(t, "") for t in tickers], load_alias_file())
            logging.getLogger(__name__).warning(
                "NewsParser.default: the shared datasets are not found (%s); linking to %d tickers (the alias file and "
                "the link model's) without the Reuters, StockNet and S&P company names", exc, len(table.frame))
        return cls(TickerLinker(table, model=link_model), event_model, tagger)

    def parse(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame) or "headline" not in frame.columns:
            got = list(frame.columns) if isinstance(frame, pd.DataFrame) else type(frame).__name__
            raise ValidationError(f"NewsParser.parse needs a frame with a 'headline' column, got {got}")
        heads = [h if isinstance(h, str) else "" for h in frame["headline"].tolist()]
        bodies = ([b if isinstance(b, str) else "" for b in frame["body"].tolist()]
                  if self.use_body and "body" in frame.columns else [""] * len(heads))
        # headline and lede as two sentences: a percentage's direction never comes from the other one
        full = [(f"{h.rstrip(' .')}. {b}" if b.strip() else h).strip() for h, b in zip(heads, bodies, strict=True)]
        out = frame.copy()
        out["tickers"] = [self.linker.link(t)[0] if self.linker else [] for t in full]
        if self.event_model is not None:
            out["events"] = self.event_model.predict(heads)
        else:
            out["events"] = [rule_events(h) if h.strip() else [] for h in heads]
        out["numbers"] = [extract_numbers(t) for t in full]
        entities = self.tagger.entities(heads) if self.tagger is not None else [[] for _ in heads]
        if self.tagger is not None:  # the universe's company names in the headline are organisations too
            entities = [_with_linked_names(e, links, len(h)) for e, links, h in zip(entities, out["tickers"], heads,
                                                                                    strict=True)]
        out["entities"] = entities
        return out


def _with_linked_names(entities: list[dict[str, str]], links: list[dict[str, Any]], head_len: int) -> list[dict[str, str]]:
    """Add an ORG entity for each company name the linker matched in the headline that no tagged entity covers (the
    tagger learned on SEC filings and misses names it never saw, "CVS Caremark")."""
    out = list(entities)
    covered = " ".join(e["text"].lower() for e in entities)
    for link in links:
        match = link["match"].removesuffix("'s").removesuffix("’s")
        if link["method"].startswith("name") and link["position"] < head_len and match.lower() not in covered:
            out.append({"text": match, "type": "ORG"})
            covered += " " + match.lower()
    return out


def linking_accuracy(linker: TickerLinker, texts: list[str], truth: list[str],
                     accept: list[set[str]] | None = None) -> dict[str, float]:
    """Top-1 accuracy (over all rows and over linked rows), coverage, and ``gold_linked``: the share of rows whose gold
    ticker is among the links at all (the ceiling of any re-ranking). ``accept``: per row, the tickers that also count
    as right (e.g. the gold's other share classes, or every ticker the same story is filed under); with it,
    ``top1_accepted`` is reported too."""
    top1, linked, anywhere, accepted = [], [], [], []
    for i, (text, gold) in enumerate(zip(texts, truth, strict=True)):
        links, _ = linker.link(text)
        tickers = [x["ticker"] for x in links]
        linked.append(bool(links))
        top1.append(bool(links) and tickers[0] == gold.upper())
        anywhere.append(gold.upper() in tickers)
        if accept is not None:
            accepted.append(bool(links) and (tickers[0] == gold.upper() or tickers[0] in accept[i]))
    n = max(len(texts), 1)
    cov = float(np.mean(linked)) if linked else 0.0
    out = {"n": len(texts), "coverage": cov, "top1_accuracy": float(np.sum(top1) / n),
           "top1_accuracy_when_linked": float(np.sum(top1) / max(np.sum(linked), 1)),
           "gold_linked": float(np.sum(anywhere) / n)}
    if accept is not None:
        out["top1_accepted"] = float(np.sum(accepted) / n)
    return out
