"""Fine-tune the LLMOS sentiment classifier on Financial PhraseBank and evaluate it.

Recipe (``SentimentTrainConfig`` defaults):

- full fine-tune of the MiniLM encoder (word/position embeddings frozen), AdamW, linear warm-up/decay,
  length-bucketed batches;
- *agreement-aware label smoothing*: PhraseBank tells how many annotators agreed on each sentence
  (AllAgree / 75 / 66 / 50 files), so a sentence's target keeps ``1 - eps`` on its gold label with
  ``eps`` 0 / 0.1 / 0.2 / 0.3 for those levels (the rest spread over the other two labels);
- several seeds that share the classifier initialisation (each keeps its best epoch by validation
  weighted-F1), combined by a uniform *model soup* (weight average; Wortsman et al. 2022). A greedy soup
  (keep a seed only if validation weighted-F1 does not drop) is an option, but on a 364-sentence
  validation slice it chases noise: in our run it kept one lucky seed and scored lower on test;
- the result ships as a rank-``extract_rank`` LoRA extraction of the weight deltas (truncated SVD),
  so the committed artifact stays a few MB and loads with ``load_adapter``.

``method="lora"`` trains LoRA factors directly instead (the earlier recipe). The split is fixed (see
``phrasebank_split``): stratified 75/25 by seed 0, 10% of train for validation; each seed keeps its best
epoch by validation weighted-F1. SemEval-2017 headlines are only scored, never trained on.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..data.datasets import (
    PHRASEBANK_LABELS,
    load_fiqa_posts,
    load_phrasebank,
    load_semeval_headlines,
    load_semeval_microblogs,
    phrasebank_split,
)
from ..errors import DataNotFoundError, ModelLoadError, ValidationError
from ..llmos.convert import base_fingerprint, base_record_name, from_hf_bert, recorded_base, resolve_base
from ..llmos.fit import BatchedPredictor, fit
from ..llmos.model import LLMOSForSequenceClassification
from .adapter import adapter_base, attach_lora, merge_lora, save_extracted
from .augment import DEFAULT_RULES, parse_rules

log = logging.getLogger(__name__)

AGREEMENT_EPS = {"all": 0.0, "75": 0.1, "66": 0.2, "50": 0.3}


@dataclass(frozen=True)
class SentimentTrainConfig:
    method: str = "full"  # "full" (shipped as a LoRA extraction) or "lora"
    pooling: str = "mean"
    lr: float = 8e-5  # encoder (full) or LoRA factors (lora; 5e-4 suits it)
    head_lr: float = 1e-3
    epochs: int = 4
    batch_size: int = 16
    max_length: int = 96
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    agreement_smoothing: bool = True
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    soup: str = "uniform"  # "uniform": average every seed; "greedy": keep a seed only if validation does not drop
    extract_rank: int = 32
    lora_r: int = 16
    lora_alpha: int = 32
    threads: int = 0  # 0 = torch default
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda[:N]"; bf16 autocast on CUDA
    counterfactuals: bool = False  # add augment.counterfactuals(train) (flipped labels, eps 0.1) to the training set
    # augment.RULES to apply; the literal is augment.DEFAULT_RULES (the CLI reads it from source); WIDE_RULES: more cost lines
    counterfactual_rules: tuple[str, ...] = ("profit_to_loss", "sales_to_costs", "will_not")
    weak_labels: bool = False  # add weak.weak_label_split().train (rule-labelled Reuters headlines, eps 0.2)
    init: str | None = None  # start every seed from this adapter folder (e.g. the shipped model) instead of the base
    limit: int = 0  # train on the first N training sentences only (smoke tests); 0 = all

    def __post_init__(self) -> None:
        if self.method not in ("full", "lora"):
            raise ValidationError(f"method must be 'full' or 'lora', got {self.method!r}")
        if self.soup not in ("uniform", "greedy"):
            raise ValidationError(f"soup must be 'uniform' or 'greedy', got {self.soup!r}")
        for name in ("epochs", "batch_size", "extract_rank", "lora_r"):
            if getattr(self, name) < 1:
                raise ValidationError(f"{name} must be a positive integer, got {getattr(self, name)!r}; e.g. {name}=4")
        if not self.seeds:
            raise ValidationError("seeds must name at least one seed, e.g. (0,)")
        parse_rules(self.counterfactual_rules)


def classification_metrics(gold: list[str] | pd.Series, pred: list[str] | pd.Series) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "n": len(gold),
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, average="macro")),
        "weighted_f1": float(f1_score(gold, pred, average="weighted")),
    }


def _predict(model: LLMOSForSequenceClassification, tokenizer: Any, texts: list[str], max_length: int,
             batch_size: int = 64, device: str | None = "cpu") -> np.ndarray:
    """(n, C) softmax probabilities through the shared batched predictor (length-bucketed, input order)."""
    predictor = BatchedPredictor(model, tokenizer, device=device, batch_size=batch_size, max_length=max_length)
    return predictor.run(texts)  # type: ignore[return-value]


def counterfactual_validation(model: torch.nn.Module, tokenizer: Any, valid: pd.DataFrame,
                              max_length: int) -> dict[str, float | int]:
    """Accuracy on the behavioural validation slice: the counterfactual rewrites of the validation sentences."""
    from .augment import counterfactuals

    cf = counterfactuals(valid)
    if cf.empty:
        return {"valid_counterfactual_accuracy": float("nan"), "valid_counterfactuals": 0}
    pred = _predict(model, tokenizer, cf["text"].tolist(), max_length).argmax(1)
    hits = [PHRASEBANK_LABELS[i] == gold for i, gold in zip(pred, cf["label"], strict=True)]
    return {"valid_counterfactual_accuracy": float(np.mean(hits)), "valid_counterfactuals": len(cf)}


def _weak_train() -> pd.DataFrame:
    from .weak import weak_label_split

    return weak_label_split().train


def gold_additions(train: pd.DataFrame, counterfactuals: bool, weak: pd.DataFrame | None,
                   rules: tuple[str, ...] = DEFAULT_RULES) -> dict[str, pd.DataFrame]:
    """The gold-only additions to a training set (columns ``text``, ``label``, ``eps``), in training order: the
    counterfactual rewrites of ``train`` (eps 0.1, as a 75%-agreement sentence) when asked, then the rule-labelled
    headlines ``weak`` (eps 0.2, as 66%) when given."""
    out: dict[str, pd.DataFrame] = {}
    if counterfactuals:
        from .augment import counterfactuals as rewrite

        out["counterfactuals"] = rewrite(train, rules).assign(eps=AGREEMENT_EPS["75"])
    if weak is not None:
        out["weak_labels"] = weak.assign(eps=AGREEMENT_EPS["66"])
    return out


def agreement_eps(texts: list[str]) -> np.ndarray:
    """Smoothing mass per sentence from the strictest PhraseBank agreement file that holds it."""
    level = dict.fromkeys(texts, AGREEMENT_EPS["50"])
    for agree in ("66", "75", "all"):  # later (stricter) files overwrite
        for text in load_phrasebank(agree)["text"]:
            if text in level:
                level[text] = AGREEMENT_EPS[agree]
    return np.array([level[t] for t in texts], dtype=np.float32)


def soft_targets(labels: np.ndarray, eps: np.ndarray, n_classes: int) -> torch.Tensor:
    """(B, C) targets: ``1 - eps`` on the gold label, ``eps / (C - 1)`` on each other label."""
    onehot = F.one_hot(torch.as_tensor(np.array(labels)), n_classes).float()
    e = torch.as_tensor(eps, dtype=torch.float32)[:, None]
    return onehot * (1 - e) + (1 - onehot) * e / (n_classes - 1)


def length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                            pool: int = 50) -> list[np.ndarray]:
    """Shuffle, sort each pool of ``pool`` batches by length (less padding), then shuffle the batches."""
    perm = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    for start in range(0, len(perm), batch_size * pool):
        chunk = perm[start:start + batch_size * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)  # type: ignore[arg-type]
    return batches


def _build_model(cfg: SentimentTrainConfig, base: Path) -> LLMOSForSequenceClassification:
    torch.manual_seed(0)  # every seed starts from the same classifier head, so their weights can be averaged
    model = from_hf_bert(base, head="cls", pooling=cfg.pooling, labels=PHRASEBANK_LABELS)
    assert isinstance(model, LLMOSForSequenceClassification)
    return model


def _param_groups(model: torch.nn.Module, cfg: SentimentTrainConfig) -> list[dict[str, Any]]:
    body_decay, body_no_decay, head = [], [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name.startswith("classifier."):
            head.append(param)
        elif name.endswith("bias") or "norm." in name:
            body_no_decay.append(param)
        else:
            body_decay.append(param)
    return [{"params": body_decay, "lr": cfg.lr, "weight_decay": cfg.weight_decay},
            {"params": body_no_decay, "lr": cfg.lr, "weight_decay": 0.0},
            {"params": head, "lr": cfg.head_lr, "weight_decay": 0.0}]


def freeze_embeddings(model: torch.nn.Module) -> None:
    """Full fine-tune: every tensor trains except the word/position/type embeddings."""
    for name, param in model.named_parameters():
        param.requires_grad = not ("embed" in name and "norm" not in name)


def fit_soft_targets(model: LLMOSForSequenceClassification, tokenizer: Any, cfg: SentimentTrainConfig, seed: int,
                     texts: list[str], targets: torch.Tensor, valid: pd.DataFrame, progress: bool,
                     weights: torch.Tensor | None = None, temperature: float = 1.0, name: str = "seed",
                     device: str | None = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any], list[dict[str, Any]]]:
    """Sentiment training (seeds and distilled students) on the shared ``llmos.fit.fit`` loop: AdamW with
    ``_param_groups``, linear warm-up/decay, length-bucketed batches, soft cross-entropy against ``targets``
    (n, C) weighted per text by ``weights`` (default 1), logits divided by ``temperature`` (loss scaled by its
    square). Keeps the epoch with the best validation weighted-F1. Returns (best state dict,
    ``{"epoch", "valid"}`` of that epoch, per-epoch history)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    weights = torch.ones(len(texts)) if weights is None else weights
    lengths = np.array([len(t) for t in texts])
    rng = np.random.default_rng(seed)
    best: dict[str, Any] = {"epoch": 0, "valid": {"weighted_f1": -1.0}}
    best_state: dict[str, torch.Tensor] = {}

    def batches(epoch: int) -> Any:
        for idx in length_bucketed_batches(lengths, cfg.batch_size, rng):
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=cfg.max_length, return_tensors="pt")
            yield {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                   "targets": targets[idx], "weights": weights[idx]}

    def loss_fn(m: torch.nn.Module, b: dict[str, Any]) -> torch.Tensor:
        logits = m(b["input_ids"], b["attention_mask"]).logits.float() / temperature
        per_text = -(b["targets"] * F.log_softmax(logits, -1)).sum(-1)  # (B,)
        w = b["weights"]
        return (per_text * w).sum() / w.sum().clamp_min(1e-8) * temperature ** 2

    def on_epoch_end(epoch: int, mean_loss: float) -> dict[str, Any]:
        nonlocal best, best_state
        vm = _valid_metrics(model, tokenizer, valid, cfg.max_length, device)
        log.info("%s epoch %d: loss %.4f, valid acc %.4f wF1 %.4f", name, epoch, mean_loss,
                 vm["accuracy"], vm["weighted_f1"])
        if vm["weighted_f1"] > best["valid"]["weighted_f1"]:
            best = {"epoch": epoch, "valid": vm}
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return {f"valid_{k}": v for k, v in vm.items()}

    result = fit(model, _param_groups(model, cfg), batches, loss_fn, epochs=cfg.epochs,
                 steps_per_epoch=math.ceil(len(texts) / cfg.batch_size), warmup_fraction=cfg.warmup_fraction,
                 device=device, on_epoch_end=on_epoch_end, progress=progress, desc=name)
    model.to("cpu")
    return best_state, best, result.history


def _initial_model(cfg: SentimentTrainConfig, base: Path) -> LLMOSForSequenceClassification:
    """The model a seed starts from: the base with a fresh head, or the merged classifier of ``cfg.init``."""
    if cfg.init is None:
        return _build_model(cfg, base)
    from .adapter import load_adapter

    model = load_adapter(cfg.init, base=base)
    if not isinstance(model, LLMOSForSequenceClassification) or tuple(model.config.labels) != PHRASEBANK_LABELS:
        raise ValidationError(f"--init {cfg.init}: expected a sentiment adapter with labels {PHRASEBANK_LABELS}")
    return model


def _train_one(cfg: SentimentTrainConfig, seed: int, base: Path, tokenizer: Any, data: dict[str, Any],
               progress: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Fine-tune one seed; returns its best-epoch state dict (full model) and its history."""
    model = _initial_model(cfg, base)
    if cfg.method == "lora":
        attach_lora(model, r=cfg.lora_r, alpha=cfg.lora_alpha)
    else:
        freeze_embeddings(model)
    targets = soft_targets(data["labels"], data["eps"], len(PHRASEBANK_LABELS))
    best_state, best, history = fit_soft_targets(model, tokenizer, cfg, seed, data["texts"], targets, data["valid"],
                                                 progress, name=f"seed {seed}", device=cfg.device)
    if cfg.method == "lora":  # fold the best LoRA factors into plain weights: every method yields a plain state
        model.load_state_dict(best_state)
        merge_lora(model)
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best = {"seed": seed, "epoch": best["epoch"], "valid_weighted_f1": best["valid"]["weighted_f1"]}
    return best_state, {"best": best, "history": [{"seed": seed, **h} for h in history]}


def ship_and_evaluate(model: LLMOSForSequenceClassification, cfg: SentimentTrainConfig, base_path: Path,
                      base: str | Path | None, out_dir: str | Path, rank: int) -> dict[str, Any]:
    """Write ``model`` as a rank-``rank`` LoRA extraction against the base weights, then evaluate the saved
    artifact exactly as users load it (``SentimentEncoder.from_adapter``).

    A ``train domain --freeze-embeddings`` base is written against the checkpoint it was continued from
    (``domain_origin``): the adapter then carries the domain pretraining too and loads on the original weights
    (MiniLM's package), without the domain folder. ``metrics["extracted_against"]`` names the reference."""
    from ..llmos.domain import domain_origin
    from .sentiment import SentimentEncoder

    trained_on = {"trained_on_base": base_record_name(base_path)}
    if base is not None and (base_path / "pretrain_metrics.json").is_file():
        pre = json.loads((base_path / "pretrain_metrics.json").read_text())
        trained_on["domain_pretraining"] = {"variant": pre.get("variant"), "config": pre.get("config"),
                                            "corpus_pairs": pre.get("corpus_pairs"), "base": pre.get("base_name")}
    origin = domain_origin(base_path) if base is not None else None
    reference = _build_model(cfg, origin if origin is not None else base_path)
    if origin is not None and _same_embeddings(reference, model):
        log.info("%s is a domain-pretrained %s with frozen embeddings: the adapter is written against %s",
                 base_path, origin.name, origin)
        base_path, base = origin, (None if origin == resolve_base(None) else origin)
    elif origin is not None:  # the origin holds other weights now: an adapter of it would carry whole embedding tables
        log.warning("%s records %s as its origin, but their embedding tables differ: the adapter is written "
                    "against %s and needs that folder", base_path, origin, base_path)
        reference = _build_model(cfg, base_path)
    base_name = base_record_name(base_path)
    save_extracted(reference, model, model.config, out_dir, rank=rank, base_name=base_name, base_path=base_path)
    metrics = evaluate_encoder(SentimentEncoder.from_adapter(out_dir, base=base, progress=False))
    return {**metrics, **trained_on, "extracted_against": base_name}


def _same_embeddings(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """The word/position/type tables (what ``freeze_embeddings`` keeps) are equal in both models."""
    ours = dict(b.named_parameters())
    return all(torch.equal(p.detach().cpu(), ours[n].detach().cpu()) for n, p in a.named_parameters()
               if "embed" in n and "norm" not in n)


def save_state(state: dict[str, torch.Tensor], path: Path, info: dict[str, Any]) -> Path:
    """One classifier state dict as safetensors (metadata: ``info`` as JSON); read back by ``load_state``."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(path),
              metadata={"format": "pt", "info": json.dumps(info)})
    return path


TEACHER_BASE_FILE = "base.json"


def write_teacher_base(seeds_dir: str | Path, base_path: Path) -> Path:
    """Record which base encoder the seeds in ``seeds_dir`` were fine-tuned from, so that ``train distill`` loads them
    into the right architecture and tokenizer (a MiniLM student may learn from MPNet teachers)."""
    path = Path(seeds_dir) / TEACHER_BASE_FILE
    path.write_text(json.dumps({"base": str(base_path), "name": base_record_name(base_path),
                                "fingerprint": base_fingerprint(base_path)}, indent=2) + "\n")
    return path


def read_teacher_base(seeds_dir: str | Path) -> Path | None:
    """The base recorded by ``write_teacher_base`` (None for folders written before it existed: MiniLM)."""
    path = Path(seeds_dir) / TEACHER_BASE_FILE
    if not path.is_file():
        return None
    info = json.loads(path.read_text())
    folder = Path(info["base"])
    if not folder.is_dir():  # written on another machine: a known base is found again by name
        if (known := recorded_base(info.get("name"))) is None:
            raise DataNotFoundError(f"{path} names the teachers' base {folder}, which does not exist; pass "
                                    "--teacher-base")
        folder = known
    expected, found = info.get("fingerprint"), base_fingerprint(folder)
    if expected and found != expected:
        raise ModelLoadError(f"{path}: the teachers were fine-tuned from base weights with fingerprint {expected}, but "
                             f"{folder} has {found or 'no model.safetensors'} (retrained in place, or another model "
                             "under that name); pass their base with --teacher-base")
    return folder


def teachers_base(seeds_dir: str | Path, override: str | Path | None, default: Path) -> Path:
    """The teachers' base: ``override`` when given; for a written model folder (``adapter_config.json``) the base it
    loads onto (``adapter.adapter_base``: a known base, or the recorded base folder when it is still there; any other
    is refused: it would load onto the wrong weights); else the one recorded in ``seeds_dir``, else ``default``."""
    if override is not None:
        return resolve_base(override)
    if (Path(seeds_dir) / "adapter_config.json").is_file():
        try:
            return adapter_base(seeds_dir)
        except ModelLoadError as exc:
            raise ModelLoadError(f"--teachers {seeds_dir}: {exc}. Pass that base folder with --teacher-base") from exc
    return read_teacher_base(seeds_dir) or default


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict written by ``save_state``; an unreadable or truncated file raises ``ModelLoadError``."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError, OSError, ...: translated at the boundary
        raise ModelLoadError(f"cannot read the weights {path} ({type(exc).__name__}: {exc}); the file is truncated or "
                             "not safetensors: rewrite it with `llmos-quant train sentiment --seeds-dir ...`") from exc


def _valid_metrics(model: torch.nn.Module, tokenizer: Any, valid: pd.DataFrame, max_length: int,
                   device: str | None = "cpu") -> dict[str, float]:
    pred = _predict(model, tokenizer, valid["text"].tolist(), max_length, device=device).argmax(1)  # type: ignore[arg-type]
    return classification_metrics(valid["label"], [PHRASEBANK_LABELS[i] for i in pred])


def _average(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Mean of same-shape tensors; tensors that are all identical (frozen embeddings) come back bit-exact."""
    if all(torch.equal(tensors[0], t) for t in tensors[1:]):
        return tensors[0]
    return (sum(t.double() for t in tensors) / len(tensors)).to(tensors[0].dtype)


def greedy_soup(states: list[dict[str, torch.Tensor]], score: Any) -> tuple[dict[str, torch.Tensor], list[int], list[float]]:
    """Wortsman et al. (2022) greedy soup: visit ingredients best-first by ``score(state)``; keep one in the
    running weight average only if the averaged model's score does not drop. Returns (soup, kept, scores)."""
    scores = [score(s) for s in states]
    order = sorted(range(len(states)), key=lambda i: -scores[i])
    kept = [order[0]]
    soup, soup_score = states[order[0]], scores[order[0]]
    for i in order[1:]:
        candidate = {k: _average([states[j][k] for j in [*kept, i]]) for k in soup}
        cand_score = score(candidate)
        log.info("soup + seed index %d: valid wF1 %.4f (was %.4f)", i, cand_score, soup_score)
        if cand_score >= soup_score:
            kept, soup, soup_score = [*kept, i], candidate, cand_score
    return soup, kept, scores


def train_sentiment(cfg: SentimentTrainConfig, out_dir: str | Path, progress: bool = True,
                    base: str | Path | None = None, seeds_dir: str | Path | None = None) -> dict[str, Any]:
    """Train, evaluate and write the adapter + ``metrics.json`` to ``out_dir``. Returns the metrics.

    ``seeds_dir``: also write each seed's best-epoch weights there (``seed_<k>.safetensors``, full float32
    state), e.g. to serve as the teachers of ``distill.distill_sentiment``."""
    from transformers import AutoTokenizer

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    base_path = resolve_base(base)
    base = base_path if base is not None else None
    split = phrasebank_split(seed=0)
    train = split.train.iloc[:cfg.limit] if cfg.limit else split.train
    label_ids = {lab: i for i, lab in enumerate(PHRASEBANK_LABELS)}
    texts = train["text"].tolist()
    eps = agreement_eps(texts) if cfg.agreement_smoothing else np.zeros(len(texts), dtype=np.float32)
    labels = train["label"].map(label_ids).to_numpy()
    extras = gold_additions(train, cfg.counterfactuals, _weak_train() if cfg.weak_labels else None,
                            cfg.counterfactual_rules)
    for extra in extras.values():
        texts = texts + extra["text"].tolist()
        labels = np.concatenate([labels, extra["label"].map(label_ids).to_numpy()])
        eps = np.concatenate([eps, extra["eps"].to_numpy(dtype=np.float32)])
    n_cf, n_weak = len(extras.get("counterfactuals", ())), len(extras.get("weak_labels", ()))
    data = {"texts": texts, "labels": labels, "eps": eps, "valid": split.valid}
    tokenizer = AutoTokenizer.from_pretrained(str(base_path))
    t0 = time.perf_counter()
    states, runs = [], []
    for seed in cfg.seeds:
        state, run = _train_one(cfg, seed, base_path, tokenizer, data, progress)
        if seeds_dir is not None:
            save_state(state, Path(seeds_dir) / f"seed_{seed}.safetensors", {"seed": seed, **run["best"]})
            write_teacher_base(seeds_dir, base_path)
        states.append(state)
        runs.append(run)
    model = _build_model(cfg, base_path)

    def valid_of(state: dict[str, torch.Tensor]) -> dict[str, float]:
        model.load_state_dict(state)
        return _valid_metrics(model, tokenizer, split.valid, cfg.max_length)

    greedy, greedy_kept, seed_scores = greedy_soup(states, lambda state: valid_of(state)["weighted_f1"])
    uniform = {k: _average([s[k] for s in states]) for k in states[0]}
    soups = {"uniform": (uniform, list(range(len(states)))), "greedy": (greedy, greedy_kept)}
    soup_valid = {kind: valid_of(state) for kind, (state, _) in soups.items()}
    soup, kept = soups[cfg.soup]
    train_seconds = time.perf_counter() - t0
    model.load_state_dict(soup)
    metrics = ship_and_evaluate(model, cfg, base_path, base, out_dir, cfg.extract_rank)
    model.load_state_dict(soup)
    metrics.update({
        **counterfactual_validation(model, tokenizer, split.valid, cfg.max_length), "train_counterfactuals": n_cf,
        "train_weak_labels": n_weak, "train_config": asdict(cfg), "history": [h for r in runs for h in r["history"]],
        "best_epoch_per_seed": {str(r["best"]["seed"]): r["best"]["epoch"] for r in runs},
        "valid_weighted_f1_per_seed": dict(zip(map(str, cfg.seeds), seed_scores, strict=True)),
        "soup_seeds": [cfg.seeds[i] for i in kept], "soup_valid": soup_valid[cfg.soup],
        "soup_valid_weighted_f1_by_kind": {kind: m["weighted_f1"] for kind, m in soup_valid.items()},
        "train_seconds": round(train_seconds, 1),
        "split": "PhraseBank Sentences_50Agree, stratified 75/25 seed 0; 10% of train (seed 0) for validation",
    })
    Path(out_dir, "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def evaluate_encoder(encoder: Any, valid_only: bool = False) -> dict[str, Any]:
    """PhraseBank test (50Agree and its AllAgree part) metrics, SemEval-2017 headline Spearman and two tweet-style
    Spearmans (SemEval-2017 microblog test posts, FiQA-2018 posts), plus ``valid``: the validation slice, its
    counterfactual rewrites, the 2016 rule-labelled headlines and the SemEval microblog *training* spans scored the
    same way, so that written artifacts can be compared with each other on data that is not the test split (the
    selection rules in docs/sentiment_training.md). ``valid_only=True`` scores only ``valid``: no test text is read,
    for a decision taken before the test figures are seen."""
    from scipy.stats import spearmanr

    from .augment import counterfactuals
    from .weak import weak_label_split

    split = phrasebank_split(seed=0)
    out: dict[str, Any] = {}
    valid = split.valid
    out["valid"] = classification_metrics(valid["label"], encoder.score(valid["text"].tolist())["label"])
    for name, frame in (("counterfactual", counterfactuals(valid)), ("weak", weak_label_split().valid)):
        if len(frame):
            hits = encoder.score(frame["text"].tolist())["label"].to_numpy() == frame["label"].to_numpy()
            out["valid"].update({f"{name}_accuracy": float(hits.mean()), f"{name}_n": len(frame)})
    def rho(frame: pd.DataFrame) -> float:
        return float(spearmanr(encoder.score(frame["text"].tolist())["score"], frame["score"]).statistic)

    # Tweet-style text, never trained on: the SemEval microblog training spans select (``valid``); the scored
    # microblog test posts and the FiQA posts are read like the test split.
    blogs = load_semeval_microblogs("train")
    out["valid"].update({"microblog_spearman": rho(blogs), "microblog_n": len(blogs)})
    if valid_only:
        return out
    for name, frame in (("test_50agree", split.test), ("test_allagree", split.test_allagree)):
        scored = encoder.score(frame["text"].tolist())
        out[name] = classification_metrics(frame["label"], scored["label"])
    semeval = load_semeval_headlines("test")
    out["semeval2017_headlines_test"] = {"n": len(semeval), "spearman": rho(semeval)}
    for name, frame in (("semeval2017_microblogs_test", load_semeval_microblogs("test")), ("fiqa_posts", load_fiqa_posts())):
        out[name] = {"n": len(frame), "spearman": rho(frame)}
    return out
