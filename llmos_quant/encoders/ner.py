"""Financial named entities with an LLMOS token-classification head (FIN NER, Salinas Alvarado et al. 2015).

Training data: ``FIN5.txt`` (train) and ``FIN3.txt`` (test) from ../shared/data/sec_filings_ner_fin, CoNLL
format (``token POS - tag``), IO tags over PER, ORG, LOC, MISC. Words are labelled on their first
sub-token; evaluation is entity-level (exact span and type) precision / recall / F1 on FIN3. Sentences longer
than the model's 128 sub-tokens (loan-agreement sentences reach 700) are cut into overlapping word windows
(``word_windows``) for training and tagging, so that no word is dropped: cutting them at 128 used to leave 17% of
FIN3's entities untagged.
The trained adapter ships in ``encoders/weights/finner-minilm`` (rebuild: ``llmos-quant train ner``).
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..llmos.config import CASE_CLASSES
from ..llmos.model import case_ids
from ..paths import shared_path

log = logging.getLogger(__name__)

TAGS = ("O", "I-PER", "I-ORG", "I-LOC", "I-MISC")
DEFAULT_NER_ADAPTER = Path(__file__).resolve().parent / "weights" / "finner-minilm"


Sentence = tuple[list[str], list[str]]


def read_conll_documents(path: str | Path) -> list[list[Sentence]]:
    """Documents (split at ``-DOCSTART-`` lines), each a list of sentences as (words, tags); blank lines separate
    sentences. FIN5 holds 5 agreements, FIN3 3."""
    docs: list[list[Sentence]] = [[]]
    words: list[str] = []
    tags: list[str] = []
    for line in [*Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), ""]:
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            if words:
                docs[-1].append((words, tags))
            words, tags = [], []
            if parts and docs[-1]:
                docs.append([])
            continue
        words.append(parts[0])
        tag = parts[-1]
        tags.append(tag.replace("B-", "I-") if tag != "O" else "O")
    return [d for d in docs if d]


def read_conll(path: str | Path) -> list[Sentence]:
    """Sentences as (words, tags), all documents in order; ``-DOCSTART-`` lines and blank separators are skipped."""
    return [s for doc in read_conll_documents(path) for s in doc]


def _case_like(words: list[str], model: list[str]) -> list[str]:
    """``words`` in the letter case of ``model`` (a mention): all capitals or all lower case carry over."""
    letters = "".join(c for w in model for c in w if c.isalpha())
    if len(letters) > 1 and letters.isupper():
        return [w.upper() for w in words]
    if letters and letters.islower():
        return [w.lower() for w in words]
    return list(words)


Names = dict[str, list[list[list[str]]]]  # entity type -> name pools -> names -> words


def entity_swaps(sentences: list[Sentence], rng: np.random.Generator, names: Names, copies: int = 1,
                 upper_share: float = 0.1) -> list[Sentence]:
    """Mention replacement (Dai & Adel 2020) for the entity tagger: for each sentence with an entity of a type in
    ``names``, ``copies`` new sentences where every such entity is replaced by a random name of its type (a pool
    of that type drawn uniformly, then a name in it), in the mention's letter case (``SILICON VALLEY BANK`` ->
    ``EXXON MOBIL CORP``); a share ``upper_share`` of the copies are upper-cased whole, as signature blocks are.
    Other words and entities (PER, MISC) stay. The originals are not included."""
    out: list[Sentence] = []
    pools = {k: [p for p in v if p] for k, v in names.items() if any(v)}
    for words, tags in sentences:
        found = sorted(s for s in spans(tags) if s[2] in pools)
        if not found:
            continue
        for _ in range(copies):
            new_w: list[str] = []
            new_t: list[str] = []
            i = 0
            for s, e, kind in found:
                new_w += words[i:s]
                new_t += tags[i:s]
                choices = pools[kind]
                pool = choices[int(rng.integers(len(choices)))]
                name = _case_like(pool[int(rng.integers(len(pool)))], words[s:e])
                new_w += name
                new_t += [f"I-{kind}"] * len(name)
                i = e
            new_w += words[i:]
            new_t += tags[i:]
            if rng.random() < upper_share:
                new_w = [w.upper() for w in new_w]
            out.append((new_w, new_t))
    return out


_BRACKETS = re.compile(r"\s*[\[(][^\])]*[\])]")
_TRAILING_PAREN = re.compile(r"\s*\([^)]*\)\s*$")


def place_name(name: str) -> str | None:
    """An ISO 3166 country or region name as running text writes it, or None when it cannot be written in ASCII
    (the FIN token pattern reads ASCII). Bracketed parts (local names, codes) go: ``Bridgend [Pen-y-bont ar Ogwr
    GB-POG]`` -> ``Bridgend``, ``Sofia (stolitsa)`` -> ``Sofia``; ISO's inverted forms are turned round:
    ``Bristol, City of`` -> ``City of Bristol``, ``Virgin Islands, British`` -> ``British Virgin Islands`` (a tail
    holding "and" is a list, kept: ``Armagh City, Banbridge and Craigavon``); accents are dropped (``Ile-de-France``)."""
    import unicodedata

    text = _BRACKETS.sub("", name).strip()
    if "," in text:
        head, tail = (t.strip() for t in text.split(",", 1))
        if " and " not in f" {tail} " and "," not in tail:
            text = f"{tail} {head}"
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = " ".join(text.split())
    return text if text and text.isascii() else None


def company_name(name: str) -> str:
    """A universe company name without its trailing parenthesised qualifier: ``Boeing Company (The)`` ->
    ``Boeing Company``, ``American Tower Corporation (REIT)`` -> ``American Tower Corporation`` (inner parentheses,
    ``China Mobile (Hong Kong) Ltd``, stay)."""
    return _TRAILING_PAREN.sub("", name).strip()


def swap_names(train: list[Sentence], clean: bool = False) -> Names:
    """Name pools for ``entity_swaps``, none from any evaluation file. ORG: the universe's company names
    (``news_parser.UniverseTable.default``: Reuters, StockNet, the alias file); the training sentences' own ORG
    mentions. LOC: ISO 3166 country names; ISO 3166-2 subdivision names (pycountry); the training sentences' own LOC
    mentions. Words are split as ``tokenize`` splits.

    ``clean=False`` (the shipped tagger's pools): the names as pycountry and the universe write them, ASCII names
    only (the FIN token pattern reads ASCII). ``clean=True`` (an ablation, not shipped: it scored lower on the
    held-out FIN5 agreement, docs/news_parser.md): company names through ``company_name``, country common names
    (``South Korea``, not ``Korea, Republic of``) and region names through ``place_name``."""
    import pycountry

    from .news_parser import UniverseTable

    own: dict[str, set[tuple[str, ...]]] = {"ORG": set(), "LOC": set()}
    for words, tags in train:
        for s, e, kind in spans(tags):
            if kind in own:
                own[kind].add(tuple(words[s:e]))
    def words(names: Any) -> set[tuple[str, ...]]:
        return {tuple(w for w, _, _ in tokenize(n)) for n in names if n}

    universe = [n for n in UniverseTable.default().frame["name"] if isinstance(n, str) and n.strip()]
    if clean:
        companies = words(company_name(n) for n in universe)
        countries = words(place_name(getattr(c, "common_name", c.name)) for c in pycountry.countries)
        regions = words(place_name(r.name) for r in pycountry.subdivisions)
    else:
        companies = words(universe)
        countries = words(c.name for c in pycountry.countries if c.name.isascii())
        regions = words(r.name for r in pycountry.subdivisions if r.name.isascii())

    def pool(group: set[tuple[str, ...]]) -> list[list[str]]:
        return [list(w) for w in sorted(group) if w]

    return {"ORG": [pool(companies), pool(own["ORG"])], "LOC": [pool(countries), pool(regions), pool(own["LOC"])]}


def spans(tags: list[str]) -> set[tuple[int, int, str]]:
    """Entity spans (start, end exclusive, type) from IO (or BIO) tags: runs of the same type."""
    out, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        t = None if tag == "O" else tag.split("-", 1)[1]
        begins = tag.startswith("B-")
        if kind is not None and (t != kind or begins):
            out.add((start, i, kind))
            start, kind = None, None
        if t is not None and kind is None:
            start, kind = i, t
    return out


def entity_f1(gold: list[list[str]], pred: list[list[str]]) -> dict[str, Any]:
    """Entity-level micro precision/recall/F1 and per-type F1 (exact span + type)."""
    tp = fp = fn = 0
    per: dict[str, list[int]] = {}
    for g, p in zip(gold, pred, strict=True):
        gs, ps = spans(g), spans(p)
        tp += len(gs & ps)
        fp += len(ps - gs)
        fn += len(gs - ps)
        for kind in {s[2] for s in gs | ps}:
            c = per.setdefault(kind, [0, 0, 0])
            c[0] += len({s for s in gs & ps if s[2] == kind})
            c[1] += len({s for s in ps - gs if s[2] == kind})
            c[2] += len({s for s in gs - ps if s[2] == kind})
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    by_type = {k: (2 * a / (2 * a + b + c) if a else 0.0) for k, (a, b, c) in per.items()}
    return {"precision": prec, "recall": rec, "f1": f1, "entities_gold": tp + fn, "f1_by_type": by_type}


class EntityTagger:
    """Tags words (or whitespace-split texts) with entity types using a merged LLMOS token classifier."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 128, batch_size: int = 32,
                 device: str | None = "cpu") -> None:
        self.model, self.tokenizer = model.eval(), tokenizer
        self.tags = model.config.token_labels
        self.max_length, self.batch_size, self.device = max_length, batch_size, device
        self._predictor: Any = None

    @classmethod
    def load(cls, directory: str | Path = DEFAULT_NER_ADAPTER, base: str | Path | None = None,
             **kwargs: Any) -> EntityTagger:
        """The adapter in ``directory`` on ``base`` (default all-MiniLM-L6-v2; the folder it was trained on)."""
        from transformers import AutoTokenizer

        from .adapter import adapter_base, load_adapter

        folder = adapter_base(directory, base)
        return cls(load_adapter(directory, base=folder), AutoTokenizer.from_pretrained(str(folder)), **kwargs)

    def tag_words(self, sentences: list[list[str]]) -> list[list[str]]:
        """One tag per word: the prediction of each word's first sub-token (the shared batched predictor).

        A sentence longer than ``max_length`` sub-tokens (loan agreements reach 700) is cut into word windows
        (``word_windows``): each word is tagged in the window where it is a core word, with context on both sides,
        so no word goes untagged. A sentence that fits is one window, as before."""
        from ..llmos.fit import BatchedPredictor

        if not sentences:
            return []
        pieces, owners = [], []  # each window's words; (sentence, first core word, core words, window start)
        for b, words in enumerate(sentences):
            for start, end, core_start, core_end in word_windows(self.tokenizer, words, self.max_length):
                pieces.append(words[start:end])
                owners.append((b, core_start, core_end, start))
        enc = self.tokenizer(pieces, is_split_into_words=True, truncation=True, max_length=self.max_length)
        if self._predictor is None:
            self._predictor = BatchedPredictor(self.model, self.tokenizer, device=self.device,
                                               batch_size=self.batch_size, max_length=self.max_length)
        cases = ([case_ids(words, enc.word_ids(k)) for k, words in enumerate(pieces)]
                 if self.model.config.case_vocab_size else None)
        preds = self._predictor.run(ids=enc["input_ids"], case_ids=cases, reduce=lambda z: z.argmax(-1), ragged=True)
        out: list[list[str]] = [["O"] * len(words) for words in sentences]
        for k, (b, core_start, core_end, start) in enumerate(owners):
            seen = set()
            for pos, w in enumerate(enc.word_ids(k)):
                if w is not None and w not in seen:
                    seen.add(w)
                    if core_start <= start + w < core_end:
                        out[b][start + w] = self.tags[int(preds[k][pos])]
        return out

    def entities(self, texts: list[str]) -> list[list[dict[str, str]]]:
        """Entities of each text as [{'text': ..., 'type': ...}]. Texts are split as the FIN training data is
        (``tokenize``: punctuation and the possessive apostrophe apart, so "Apria's" reads as "Apria ' s"); an
        entity's text is the original substring (``CVS Caremark``, ``J&J``), without a trailing possessive."""
        tokens = [tokenize(t) if isinstance(t, str) else [] for t in texts]
        keep = [i for i, w in enumerate(tokens) if w]
        tagged = self.tag_words([[w for w, _, _ in tokens[i]] for i in keep]) if keep else []
        result: list[list[dict[str, str]]] = [[] for _ in texts]
        for i, tags in zip(keep, tagged, strict=True):
            toks = tokens[i]
            for s, e, k in sorted(spans(tags)):
                while e > s and (toks[e - 1][0] in _EDGE_PUNCT or (  # "Inc ," -> "Inc"; "Apple ' s" -> "Apple"
                        toks[e - 1][0] == "s" and e - 2 >= s and toks[e - 2][0] in _APOSTROPHES)):
                    e -= 1
                while s < e and toks[s][0] in _EDGE_PUNCT:
                    s += 1
                if s < e:
                    result[i].append({"text": texts[i][toks[s][1]:toks[e - 1][2]], "type": k})
        return result


_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[&.\-][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")
_APOSTROPHES = {"'", "’"}
_EDGE_PUNCT = {*_APOSTROPHES, ",", ".", ";", ":", "(", ")", '"'}


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """(token, start, end) in the FIN data's style: words (keeping inner ``& . -`` as in ``J&J``, ``U.S``, ``Coca-Cola``)
    and every other non-space character alone (``Apria's`` -> ``Apria`` ``'`` ``s``)."""
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def word_windows(tokenizer: Any, words: list[str], max_length: int) -> list[tuple[int, int, int, int]]:
    """Cut a sentence into windows that fit ``max_length`` sub-tokens: ``(start, end, core_start, core_end)`` word
    ranges. The cores tile the sentence (every word is a core word of exactly one window, cores at most half the
    budget); each window adds as much context on both sides as fits. A sentence that fits is one window."""
    if not words:
        return []
    budget = max(max_length - 2, 1)  # [CLS] ... [SEP]
    counts = [max(len(c), 1) for c in tokenizer(words, is_split_into_words=False, add_special_tokens=False)["input_ids"]]
    n = len(words)
    if sum(counts) <= budget:
        return [(0, n, 0, n)]
    core_budget, windows, i = max(budget // 2, 1), [], 0
    while i < n:
        j, total = i + 1, counts[i]
        while j < n and total + counts[j] <= core_budget:
            total += counts[j]
            j += 1
        left, right = i, j
        grew = True
        while grew:
            grew = False
            if left > 0 and total + counts[left - 1] <= budget:
                left -= 1
                total += counts[left]
                grew = True
            if right < n and total + counts[right] <= budget:
                total += counts[right]
                right += 1
                grew = True
        windows.append((left, right, i, j))
        i = j
    return windows


def _encode(tokenizer: Any, sentences: list[tuple[list[str], list[str]]], max_length: int) -> list[dict[str, Any]]:
    """Training rows: one per word window (``word_windows``), labels on the first sub-token of each core word."""
    ids = {t: i for i, t in enumerate(TAGS)}
    rows = []
    for words, tags in sentences:
        for start, end, core_start, core_end in word_windows(tokenizer, words, max_length):
            enc = tokenizer(words[start:end], is_split_into_words=True, truncation=True, max_length=max_length)
            labels, seen = [], set()
            for w in enc.word_ids():
                if w is None or w in seen or not core_start <= start + w < core_end:
                    labels.append(-100)
                else:
                    seen.add(w)
                    labels.append(ids[tags[start + w]])
            rows.append({"input_ids": enc["input_ids"], "labels": labels,
                         "case_ids": case_ids(words[start:end], enc.word_ids())})
    return rows


def train_ner(out_dir: str | Path, epochs: int = 6, lr: float = 5e-4, lora_r: int = 16, batch_size: int = 16,
              max_length: int = 128, seed: int = 0, progress: bool = True, device: str | None = "auto",
              base: str | Path | None = None, case_features: bool = False, entity_swap_copies: int = 0,
              holdout_document: int | None = None, clean_swap_names: bool = False) -> dict[str, Any]:
    """Fine-tune on FIN5 (the shared ``llmos.fit.fit`` loop), evaluate entity F1 on FIN3, save the adapter +
    metrics.json. ``case_features`` adds letter-case embeddings (``LLMOSConfig.case_vocab_size``; trained with the
    head): the uncased base cannot tell "SILICIUM DE PROVENCE SAS" from "silicium de provence sas".
    ``entity_swap_copies`` adds that many mention-replacement copies (``entity_swaps``, names from ``swap_names``)
    of each training sentence holding an ORG or LOC; ``clean_swap_names`` draws them from ``swap_names(clean=True)``
    (an ablation). ``holdout_document`` (1-5) keeps that FIN5 agreement out of
    training and scores it as ``fin5_holdout``: the validation slice for choosing a recipe without FIN3."""
    from transformers import AutoTokenizer

    from ..llmos.convert import base_record_name, from_hf_bert, resolve_base
    from ..llmos.fit import fit
    from .adapter import attach_lora, save_adapter

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if entity_swap_copies < 0:
        raise ValueError(f"entity_swap_copies must be >= 0, got {entity_swap_copies}")
    docs = read_conll_documents(shared_path("sec_filings_ner_fin", "FIN5.txt"))
    if holdout_document is not None and not 1 <= holdout_document <= len(docs):
        raise ValueError(f"holdout_document must be a FIN5 document number 1..{len(docs)}, got {holdout_document}")
    train = [s for d, doc in enumerate(docs, 1) if d != holdout_document for s in doc]
    holdout = docs[holdout_document - 1] if holdout_document is not None else []
    test = read_conll(shared_path("sec_filings_ner_fin", "FIN3.txt"))
    swaps = (entity_swaps(train, rng, swap_names(train, clean=clean_swap_names), copies=entity_swap_copies)
             if entity_swap_copies else [])
    base_dir = resolve_base(base)
    tok = AutoTokenizer.from_pretrained(str(base_dir))
    model = from_hf_bert(base_dir, head="token", token_labels=TAGS, case_vocab_size=CASE_CLASSES if case_features else 0)
    lora = attach_lora(model, r=lora_r, alpha=2 * lora_r)
    trainable = [p for p in model.parameters() if p.requires_grad]
    rows = _encode(tok, train + swaps, max_length)

    def batches(epoch: int) -> Any:
        perm = rng.permutation(len(rows))
        for start in range(0, len(rows), batch_size):
            batch = [rows[i] for i in perm[start:start + batch_size]]
            width = max(len(r["input_ids"]) for r in batch)
            ids = torch.tensor([r["input_ids"] + [0] * (width - len(r["input_ids"])) for r in batch])
            lab = torch.tensor([r["labels"] + [-100] * (width - len(r["labels"])) for r in batch])
            mask = (torch.arange(width)[None, :] < torch.tensor([len(r["input_ids"]) for r in batch])[:, None]).long()
            case = torch.tensor([r["case_ids"] + [0] * (width - len(r["case_ids"])) for r in batch])
            yield {"input_ids": ids, "attention_mask": mask, "labels": lab, "case_ids": case}

    def on_epoch_end(epoch: int, mean_loss: float) -> None:
        log.info("ner epoch %d loss %.4f", epoch, mean_loss)

    result = fit(model, [{"params": trainable, "lr": lr}], batches,
                 lambda m, b: m(b["input_ids"], b["attention_mask"], labels=b["labels"],
                                case_ids=b["case_ids"] if case_features else None).loss,
                 epochs=epochs, steps_per_epoch=math.ceil(len(rows) / batch_size), device=device,
                 on_epoch_end=on_epoch_end, progress=progress, desc="ner")
    history = result.history
    model.to("cpu").eval()
    save_adapter(model, lora, model.config, out_dir, base=base_record_name(base_dir),
                 base_path=base_dir)
    tagger = EntityTagger.load(out_dir, base=base)
    pred = tagger.tag_words([w for w, _ in test])
    metrics: dict[str, Any] = {"fin3_test": entity_f1([t for _, t in test], pred)}
    if holdout:
        metrics["fin5_holdout"] = entity_f1([t for _, t in holdout], tagger.tag_words([w for w, _ in holdout]))
    metrics |= {"train_sentences": len(train), "swap_sentences": len(swaps), "holdout_document": holdout_document,
                "holdout_sentences": len(holdout), "test_sentences": len(test), "train_windows": len(rows),
                "max_length": max_length, "epochs": epochs, "lr": lr, "lora_r": lora_r,
                "case_features": case_features, "entity_swap_copies": entity_swap_copies,
                "clean_swap_names": clean_swap_names, "history": history,
                "train_seconds": round(result.seconds, 1), "device": result.device,
                "reference": "Salinas Alvarado et al. 2015: about 0.83 F1 for a CRF trained with in-domain data"}
    Path(out_dir, "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
