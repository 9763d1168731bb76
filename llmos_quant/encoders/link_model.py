"""Learned ticker linking: a sparse linear text classifier (TF-IDF word uni- and bigrams -> one score per ticker) fitted
on Reuters company-news rows (2011-2016, the research window), which ``TickerLinker`` uses beside its name rules.

Why: the rules link a row only when it names the company in a form the universe table knows (70.8% of the Reuters
rows hold their ticker among the links at all). Rows about a company's products, executives, subsidiaries or deals
("iPhone sales", "Blankfein says", "Tmall") name it in no such form; the classifier learns those words per ticker.

- ``fit_link_model(frame)`` fits ``TfidfVectorizer`` + ``LinearSVC`` (one-vs-rest) and keeps the ``keep`` largest
  weights of each ticker (the vocabulary shrinks to the terms kept), so the shipped model is a few MB.
- ``LinkModel.save(folder)`` writes ``config.json`` + ``link_model.safetensors`` (vocabulary, idf, weights): no
  pickle. ``LinkModel.load`` rebuilds the vectorizer from them; what is saved is what is scored.
- ``link_splits(frame)``: the fixed evaluation rows (the bench's 5,000-row test sample, seed 0; a 3,000-row
  development sample, seed 1) and the training rows: every other row that shares neither a story (the headline
  without wire prefixes, punctuation and case) nor a (ticker, day) with an evaluation row.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelLoadError, ValidationError

log = logging.getLogger(__name__)

DEFAULT_LINK_MODEL = Path(__file__).resolve().parent / "weights" / "link-reuters"
TEST_ROWS, DEV_ROWS = 5000, 3000
_FILE = "link_model.safetensors"


def link_texts(frame: pd.DataFrame) -> list[str]:
    """Headline and lede as the linker reads them (``headline . body``)."""
    body = frame["body"].fillna("").astype(str) if "body" in frame.columns else pd.Series("", index=frame.index)
    return (frame["headline"].astype(str).str.strip() + " . " + body).tolist()


def story_key(headline: str) -> str:
    """A story's key: ``data.news.match_key`` of its headline (wire prefixes, punctuation and case ignored)."""
    from ..data.news import match_key

    return match_key(str(headline))


def training_rows(rows: pd.DataFrame, held: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``rows`` without ``held``'s rows and every row sharing a story or a (ticker, New York day) with one of them;
    returns the training rows and how many rows besides ``held``'s own were left out."""
    def day(f: pd.DataFrame) -> pd.Series:
        return pd.Series(list(zip(f["asset"], f["published_at"].dt.tz_convert("America/New_York").dt.date,
                                  strict=True)), index=f.index)

    keys = rows["headline"].map(story_key)
    clash = (keys.isin(set(held["headline"].map(story_key))) | day(rows).isin(set(day(held)))
             | rows.index.isin(held.index))
    return rows[~clash], int(clash.sum()) - int(rows.index.isin(held.index).sum())


@dataclass(frozen=True)
class LinkSplits:
    train: pd.DataFrame
    dev: pd.DataFrame
    test: pd.DataFrame
    excluded: int  # rows left out of training because they share a story or a (ticker, day) with dev/test


def link_splits(frame: pd.DataFrame, end: str = "2016-12-31", test_rows: int = TEST_ROWS,
                dev_rows: int = DEV_ROWS) -> LinkSplits:
    """Test = ``frame.sample(5000, random_state=0)`` of the rows before ``end`` + 1 day (the bench's sample), dev = a
    3,000-row sample (seed 1) of the rest, train = the rest minus every row sharing a story or a (ticker, New York
    day) with a test or dev row."""
    rows = frame[frame["published_at"] < pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)]
    if len(rows) < test_rows + dev_rows + 1:
        raise ValidationError(f"link_splits needs more than {test_rows + dev_rows} rows up to {end}, got {len(rows)}")
    test = rows.sample(n=test_rows, random_state=0)
    rest = rows.drop(test.index)
    dev = rest.sample(n=dev_rows, random_state=1)
    train, excluded = training_rows(rows, pd.concat([test, dev]))
    return LinkSplits(train=train, dev=dev, test=test, excluded=excluded)


@dataclass
class LinkModel:
    """Sparse linear ticker scores: ``scores(texts)`` -> (n, len(classes)) decision values (higher: likelier)."""

    vocabulary: list[str]
    idf: np.ndarray  # (V,)
    classes: list[str]
    weights: Any  # scipy.sparse csr (V, C)
    intercept: np.ndarray  # (C,)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if self.weights.shape != (len(self.vocabulary), len(self.classes)):
            raise ValidationError(f"LinkModel weights have shape {self.weights.shape}, expected "
                                  f"({len(self.vocabulary)}, {len(self.classes)}) (vocabulary x classes)")
        vec = TfidfVectorizer(vocabulary={t: i for i, t in enumerate(self.vocabulary)}, ngram_range=(1, 2),
                              sublinear_tf=True, dtype=np.float32)
        vec.idf_ = np.asarray(self.idf, dtype=np.float64)
        self._vec = vec

    def scores(self, texts: list[str]) -> np.ndarray:
        x = self._vec.transform([t if isinstance(t, str) else "" for t in texts])  # (n, V), rows L2-normalised
        return np.asarray((x @ self.weights).todense(), dtype=np.float32) + self.intercept[None, :]

    def best(self, text: str, allowed: set[str] | None = None) -> tuple[str, float] | None:
        """The highest-scoring ticker (among ``allowed`` when given; the scores are not renormalised over them)."""
        s = self.scores([text])[0]
        order = np.argsort(-s)
        for j in order:
            c = self.classes[int(j)]
            if allowed is None or c in allowed:
                return c, float(s[j])
        return None

    def save(self, folder: str | Path) -> Path:
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        w = self.weights.tocsr()
        save_file({"idf": np.asarray(self.idf, np.float32), "intercept": np.asarray(self.intercept, np.float32),
                   "indptr": w.indptr.astype(np.int64), "indices": w.indices.astype(np.int32),
                   "data": w.data.astype(np.float32)}, str(folder / _FILE))
        cfg = {"kind": "llmos-link-model", "vocabulary": self.vocabulary, "classes": self.classes, **self.meta}
        (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
        # the recipe and the development figures, as the other shipped models' metrics.json (read by train's guard)
        (folder / "metrics.json").write_text(json.dumps(self.meta, indent=1), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path = DEFAULT_LINK_MODEL) -> LinkModel:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
        from scipy import sparse

        folder = Path(folder)
        if not (folder / "config.json").is_file() or not (folder / _FILE).is_file():
            raise ModelLoadError(f"{folder}: not a link model folder (expected config.json and {_FILE}); rebuild it "
                                 "with `llmos-quant train linker --out FOLDER`")
        try:
            cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{folder}/config.json: not readable JSON ({exc}); rebuild the folder with "
                                 "`llmos-quant train linker --out FOLDER`") from exc
        if not isinstance(cfg, dict) or cfg.get("kind") != "llmos-link-model":
            kind = cfg.get("kind") if isinstance(cfg, dict) else type(cfg).__name__
            raise ModelLoadError(f"{folder}/config.json: kind {kind!r}, expected 'llmos-link-model'")
        try:
            t = load_file(str(folder / _FILE))
            vocab, classes = list(cfg.pop("vocabulary")), list(cfg.pop("classes"))
            w = sparse.csr_matrix((t["data"], t["indices"], t["indptr"]), shape=(len(vocab), len(classes)))
            meta = {k: v for k, v in cfg.items() if k != "kind"}
            return cls(vocab, t["idf"], classes, w, t["intercept"], meta)
        except (SafetensorError, OSError, KeyError, TypeError, ValueError) as exc:  # a damaged file, a missing key
            raise ModelLoadError(f"{folder}: a damaged link model ({type(exc).__name__}: {exc}); rebuild it with "
                                 "`llmos-quant train linker --out FOLDER`") from exc

    @classmethod
    def default(cls) -> LinkModel | None:
        """The shipped model, or None (logged) when its folder is absent."""
        if not (DEFAULT_LINK_MODEL / _FILE).is_file():
            log.warning("no shipped link model at %s: ticker linking uses the name rules only", DEFAULT_LINK_MODEL)
            return None
        return cls.load(DEFAULT_LINK_MODEL)


def fit_link_model(frame: pd.DataFrame, c: float = 0.2, keep: int = 400, max_features: int = 200_000,
                   min_df: int = 2) -> LinkModel:
    """Fit on ``frame`` (``headline``, ``body``, ``asset``): TF-IDF word 1-2-grams (sublinear tf) and a one-vs-rest
    ``LinearSVC(C=c)``; then keep each ticker's ``keep`` largest weights by magnitude."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    if frame.empty or frame["asset"].nunique() < 2:
        raise ValidationError(f"fit_link_model needs rows of at least 2 tickers, got {len(frame)} rows of "
                              f"{frame['asset'].nunique() if not frame.empty else 0}")
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=min_df, max_features=max_features, sublinear_tf=True,
                          dtype=np.float32)
    x = vec.fit_transform(link_texts(frame))
    y = frame["asset"].astype(str).to_numpy()
    clf = LinearSVC(C=c, random_state=0).fit(x, y)  # liblinear shuffles its coordinate order: seeded, so a rebuild repeats
    coef = np.asarray(clf.coef_, dtype=np.float32)  # (C, V); a 2-class fit gives one row
    classes = [str(k) for k in clf.classes_]
    if coef.shape[0] == 1:
        coef, icpt = np.vstack([-coef, coef]), np.array([-clf.intercept_[0], clf.intercept_[0]])
    else:
        icpt = np.asarray(clf.intercept_)
    k = min(keep, coef.shape[1])
    top = np.argpartition(-np.abs(coef), k - 1, axis=1)[:, :k]  # (C, k) term columns kept per class
    terms = np.unique(top)
    remap = {int(t): i for i, t in enumerate(terms)}
    rows = np.array([remap[int(t)] for t in top.ravel()])
    cols = np.repeat(np.arange(coef.shape[0]), k)
    w = sparse.csr_matrix((coef[cols, top.ravel()], (rows, cols)), shape=(len(terms), coef.shape[0]))
    names = vec.get_feature_names_out()
    meta = {"c": c, "keep": k, "max_features": max_features, "min_df": min_df, "train_rows": len(frame),
            "train_tickers": len(classes)}
    return LinkModel([str(names[t]) for t in terms], vec.idf_[terms], classes, w, icpt.astype(np.float32), meta)


def learned_goes_first(ticker: str, score: float, rule_tickers: list[str], min_score: float) -> bool:
    """The rule ``TickerLinker`` orders links by: the model's best ticker goes first when the rules link it too or
    its score is at least ``min_score``."""
    return ticker in rule_tickers or score >= min_score


def combined_top1(rule_links: list[list[str]], best: list[tuple[str, float] | None], min_score: float) -> list[str]:
    """Each row's first link as ``TickerLinker`` orders them with a model (``""``: no link)."""
    return [b[0] if b is not None and learned_goes_first(b[0], b[1], links, min_score) else (links[0] if links else "")
            for links, b in zip(rule_links, best, strict=True)]


def top1_figures(top: list[str], truth: list[str]) -> dict[str, float]:
    """Strict top-1 accuracy over all rows, accuracy when linked and coverage of first links (``""``: none)."""
    pred, gold = np.array(top), np.array([t.upper() for t in truth])
    linked = pred != ""
    hit = (pred == gold) & linked
    return {"top1_accuracy": float(hit.mean()), "top1_accuracy_when_linked": float(hit.sum() / max(linked.sum(), 1)),
            "coverage": float(linked.mean())}


def best_allowed(model: LinkModel, texts: list[str], allowed: set[str] | None = None,
                 batch: int = 2048) -> list[tuple[str, float] | None]:
    """``model.best`` for many texts at once."""
    cols = [j for j, c in enumerate(model.classes) if allowed is None or c in allowed]
    if not cols:
        return [None] * len(texts)
    out: list[tuple[str, float] | None] = []
    for i in range(0, len(texts), batch):
        s = model.scores(texts[i:i + batch])[:, cols]
        j = s.argmax(axis=1)
        out += [(model.classes[cols[int(k)]], float(s[r, k])) for r, k in enumerate(j)]
    return out


def choose_min_score(rule_links: list[list[str]], best: list[tuple[str, float] | None], truth: list[str],
                     grid: int = 41) -> dict[str, float]:
    """The rule for ``TickerLinker.learned_min_score``, fixed before any test figure was read: on the development
    rows, the threshold with the highest top-1 accuracy among those whose accuracy when linked (precision) is at least
    the rules' own; ties go to the higher threshold. Thresholds: ``grid`` quantiles of the rows' best scores.
    Returns the threshold and the dev figures of the rules alone and with the model."""
    def figures(top: list[str]) -> tuple[float, float, float]:
        f = top1_figures(top, truth)
        return f["top1_accuracy"], f["top1_accuracy_when_linked"], f["coverage"]

    rules = figures([links[0] if links else "" for links in rule_links])
    scores = np.array([b[1] for b in best if b is not None])
    candidates = sorted(set(np.quantile(scores, np.linspace(0, 1, grid)).round(4).tolist()) | {float("inf")}) \
        if len(scores) else [float("inf")]
    chosen, fig = float("inf"), figures(combined_top1(rule_links, best, float("inf")))
    for m in candidates:
        f = figures(combined_top1(rule_links, best, m))
        if f[1] >= rules[1] and (f[0] > fig[0] or (f[0] == fig[0] and m > chosen)):
            chosen, fig = m, f
    return {"min_score": chosen, "dev_rules_top1": rules[0], "dev_rules_top1_when_linked": rules[1],
            "dev_rules_coverage": rules[2], "dev_top1": fig[0], "dev_top1_when_linked": fig[1], "dev_coverage": fig[2],
            "dev_rows": len(truth)}


def train_link_model(out: str | Path = DEFAULT_LINK_MODEL, c: float = 0.2, keep: int = 400,
                     end: str = "2016-12-31") -> dict[str, Any]:
    """``llmos-quant train linker``: fit on the Reuters training rows of ``link_splits`` (up to ``end``), choose
    ``min_score`` on the development rows (``choose_min_score``), save to ``out``. Returns the recorded meta."""
    import time

    from ..data.news import read_reuters_csv
    from .news_parser import TickerLinker, UniverseTable

    t0 = time.perf_counter()
    splits = link_splits(read_reuters_csv().frame, end=end)
    log.info("link model: %d training rows (%d left out: they share a story or a ticker-day with the %d dev + %d "
             "test rows)", len(splits.train), splits.excluded, len(splits.dev), len(splits.test))
    model = fit_link_model(splits.train, c=c, keep=keep)
    rules = TickerLinker(UniverseTable.default())
    dev_texts = link_texts(splits.dev)
    rule_links = [[d["ticker"] for d in rules.link(t)[0]] for t in dev_texts]
    chosen = choose_min_score(rule_links, best_allowed(model, dev_texts, rules.tickers), splits.dev["asset"].tolist())
    model.meta.update({"recipe": f"llmos-quant train linker --c {c} --keep {keep}", "data_end": end,
                       "train_rows_left_out": splits.excluded, **chosen, "fit_seconds": round(time.perf_counter() - t0)})
    model.save(out)
    log.info("link model saved to %s: %s", out, chosen)
    return model.meta


__all__ = ["DEFAULT_LINK_MODEL", "LinkModel", "LinkSplits", "best_allowed", "choose_min_score", "combined_top1",
           "fit_link_model", "learned_goes_first", "link_splits", "link_texts", "story_key", "top1_figures",
           "train_link_model", "training_rows"]
