"""Rule-labelled Reuters headlines for the corporate actions PhraseBank hardly covers.

PhraseBank (Finnish press releases, 2004-2010) has 23 training sentences about dividends, 3 about buybacks and
almost none about broker rating changes or court outcomes, so a model trained on it reads "cuts its dividend" or
"downgraded to sell" as neutral. Counterfactual rewrites (``augment.py``) cannot make such sentences from PhraseBank,
because there are none to rewrite. Real headlines about them are plentiful in the Reuters archive (2011-2016), and
their direction is a matter of market convention, not of judgement: a company that raises its dividend, starts a
buyback, is upgraded, or wins a dismissal reports good news; one that cuts or suspends its dividend or buyback, is
downgraded, is fined, or is found liable reports bad news.

Each rule below is a pattern for one such action, written from that convention (not from the behaviour suite in
``tests/fixtures``, which is evaluation only and whose sentences are excluded here). A headline is labelled only when

- rules of exactly one polarity match it, and
- it holds no cue of the other polarity (``"Xerox cuts profit target but raises dividend"`` is dropped) and no
  contrast word (``but``, ``despite``, ``while``, ``though``).

Split by time, inside the research window: headlines published before 2016-01-01 are for training, those of 2016
are the validation slice (``evaluate_encoder(...)["valid"]["weak_accuracy"]``); nothing from 2017 on is read.
Evaluation sentences (PhraseBank, SemEval, the behaviour suite) are removed with the same key as the transfer set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from ..data.news import strip_wire_prefixes

POSITIVE, NEGATIVE = "positive", "negative"
# Wire tags beyond ``data.news.strip_wire_prefixes`` (which the news dedup and exclusion keys keep as they are).
_TAG = re.compile(r"^(research alert|buzz|instant view|press digest|analysis|column|text|correction)\s*[-:]\s*", re.I)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I)


RULES: dict[str, tuple[str, re.Pattern[str]]] = {
    "dividend_raised": (POSITIVE, _rx(r"\b(raises|raised|boosts|hikes|increases|lifts|ups)\b( its)?( quarterly| annual"
                                      r"| semi-annual| interim| final)?( cash)? (dividend|payout)")),
    "dividend_cut": (NEGATIVE, _rx(r"\b(cuts|slashes|suspends|omits|eliminates|halts|scraps|reduces|lowers|skips)\b"
                                   r"( its)?( quarterly| annual| interim| final)?( cash)? (dividend|payout)")),
    "buyback_started": (POSITIVE, _rx(r"\b(announces|approves|authorizes|authorises|unveils|launches|boosts|expands|"
                                      r"increases|sets|adds|plans|starts|ups|raises)\b[^;]{0,40}\b(buybacks?|share "
                                      r"repurchases?|stock repurchases?|repurchase (program|plan|authorization))")),
    "buyback_stopped": (NEGATIVE, _rx(r"\b(suspends|halts|scraps|ends|cuts|stops|pauses|shelves)\b[^;]{0,30}"
                                      r"\b(buybacks?|share repurchases?|stock repurchases?)")),
    "upgraded": (POSITIVE, _rx(r"\b(upgrades|upgraded)\b[^;]{0,60}\bto ('|\")?(buy|outperform|overweight|strong buy|"
                                r"accumulate|add|positive|[ab]{1,3}[+-]?)\b|\bupgraded\b")),
    "downgraded": (NEGATIVE, _rx(r"\b(downgrades|downgraded|cuts)\b[^;]{0,60}\bto ('|\")?(sell|underperform|"
                                 r"underweight|neutral|hold|reduce|negative|junk|[bc]{1,3}[+-]?)\b|\bdowngraded\b")),
    "target_raised": (POSITIVE, _rx(r"\b(raises|lifts|ups|boosts)\b( its)? (price target|target price)")),
    "target_cut": (NEGATIVE, _rx(r"\b(cuts|lowers|slashes|trims|reduces)\b( its)? (price target|target price)")),
    "legal_win": (POSITIVE, _rx(r"\b(wins|won)\b[^;]{0,30}\b(dismissal|appeal|lawsuit|court case|patent (case|suit|"
                                r"ruling|dispute)|jury verdict|arbitration)\b|\bcleared of\b|\bjudge dismisses\b[^;]{0,40}"
                                r"\b(lawsuit|suit|case|claims) against\b")),
    "legal_loss": (NEGATIVE, _rx(r"\bordered to pay\b|\bfound liable\b|\bfound guilty\b|\bpleads guilty\b|\bis fined\b|"
                                 r"\bfined\b \$|\b(loses|lost)\b[^;]{0,30}\b(appeal|lawsuit|court case|patent (case|"
                                 r"suit|ruling|dispute)|jury verdict|arbitration)\b")),
}
# Cues of the other polarity: a headline that has one is mixed news and is not labelled.
_CUES = {
    POSITIVE: _rx(r"\b(raises?|raised|boosts?|beats?|rises|rose|jumps?|surges?|soars?|record|upgrades?|upgraded|wins?|"
                  r"won|higher|gains?|tops|strong)\b"),
    NEGATIVE: _rx(r"\b(cuts?|slash\w*|loss|losses|falls?|fell|drops?|misses|missed|warns?|lowers?|weak\w*|plunges?|"
                  r"slumps?|suspends?|fined?|probe|downgrades?|downgraded|lawsuit|sues|sued|halts?|scraps?|"
                  r"layoffs?|job cuts|liable|guilty|loses|lost|review for( possible)? downgrade)\b"),
}
_CONTRAST = _rx(r"\b(but|despite|while|though|although|yet)\b")
TRAIN_END = pd.Timestamp("2016-01-01", tz="UTC")  # train: before; validation: 2016
RESEARCH_END = pd.Timestamp("2017-01-01", tz="UTC")  # never read from here on


def clean_headline(text: str) -> str:
    """The headline as a sentence: wire prefixes and tags dropped, Reuters' removed commas (double spaces) as
    commas, surrounding whitespace trimmed."""
    t = strip_wire_prefixes(str(text))
    while (stripped := _TAG.sub("", t, count=1)) != t:
        t = strip_wire_prefixes(stripped)
    t = re.sub(r"\s{2,}", ", ", t.strip())
    return re.sub(r"\s+", " ", t)


def weak_label(text: str) -> tuple[str, str] | None:
    """``(label, rule)`` for a headline one polarity's rules label and nothing contradicts; else None."""
    hits = [(name, label) for name, (label, rx) in RULES.items() if rx.search(text)]
    labels = {label for _, label in hits}
    if len(labels) != 1 or _CONTRAST.search(text):
        return None
    label = labels.pop()
    other = NEGATIVE if label == POSITIVE else POSITIVE
    stripped = text
    for name, _lab in hits:  # the matched action itself may hold a cue word ("raises dividend")
        stripped = RULES[name][1].sub(" ", stripped)
    if _CUES[other].search(stripped):
        return None
    return label, hits[0][0]


def weak_labels(texts: pd.Series) -> pd.DataFrame:
    """Columns ``text``, ``label``, ``rule`` for the texts ``weak_label`` labels (input order, input index)."""
    found = texts.astype(str).map(weak_label)
    kept = found[found.notna()]
    return pd.DataFrame({"text": texts.loc[kept.index].astype(str), "label": kept.str[0], "rule": kept.str[1]},
                        columns=["text", "label", "rule"])


@dataclass(frozen=True)
class WeakLabelSplit:
    train: pd.DataFrame  # columns text, label, rule; published before TRAIN_END
    valid: pd.DataFrame  # the same for 2016
    keys: frozenset[str]  # exclusion keys of every raw headline behind a labelled one (wire tags and all)


def weak_label_split(per_rule: int = 100, valid_per_rule: int = 30, seed: int = 0,
                     exclude: set[str] | None = None) -> WeakLabelSplit:
    """Rule-labelled Reuters headlines, deduplicated (after the exclusion key), minus evaluation sentences, at most
    ``per_rule`` per rule for training (seeded sample) and ``valid_per_rule`` per rule for validation, so that the
    frequent actions (buybacks, lawsuits) do not crowd out the rare ones."""
    from ..data.news import read_reuters_csv
    from .distill import _norm, evaluation_texts

    news = read_reuters_csv().frame
    news = news[news["published_at"] < RESEARCH_END]
    exclude = evaluation_texts() if exclude is None else exclude
    frame = pd.DataFrame({"text": news["headline"].map(clean_headline), "published_at": news["published_at"],
                          "raw_key": news["headline"].astype(str).map(_norm)})
    frame["key"] = frame["text"].map(_norm)
    frame = frame[~frame["key"].isin(exclude) & ~frame["raw_key"].isin(exclude)]
    raw_keys = frame.groupby("key")["raw_key"].agg(set)
    frame = frame.sort_values("published_at", kind="stable").drop_duplicates("key")
    labelled = weak_labels(frame["text"])
    labelled["published_at"] = frame.loc[labelled.index, "published_at"]

    def capped(part: pd.DataFrame, n: int) -> pd.DataFrame:
        groups = [g.sample(n=min(n, len(g)), random_state=seed) for _, g in part.groupby("rule", sort=True)]
        out = pd.concat(groups) if groups else part.iloc[:0]
        return out.sort_values("published_at", kind="stable")[["text", "label", "rule"]].reset_index(drop=True)

    keys = frozenset().union(*raw_keys.loc[frame.loc[labelled.index, "key"]], set(frame.loc[labelled.index, "key"]))
    return WeakLabelSplit(train=capped(labelled[labelled["published_at"] < TRAIN_END], per_rule),
                          valid=capped(labelled[labelled["published_at"] >= TRAIN_END], valid_per_rule), keys=keys)
