"""Fine-tune the LLMOS sentiment classifier on Financial PhraseBank (LoRA via peft) and evaluate it.

The split is fixed (see ``phrasebank_split``): stratified 75/25 by seed 0, 10% of train for validation.
The best epoch by validation weighted-F1 is kept. SemEval-2017 headlines are only scored, never trained on.
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
from tqdm.auto import tqdm

from ..data.datasets import PHRASEBANK_LABELS, load_semeval_headlines, phrasebank_split
from ..llmos.convert import from_hf_bert, minilm_path
from ..llmos.model import LLMOSForSequenceClassification
from .adapter import attach_lora, linear_warmup_decay, optimizer_step, save_adapter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentimentTrainConfig:
    pooling: str = "mean"
    lora_r: int = 16
    lora_alpha: int = 32
    lr: float = 5e-4
    epochs: int = 8
    batch_size: int = 32
    max_length: int = 96
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    seed: int = 0
    threads: int = 0  # 0 = torch default


def classification_metrics(gold: list[str] | pd.Series, pred: list[str] | pd.Series) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "n": len(gold),
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, average="macro")),
        "weighted_f1": float(f1_score(gold, pred, average="weighted")),
    }


def _predict(model: LLMOSForSequenceClassification, tokenizer: Any, texts: list[str], max_length: int,
             batch_size: int = 64) -> np.ndarray:
    model.eval()
    order = np.argsort([len(t) for t in texts])
    probs = np.zeros((len(texts), len(model.config.labels)), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt")
            logits = model(enc["input_ids"], enc["attention_mask"]).logits
            probs[idx] = torch.softmax(logits.float(), dim=-1).numpy()
    return probs


def train_sentiment(cfg: SentimentTrainConfig, out_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Train, evaluate and write the adapter + ``metrics.json`` to ``out_dir``. Returns the metrics."""
    from transformers import AutoTokenizer

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    split = phrasebank_split(seed=0)
    label_ids = {lab: i for i, lab in enumerate(PHRASEBANK_LABELS)}
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    model = from_hf_bert(minilm_path(), head="cls", pooling=cfg.pooling, labels=PHRASEBANK_LABELS)
    assert isinstance(model, LLMOSForSequenceClassification)
    lora = attach_lora(model, r=cfg.lora_r, alpha=cfg.lora_alpha)
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    log.info("trainable parameters: %d of %d", n_trainable, sum(p.numel() for p in model.parameters()))
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    texts, labels = split.train["text"].tolist(), split.train["label"].map(label_ids).to_numpy()
    steps_per_epoch = math.ceil(len(texts) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    sched = linear_warmup_decay(opt, total, cfg.warmup_fraction)
    rng = np.random.default_rng(cfg.seed)
    best: dict[str, Any] = {"valid_weighted_f1": -1.0}
    best_state: dict[str, torch.Tensor] = {}
    history = []
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        perm = rng.permutation(len(texts))
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress)
        for step in bar:
            idx = perm[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=cfg.max_length, return_tensors="pt")
            out = model(enc["input_ids"], enc["attention_mask"], labels=torch.as_tensor(labels[idx]))
            losses.append(optimizer_step(out.loss, opt, sched, trainable))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        valid_pred = _predict(model, tokenizer, split.valid["text"].tolist(), cfg.max_length).argmax(1)
        vm = classification_metrics(split.valid["label"], [PHRASEBANK_LABELS[i] for i in valid_pred])
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), **{f"valid_{k}": v for k, v in vm.items()}})
        log.info("epoch %d: loss %.4f, valid acc %.4f wF1 %.4f", epoch + 1, np.mean(losses), vm["accuracy"], vm["weighted_f1"])
        if vm["weighted_f1"] > best["valid_weighted_f1"]:
            best = {"epoch": epoch + 1, "valid_weighted_f1": vm["weighted_f1"]}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()
                          if "lora_" in k or "norm." in k or "classifier." in k or "pooler." in k}
    train_seconds = time.perf_counter() - t0
    model.load_state_dict(best_state, strict=False)
    save_adapter(model, lora, model.config, out_dir)
    # Evaluate the saved artifact exactly as users load it.
    from .sentiment import SentimentEncoder

    enc = SentimentEncoder.from_adapter(out_dir, progress=False)
    metrics = evaluate_encoder(enc)
    metrics.update({
        "train_config": asdict(cfg), "best_epoch": best["epoch"], "history": history,
        "train_seconds": round(train_seconds, 1), "trainable_parameters": n_trainable,
        "split": "PhraseBank Sentences_50Agree, stratified 75/25 seed 0; 10% of train (seed 0) for validation",
    })
    Path(out_dir, "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def evaluate_encoder(encoder: Any) -> dict[str, Any]:
    """PhraseBank test (50Agree and its AllAgree part) metrics and SemEval-2017 headline Spearman."""
    from scipy.stats import spearmanr

    split = phrasebank_split(seed=0)
    out: dict[str, Any] = {}
    for name, frame in (("test_50agree", split.test), ("test_allagree", split.test_allagree)):
        scored = encoder.score(frame["text"].tolist())
        out[name] = classification_metrics(frame["label"], scored["label"])
    semeval = load_semeval_headlines("test")
    scored = encoder.score(semeval["text"].tolist())
    rho = spearmanr(scored["score"], semeval["score"]).statistic
    out["semeval2017_headlines_test"] = {"n": len(semeval), "spearman": float(rho)}
    return out
