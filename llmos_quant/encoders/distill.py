"""Ensemble distillation for the sentiment classifier: several fine-tuned seeds teach one student.

Why: a logit ensemble of the seeds ``train_sentiment`` trains is more accurate than any one of them (and
than their weight soup), but shipping five models costs five times the inference. Distillation (Hinton et
al. 2015; "born-again" ensembles) moves most of the ensemble's accuracy into a single MiniLM of the
original size and speed.

Recipe (``DistillConfig`` defaults):

- **teachers**: the per-seed weights written by ``train_sentiment(..., seeds_dir=...)``, or one written sentiment
  model folder (e.g. the shipped ``weights/finsent-mpnet``); the teacher of a text is the mean of the teachers'
  softmax (at ``temperature``);
- **transfer set**: unlabelled financial news text, Reuters titles and ledes (2011-2016) from
  ``../shared/data``, deduplicated. Only the text is used (no prices, no dates), so this touches neither the
  2017+ evaluation period nor any return. Any transfer text that also appears, after normalisation, in
  PhraseBank (any agreement file), in the SemEval-2017 headlines and microblogs or in the FiQA posts is dropped,
  so no evaluation sentence is seen even without its label. ``transfer_sources`` can add StockNet tweets
  (``stocknet_tweet``, 2014-01 .. 2015-09, ``tweet_text``) for tweet-style text;
- **student**: initialised like a seed (MiniLM + the shared head initialisation), trained on PhraseBank train
  with the target ``gold_weight * agreement-smoothed gold + (1 - gold_weight) * teacher``, plus the transfer
  texts with the teacher target alone; soft cross-entropy; best epoch by validation weighted-F1;
- shipped like the soups: a rank-``extract_rank`` LoRA extraction that ``load_adapter`` reads.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..data.datasets import (
    PHRASEBANK_LABELS,
    load_fiqa_posts,
    load_phrasebank,
    load_semeval_headlines,
    load_semeval_microblogs,
    phrasebank_split,
)
from ..data.news import match_key
from ..errors import DataNotFoundError, ModelLoadError, ValidationError
from ..llmos.convert import minilm_path, resolve_base
from .train import (
    SentimentTrainConfig,
    _build_model,
    _predict,
    agreement_eps,
    classification_metrics,
    counterfactual_validation,
    evaluate_encoder,
    fit_soft_targets,
    freeze_embeddings,
    gold_additions,
    load_state,
    ship_and_evaluate,
    soft_targets,
    teachers_base,
)

log = logging.getLogger(__name__)

TRANSFER_SOURCES = ("reuters_title", "reuters_lede")  # the default
KNOWN_TRANSFER_SOURCES = ("reuters_title", "reuters_lede", "stocknet_tweet")


@dataclass(frozen=True)
class DistillConfig:
    transfer_sources: tuple[str, ...] = TRANSFER_SOURCES
    transfer_limit: int = 20000  # texts drawn (seeded) from the transfer sources, split evenly; 0 = none
    gold_weight: float = 0.5  # PhraseBank target: this much gold (agreement-smoothed), the rest teacher
    transfer_weight: float = 1.0  # loss weight of a transfer text relative to a PhraseBank sentence
    temperature: float = 1.0
    lr: float = 8e-5
    head_lr: float = 1e-3
    epochs: int = 3
    batch_size: int = 16
    max_length: int = 96
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    seed: int = 0
    extract_rank: int = 32
    threads: int = 0
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda[:N]"
    counterfactuals: bool = False  # add augment.counterfactuals(train): flipped gold labels only, no teacher targets
    # augment.RULES to apply; the literal is augment.DEFAULT_RULES (the CLI reads it from source); WIDE_RULES: more cost lines
    counterfactual_rules: tuple[str, ...] = ("profit_to_loss", "sales_to_costs", "will_not")
    weak_labels: bool = False  # add weak.weak_label_split().train: rule labels only (eps 0.2), kept out of the transfer set

    def __post_init__(self) -> None:
        unknown = sorted(set(self.transfer_sources) - set(KNOWN_TRANSFER_SOURCES))
        if unknown or not self.transfer_sources or len(set(self.transfer_sources)) < len(self.transfer_sources):
            why = "unknown: " + ", ".join(unknown) if unknown else "empty or repeated"
            raise ValidationError(f"transfer_sources {list(self.transfer_sources)!r} is not valid ({why}); "
                                  f"expected distinct names from {list(KNOWN_TRANSFER_SOURCES)}, e.g. "
                                  "reuters_title,reuters_lede")
        self.seed_config()  # epochs, batch_size, extract_rank: the seeds' own checks and messages
        if not 0.0 <= self.gold_weight <= 1.0:
            raise ValidationError(f"gold_weight must be in [0, 1], got {self.gold_weight!r}; e.g. gold_weight=0.5")
        if self.temperature <= 0:
            raise ValidationError(f"temperature must be > 0, got {self.temperature!r}; e.g. temperature=1.0")
        for name in ("transfer_weight", "transfer_limit"):
            if getattr(self, name) < 0:
                raise ValidationError(f"{name} must be >= 0, got {getattr(self, name)!r}; e.g. {name}=0 to switch it off")

    def seed_config(self) -> SentimentTrainConfig:
        """The ``SentimentTrainConfig`` whose model builder and training loop the student shares."""
        return SentimentTrainConfig(lr=self.lr, head_lr=self.head_lr, epochs=self.epochs, batch_size=self.batch_size,
                                    max_length=self.max_length, weight_decay=self.weight_decay,
                                    warmup_fraction=self.warmup_fraction, seeds=(self.seed,),
                                    extract_rank=self.extract_rank, device=self.device,
                                    counterfactual_rules=self.counterfactual_rules)


_norm = match_key  # the evaluation-sentence exclusion key (data.news.match_key); llmos.domain uses it too


def evaluation_texts(tweets: bool = True) -> set[str]:
    """Normalised texts of every sentence the project evaluates on (or trains on with gold labels). ``tweets``: also
    the tweet-style evaluation posts (SemEval-2017 microblogs, both files, and the FiQA-2018 posts); the domain
    pretraining corpus passes False because the issue asks for the FiQA posts there (no shipped model uses it)."""
    texts = set()
    for agree in ("50", "66", "75", "all"):
        texts |= set(load_phrasebank(agree)["text"].map(_norm))
    for split in ("train", "test"):
        texts |= set(load_semeval_headlines(split)["text"].map(_norm))
        if tweets:
            texts |= set(load_semeval_microblogs(split)["text"].map(_norm))
    if tweets:
        texts |= set(load_fiqa_posts()["text"].map(_norm))
    from .behaviour import SUITE, load_behaviour_suite

    if SUITE.is_file():  # the behaviour suite is evaluation only (a checkout has it)
        texts |= set(load_behaviour_suite()["text"].map(_norm))
    return texts


def transfer_texts(sources: tuple[str, ...] = TRANSFER_SOURCES, limit: int = 20000, seed: int = 0,
                   exclude: set[str] | None = None) -> pd.DataFrame:
    """Unlabelled transfer texts (columns ``text``, ``source``): Reuters titles and/or ledes and/or StockNet tweets
    (``tweet_text``), deduplicated after normalisation, minus ``exclude`` (normalised; default
    ``evaluation_texts()``, which holds the tweet-style evaluation posts too), then a seeded sample of ``limit``
    split evenly over the sources (0 = none)."""
    if limit == 0 or not sources:
        return pd.DataFrame({"text": pd.Series(dtype=str), "source": pd.Series(dtype=str)})
    exclude = evaluation_texts() if exclude is None else exclude
    parts, per_source = [], math.ceil(limit / len(sources))
    seen: set[str] = set(exclude)
    cache: dict[str, pd.DataFrame] = {}
    for source in sources:
        text = _source_texts(source, cache).astype(str).str.replace(r"\s+", " ", regex=True).str.strip()
        text = text[text.str.split().str.len() >= 4]  # drop stubs ("Video", "BRIEF-...") that carry no sentiment
        frame = pd.DataFrame({"text": text, "key": text.map(_norm)}).drop_duplicates("key")
        frame = frame[~frame["key"].isin(seen)]
        frame = frame.sample(n=min(per_source, len(frame)), random_state=seed)
        seen |= set(frame["key"])
        parts.append(frame.assign(source=source)[["text", "source"]])
    out = pd.concat(parts, ignore_index=True)
    if out.empty:
        raise DataNotFoundError(f"no transfer texts left from {list(sources)} after removing evaluation sentences")
    return out.iloc[:limit].reset_index(drop=True)


_URL = re.compile(r"(?:https?://|www\.|pic\.twitter\.com/)\S*|\S*…", re.I)
_RETWEET = re.compile(r"^(?:[RM]T\s*)?@\w+:?\s*", re.I)


def tweet_text(text: str) -> str:
    """A tweet as transfer text: links (``http(s)://``, ``www.``, ``pic.twitter.com/``, any case) removed, and the word
    that Twitter cut off with an ellipsis (``expecting a beat…`` -> ``expecting a``); leading ``RT @user:`` / ``MT
    @user`` prefixes and leading ``@user`` mentions dropped. Cashtags and hashtags elsewhere are kept (they are how
    such posts name companies)."""
    t = _URL.sub(" ", text)
    while True:
        stripped = _RETWEET.sub("", t.strip(), count=1)
        if stripped == t.strip():
            return re.sub(r"\s+", " ", stripped).strip()
        t = stripped


def _source_texts(source: str, cache: dict[str, pd.DataFrame]) -> pd.Series:
    """The raw texts of one transfer source (``cache`` keeps the Reuters file read once for titles and ledes)."""
    if source == "stocknet_tweet":  # 2014-01-01 .. 2015-09-30: inside the research window
        from ..data.stocknet import read_stocknet_tweets

        return read_stocknet_tweets().frame["body"].astype(str).map(tweet_text)
    from ..data.news import read_reuters_csv

    if "reuters" not in cache:
        cache["reuters"] = read_reuters_csv().frame
    return cache["reuters"][{"reuters_title": "headline", "reuters_lede": "body"}[source]]


def teacher_probs(teacher_paths: list[Path], base: Path, tokenizer: Any, texts: list[str], max_length: int,
                  temperature: float = 1.0, progress: bool = True) -> np.ndarray:
    """(n, 3) mean of the teachers' softmax(logits / temperature), in PHRASEBANK_LABELS order."""
    from .adapter import load_adapter

    model: Any = None
    total = np.zeros((len(texts), len(PHRASEBANK_LABELS)), dtype=np.float64)
    for path in tqdm(teacher_paths, desc="teachers", disable=not progress):
        if path.is_dir():  # a written sentiment model (checked by find_teachers), merged onto its base
            model = load_adapter(path, base=base)
        else:
            if model is None:
                model = _build_model(SentimentTrainConfig(), base)
            model.load_state_dict(load_state(path))
        p = _predict(model, tokenizer, texts, max_length, device="auto").astype(np.float64)
        if temperature != 1.0:  # softmax(z / T) = p ** (1 / T), renormalised
            p = p ** (1.0 / temperature)
            p /= p.sum(1, keepdims=True)
        total += p
    return (total / len(teacher_paths)).astype(np.float32)


def find_teachers(teachers_dir: str | Path) -> list[Path]:
    """The per-seed weights (``seed_*.safetensors``) in ``teachers_dir``, or ``[teachers_dir]`` when it is one written
    adapter folder (``adapter_config.json``: the ``--out`` of ``train sentiment``/``distill``, e.g. a shipped model)."""
    folder = Path(teachers_dir)
    if (folder / "adapter_config.json").is_file():
        cfg_path = folder / "llmos_config.json"
        info = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
        labels = info.get("labels")
        if info.get("token_labels") or labels is None or tuple(labels) != tuple(PHRASEBANK_LABELS):
            what = (f"a token tagger (labels {info['token_labels']})" if info.get("token_labels")
                    else f"a classifier of {labels}")
            raise ModelLoadError(f"--teachers {folder} is {what}; a sentiment teacher predicts "
                                 f"{list(PHRASEBANK_LABELS)}: pass the --out folder of `train sentiment` or "
                                 "`train distill` (e.g. llmos_quant/encoders/weights/finsent-mpnet), or a --seeds-dir")
        return [folder]
    paths = sorted(folder.glob("seed_*.safetensors"))
    if not paths:
        raise DataNotFoundError(
            f"no teacher weights (seed_*.safetensors) and no written model (adapter_config.json) in {teachers_dir}; "
            f"write seeds with `llmos-quant train sentiment --seeds-dir {teachers_dir}`, or pass a written sentiment "
            "model folder such as llmos_quant/encoders/weights/finsent-mpnet")
    return paths


def distill_sentiment(cfg: DistillConfig, teachers_dir: str | Path, out_dir: str | Path, progress: bool = True,
                      base: str | Path | None = None, teacher_base: str | Path | None = None) -> dict[str, Any]:
    """Distil the teachers in ``teachers_dir`` into one student; write its adapter + ``metrics.json``.

    ``base``: the student's base encoder (default MiniLM). ``teacher_base``: the teachers' base, default the one
    ``train sentiment --seeds-dir`` recorded in ``teachers_dir/base.json``, else the student's: teachers may be a
    larger architecture with another tokenizer (e.g. ``mpnet``), since only their probabilities are used."""
    from transformers import AutoTokenizer

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    base_path = resolve_base(base)
    base = base_path if base is not None else None
    tokenizer = AutoTokenizer.from_pretrained(str(base_path))
    paths = find_teachers(teachers_dir)
    teacher_path = teachers_base(teachers_dir, teacher_base, default=base_path)
    teacher_tok = tokenizer if teacher_path == base_path else AutoTokenizer.from_pretrained(str(teacher_path))
    split = phrasebank_split(seed=0)
    label_ids = {lab: i for i, lab in enumerate(PHRASEBANK_LABELS)}
    gold_texts = split.train["text"].tolist()
    weak = None
    exclude = None
    if cfg.weak_labels:  # both weak slices stay out of the transfer set: no teacher target on a validation headline
        from .weak import weak_label_split

        weak_split = weak_label_split()
        weak = weak_split.train
        exclude = evaluation_texts() | weak_split.keys
    transfer = transfer_texts(cfg.transfer_sources, cfg.transfer_limit, cfg.seed, exclude=exclude)
    t0 = time.perf_counter()

    # Teachers: their ensemble's validation metrics, then the targets of every training text.
    all_texts = gold_texts + transfer["text"].tolist() + split.valid["text"].tolist()
    probs = teacher_probs(paths, teacher_path, teacher_tok, all_texts, cfg.max_length, cfg.temperature, progress)
    n_gold, n_transfer = len(gold_texts), len(transfer)
    valid_probs = probs[n_gold + n_transfer:]
    teacher_valid = classification_metrics(split.valid["label"], [PHRASEBANK_LABELS[i] for i in valid_probs.argmax(1)])
    gold = soft_targets(split.train["label"].map(label_ids).to_numpy(), agreement_eps(gold_texts), len(PHRASEBANK_LABELS))
    targets = torch.cat([cfg.gold_weight * gold + (1 - cfg.gold_weight) * torch.from_numpy(probs[:n_gold]),
                         torch.from_numpy(probs[n_gold:n_gold + n_transfer])])
    weights = torch.cat([torch.ones(n_gold), torch.full((n_transfer,), cfg.transfer_weight)])
    texts = gold_texts + transfer["text"].tolist()
    # The teachers read these wrong (that is the point): their gold (or rule) label alone is the target.
    extras = gold_additions(split.train, cfg.counterfactuals, weak, cfg.counterfactual_rules)
    for extra in extras.values():
        extra_targets = soft_targets(extra["label"].map(label_ids).to_numpy(), extra["eps"].to_numpy(dtype=np.float32),
                                     len(PHRASEBANK_LABELS))
        targets = torch.cat([targets, extra_targets])
        weights = torch.cat([weights, torch.ones(len(extra))])
        texts = texts + extra["text"].tolist()
    n_cf, n_weak = len(extras.get("counterfactuals", ())), len(extras.get("weak_labels", ()))
    label_seconds = time.perf_counter() - t0
    log.info("teachers: %d, valid wF1 of their ensemble %.4f; %d + %d training texts", len(paths),
             teacher_valid["weighted_f1"], n_gold, n_transfer)

    # Student: initialised like a seed, trained by the seeds' loop.
    seed_cfg = cfg.seed_config()
    model = _build_model(seed_cfg, base_path)
    freeze_embeddings(model)
    best_state, best, history = fit_soft_targets(model, tokenizer, seed_cfg, cfg.seed, texts, targets, split.valid,
                                                 progress, weights=weights, temperature=cfg.temperature, name="student",
                                                 device=seed_cfg.device)
    train_seconds = time.perf_counter() - t0
    model.load_state_dict(best_state)
    metrics = ship_and_evaluate(model, seed_cfg, base_path, base, out_dir, cfg.extract_rank)
    metrics.update({
        **counterfactual_validation(model, tokenizer, split.valid, cfg.max_length), "train_counterfactuals": n_cf,
        "train_weak_labels": n_weak, "recipe": "ensemble distillation", "distill_config": asdict(cfg),
        "teachers": [p.name for p in paths], "teacher_base": teacher_path.name, "teacher_ensemble_valid": teacher_valid,
        "transfer_texts": {str(k): int(v) for k, v in transfer["source"].value_counts().items()},
        "history": history, "best_epoch": best["epoch"], "student_valid": best["valid"],
        "label_seconds": round(label_seconds, 1), "train_seconds": round(train_seconds, 1),
        "split": "PhraseBank Sentences_50Agree, stratified 75/25 seed 0; 10% of train (seed 0) for validation",
    })
    Path(out_dir, "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def ensemble_report(teachers_dir: str | Path, base: str | Path | None = None, max_length: int = 96) -> dict[str, Any]:
    """Test metrics of the teachers' logit ensemble (mean softmax), for comparison with soups and students."""
    from transformers import AutoTokenizer

    from .sentiment import LABELS, SentimentEncoder

    paths = find_teachers(teachers_dir)
    base_path = teachers_base(teachers_dir, base, default=minilm_path())
    tokenizer = AutoTokenizer.from_pretrained(str(base_path))

    class _Ensemble:
        name = f"ensemble of {len(paths)}"

        def predict_proba(self, texts: list[str]) -> np.ndarray:
            p = teacher_probs(paths, base_path, tokenizer, texts, max_length, progress=False)
            return p[:, [list(PHRASEBANK_LABELS).index(lab) for lab in LABELS]]

    return evaluate_encoder(SentimentEncoder(_Ensemble()))
