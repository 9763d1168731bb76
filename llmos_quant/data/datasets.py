"""Readers for the labelled public datasets in ../shared/data (never copied into the repo)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from ..errors import ValidationError
from ..paths import shared_path

PHRASEBANK_LABELS = ("negative", "neutral", "positive")


def load_phrasebank(agree: str = "50") -> pd.DataFrame:
    """Financial PhraseBank v1.0: columns ``text``, ``label`` (negative/neutral/positive). latin-1 encoded."""
    names = {"50": "Sentences_50Agree.txt", "66": "Sentences_66Agree.txt",
             "75": "Sentences_75Agree.txt", "all": "Sentences_AllAgree.txt"}
    if agree not in names:
        raise ValidationError(f"agree must be one of {sorted(names)}, got {agree!r}")
    path = shared_path("financial_phrasebank", names[agree])
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        if not line.strip():
            continue
        text, sep, label = line.rpartition("@")
        if not sep or label.strip() not in PHRASEBANK_LABELS:
            raise ValidationError(f"{path}:{lineno}: expected 'sentence@label', got {line[:80]!r}")
        rows.append((text.strip(), label.strip()))
    return pd.DataFrame(rows, columns=["text", "label"])


@dataclass(frozen=True)
class PhraseBankSplit:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    test_allagree: pd.DataFrame


def phrasebank_split(seed: int = 0, valid_fraction: float = 0.1) -> PhraseBankSplit:
    """The project's fixed split of Sentences_50Agree.

    Stratified 75/25 train/test with ``random_state=seed`` (sklearn ``train_test_split``); then a
    stratified ``valid_fraction`` of the train part (same seed) is held out for early stopping.
    ``test_allagree`` is the subset of the test part whose sentences are in Sentences_AllAgree.
    """
    from sklearn.model_selection import train_test_split

    data = load_phrasebank("50")
    train, test = train_test_split(data, test_size=0.25, stratify=data["label"], random_state=seed)
    train, valid = train_test_split(train, test_size=valid_fraction, stratify=train["label"], random_state=seed)
    allagree = set(load_phrasebank("all")["text"])
    test_all = test[test["text"].isin(allagree)]
    return PhraseBankSplit(train.reset_index(drop=True), valid.reset_index(drop=True),
                           test.reset_index(drop=True), test_all.reset_index(drop=True))


def load_semeval_headlines(split: str = "test") -> pd.DataFrame:
    """SemEval-2017 task 5 headlines: columns ``text``, ``company``, ``score`` in [-1, 1]."""
    files = {"test": "Headlines_Testdata_withscores.json", "train": "Headline_Trainingdata.json"}
    if split not in files:
        raise ValidationError(f"split must be 'train' or 'test', got {split!r}")
    items = json.loads(shared_path("semeval2017_task5", files[split]).read_text())
    frame = pd.DataFrame(items)
    # The training file calls the score "sentiment", the scored test file "sentiment score".
    frame = frame.rename(columns={"title": "text", "sentiment score": "score", "sentiment": "score"})
    frame["score"] = frame["score"].astype(float)
    return frame[["text", "company", "score"]]


def load_semeval_microblogs(split: str = "test") -> pd.DataFrame:
    """SemEval-2017 task 5 microblogs (StockTwits / Twitter): columns ``text``, ``cashtag``, ``score`` in [-1, 1].

    The scored test file has each post's full text. The training file ships no text (Twitter's terms), only the
    annotated sentiment ``spans``; their text is those spans joined by " ... ", which is what ``text`` holds there.
    Posts without a span are dropped. Neither file is trained on; the training file is a tweet-style selection slice
    (``encoders.train.evaluate_encoder``)."""
    files = {"test": "Microblogs_Testdata_withscores.json", "train": "Microblog_Trainingdata.json"}
    if split not in files:
        raise ValidationError(f"split must be 'train' or 'test', got {split!r}")
    items = json.loads(shared_path("semeval2017_task5", files[split]).read_text())
    rows = []
    for item in items:
        if split == "test":
            text = item.get("text")
        else:
            spans = item.get("spans") or []
            text = " ... ".join(s.strip() for s in ([spans] if isinstance(spans, str) else spans) if s and s.strip())
        if isinstance(text, str) and text.strip():
            rows.append((text.strip(), item.get("cashtag", ""), float(item["sentiment score"])))
    return pd.DataFrame(rows, columns=["text", "cashtag", "score"])


def load_fiqa_posts() -> pd.DataFrame:
    """FiQA-2018 task 1 microblog posts: columns ``text``, ``score`` (the mean of the post's aspect scores, in
    [-1, 1]). An evaluation set only: no sentiment model trains on it."""
    items = json.loads(shared_path("fiqa2018_task1_posts", "FiQA_post.json").read_text())
    rows = []
    for item in items.values():
        scores = [float(i["sentiment_score"]) for i in item.get("info", []) if "sentiment_score" in i]
        if isinstance(item.get("sentence"), str) and scores:
            rows.append((item["sentence"].strip(), sum(scores) / len(scores)))
    return pd.DataFrame(rows, columns=["text", "score"])
