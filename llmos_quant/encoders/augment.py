"""Counterfactual augmentation of PhraseBank sentences: the same sentence with one financial meaning flipped.

PhraseBank's directional sentences are mostly about profit and sales ("operating profit rose to EUR 2.0 mn from
EUR 1.4 mn"); losses, costs and debt moving, or a negated outlook, are rare, so a model trained on it reads
"net loss widened" or "costs rose" as good news. Each rule rewrites one kind of sentence so that its label flips,
keeping the numbers (and so the sentence's consistency) intact:

- ``profit_to_loss``: the only metric is a profit (operating/net/pre-tax profit) with a direction verb; the profit
  becomes a loss (a rising loss is bad news, a falling one good news);
- ``sales_to_costs``: the only metric is sales/revenue/turnover with a direction verb; it becomes costs (or, for
  every other sentence, net debt);
- ``sales_to_liabilities``: the sentences of ``sales_to_costs``, with the metric taken in turn from a wider list of
  cost and debt lines of an income statement or balance sheet (``LIABILITY_TERMS``: costs, operating expenses,
  administrative expenses, interest expenses, net debt, borrowings, total liabilities), so that the model learns
  the direction of each line rather than of two words; an opt-in alternative to ``sales_to_costs``
  (``DEFAULT_RULES`` keeps the recipe of the shipped models);
- ``will_not``: a positive or negative sentence with exactly one "will" and no negation gets "will not".

Rules apply to the sentences of one split at a time (``counterfactuals(split.train)`` for training,
``counterfactuals(split.valid)`` for a behavioural validation slice); test sentences are never rewritten, and
nothing here comes from the behaviour suite in ``tests/fixtures``.
"""

from __future__ import annotations

import re

import pandas as pd

FLIP = {"positive": "negative", "negative": "positive"}
_VERB = (r"(rose|increased|grew|improved|jumped|surged|climbed|went up|fell|decreased|declined|dropped|slumped|"
         r"went down|plunged|decreased|doubled|tripled|halved)")
_PROFIT = re.compile(r"\b(operating|net|pre-tax|pretax|gross)?\s*profit\b", re.I)
_SALES = re.compile(r"\b(net sales|sales|revenues?|turnover)\b", re.I)
_OTHER_METRIC = re.compile(r"\b(loss|losses|profits?|earnings|sales|revenues?|turnover|ebit|ebitda|eps|margin|"
                           r"costs?|expenses|debt|orders?)\b", re.I)
_NEGATION = re.compile(r"\b(not|no|never|n't|without|nor)\b", re.I)
_WILL = re.compile(r"\bwill\b", re.I)


def _single_metric(text: str, metric: re.Pattern[str]) -> re.Match[str] | None:
    """The match of ``metric`` when it is the sentence's only financial metric and a direction verb follows it."""
    found = list(metric.finditer(text))
    others = [m for m in _OTHER_METRIC.finditer(text) if not any(f.start() <= m.start() < f.end() for f in found)]
    if len(found) != 1 or others:
        return None
    m = found[0]
    return m if re.search(rf"^[^.;]{{0,60}}\b{_VERB}\b", text[m.end():], re.I) else None


def _profit_to_loss(text: str, i: int) -> str | None:
    m = _single_metric(text, _PROFIT)
    if m is None:
        return None
    word = m.group(0)
    loss = re.sub(r"profit", "loss", word, flags=re.I)
    return text[:m.start()] + loss + text[m.end():]


def _sales_to_costs(text: str, i: int) -> str | None:
    m = _single_metric(text, _SALES)
    if m is None:
        return None
    target = "costs" if i % 2 == 0 else "net debt"
    word = m.group(0)
    repl = target.capitalize() if word[0].isupper() else target
    return text[:m.start()] + repl + text[m.end():]


def _will_not(text: str, i: int) -> str | None:
    wills = list(_WILL.finditer(text))
    if len(wills) != 1 or _NEGATION.search(text):
        return None
    m = wills[0]
    return text[:m.end()] + " not" + text[m.end():]


LIABILITY_TERMS = ("costs", "operating expenses", "net debt", "borrowings", "administrative expenses",
                   "total liabilities", "interest expenses")


def _sales_to_liabilities(text: str, i: int) -> str | None:
    m = _single_metric(text, _SALES)
    if m is None:
        return None
    target = LIABILITY_TERMS[i % len(LIABILITY_TERMS)]
    repl = target.capitalize() if m.group(0)[0].isupper() else target
    return text[:m.start()] + repl + text[m.end():]


RULES = {"profit_to_loss": _profit_to_loss, "sales_to_costs": _sales_to_costs,
         "sales_to_liabilities": _sales_to_liabilities, "will_not": _will_not}
DEFAULT_RULES = ("profit_to_loss", "sales_to_costs", "will_not")  # the shipped models' recipe
WIDE_RULES = ("profit_to_loss", "sales_to_liabilities", "will_not")


def parse_rules(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A rule list from ``"default"``, ``"wide"`` or comma-separated rule names; unknown names are an error."""
    from ..errors import ValidationError

    if isinstance(value, str):
        value = {"default": DEFAULT_RULES, "wide": WIDE_RULES}.get(value.strip(), tuple(
            v.strip() for v in value.split(",") if v.strip()))
    rules = tuple(value)
    unknown = sorted(set(rules) - set(RULES))
    if unknown or not rules:
        raise ValidationError(f"counterfactual rules {list(rules)!r} are not valid; expected 'default', 'wide' or "
                              f"comma-separated names from {list(RULES)}")
    return rules


def counterfactuals(frame: pd.DataFrame, rules: tuple[str, ...] = DEFAULT_RULES) -> pd.DataFrame:
    """Columns ``text``, ``label`` (flipped), ``source_text``, ``rule``: every rewrite of the positive and negative
    sentences of ``frame`` (columns ``text``, ``label``) by each rule in ``rules`` (first matching rule only)."""
    rules = parse_rules(rules)
    rows = []
    for i, (text, label) in enumerate(zip(frame["text"], frame["label"], strict=True)):
        if label not in FLIP:
            continue
        for name in rules:
            new = RULES[name](str(text), i)
            if new is not None and new != text:
                rows.append({"text": new, "label": FLIP[label], "source_text": text, "rule": name})
                break
    return pd.DataFrame(rows, columns=["text", "label", "source_text", "rule"])
