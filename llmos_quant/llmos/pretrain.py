"""Pretraining LLMOS from scratch: WordPiece tokenizer + masked LM + InfoNCE on a text corpus.

The default corpus is Reuters headline/lede pairs (up to 2016-12-31) and Financial PhraseBank
sentences from ../shared/data. InfoNCE positives are the lede of each headline (Reuters) or a second
dropout view of the same sentence (PhraseBank, as in SimCSE); the other rows of the batch are negatives.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .config import LLMOSConfig
from .fit import fit
from .model import LLMOSForContrastive, mask_tokens
from .tokenizer import train_wordpiece

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    steps: int = 300
    batch_size: int = 32
    max_length: int = 64
    lr: float = 5e-4
    vocab_size: int = 8000
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 1024
    num_experts: int = 0
    mlm_probability: float = 0.15
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda[:N]"; bf16 autocast on CUDA

    def __post_init__(self) -> None:
        from ..errors import UsageError

        if self.steps < 1 or self.batch_size < 2:  # with one pair InfoNCE has no negative: its loss is undefined
            raise UsageError(f"pretraining needs steps >= 1 and batch_size >= 2 (InfoNCE uses the other pairs of the "
                             f"batch as negatives), got steps={self.steps}, batch_size={self.batch_size}; e.g. "
                             "--batch-size 32")


def default_corpus(limit: int | None = 20000) -> pd.DataFrame:
    """Columns ``anchor``, ``positive``: Reuters (title, lede) pairs + PhraseBank (sentence, sentence)."""
    from ..data.datasets import load_phrasebank
    from ..data.news import read_reuters_csv

    news = read_reuters_csv().frame
    news = news[news["published_at"] < pd.Timestamp("2017-01-01", tz="UTC")]
    news = news[news["body"].str.len() > 20].drop_duplicates("headline")
    pairs = pd.DataFrame({"anchor": news["headline"], "positive": news["body"]})
    pb = load_phrasebank("50")
    pairs = pd.concat([pairs, pd.DataFrame({"anchor": pb["text"], "positive": pb["text"]})], ignore_index=True)
    pairs = pairs.sample(frac=1.0, random_state=0).reset_index(drop=True)
    return pairs.head(limit) if limit else pairs


def pretrain(corpus: pd.DataFrame, cfg: PretrainConfig, out_dir: str | Path | None = None,
             progress: bool = True, tokenizer: Any = None) -> dict[str, Any]:
    """Train tokenizer + model; returns the loss history and throughput; saves to ``out_dir`` if given.

    ``tokenizer``: reuse a tokenizer instead of training one. The ``tokenizers`` WordPiece trainer breaks ties in
    hash-map order, so two trainings on the same corpus can give slightly different vocabularies
    (huggingface/tokenizers#1794); the tokenizer is saved with the model, and reusing it makes a run repeatable."""
    if not {"anchor", "positive"} <= set(corpus.columns) or corpus.empty:
        raise ValueError(f"corpus must be a non-empty frame with 'anchor' and 'positive' columns, got {list(corpus.columns)}")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    if tokenizer is None:
        tokenizer = train_wordpiece(pd.concat([corpus["anchor"], corpus["positive"]]).tolist(), cfg.vocab_size)
    tok_seconds = time.perf_counter() - t0
    mconf = LLMOSConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, num_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size, max_position_embeddings=max(cfg.max_length, 128),
        num_experts=cfg.num_experts, pad_token_id=tokenizer.pad_token_id, pooling="mean",
    )
    model = LLMOSForContrastive(mconf)
    special = tuple(tokenizer.all_special_ids)
    gen = torch.Generator().manual_seed(cfg.seed)

    def batches(epoch: int) -> Any:
        for _ in range(cfg.steps):
            idx = rng.integers(0, len(corpus), cfg.batch_size)
            a = tokenizer(corpus["anchor"].iloc[idx].tolist(), padding=True, truncation=True,
                          max_length=cfg.max_length, return_tensors="pt")
            p = tokenizer(corpus["positive"].iloc[idx].tolist(), padding=True, truncation=True,
                          max_length=cfg.max_length, return_tensors="pt")
            masked, labels = mask_tokens(a["input_ids"], a["attention_mask"], len(tokenizer), tokenizer.mask_token_id,
                                         special, cfg.mlm_probability, gen)
            yield {"input_ids": masked, "attention_mask": a["attention_mask"], "labels": labels,
                   "positive_ids": p["input_ids"], "positive_mask": p["attention_mask"]}

    def loss_fn(m: torch.nn.Module, b: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        out = m(b["input_ids"], b["attention_mask"], labels=b["labels"], positive_ids=b["positive_ids"],
                positive_mask=b["positive_mask"])
        tokens = float(b["attention_mask"].sum() + b["positive_mask"].sum())
        return out.loss, {**m.last_losses, "tokens": tokens}  # loss = mlm + infonce (+ MoE balance)

    t1 = time.perf_counter()
    result = fit(model, [{"params": list(model.parameters()), "lr": cfg.lr}], batches, loss_fn, epochs=1,
                 steps_per_epoch=cfg.steps, warmup_fraction=0.1, decay="constant", device=cfg.device,
                 progress=progress, desc="pretraining")
    model.to("cpu")
    tokens = int(sum(p.pop("tokens") for p in result.step_parts))
    history = [{"step": i + 1, "loss": loss, **parts}
               for i, (loss, parts) in enumerate(zip(result.step_losses, result.step_parts, strict=True))]
    train_seconds = time.perf_counter() - t1
    head = pd.DataFrame(history[: max(1, cfg.steps // 20)]).mean(numeric_only=True)
    tail = pd.DataFrame(history[-max(1, cfg.steps // 20):]).mean(numeric_only=True)
    result = {
        "config": asdict(cfg), "parameters": model.num_parameters, "vocab_size": len(tokenizer),
        "tokenizer_seconds": round(tok_seconds, 2), "train_seconds": round(train_seconds, 2),
        "tokens_per_second": round(tokens / train_seconds, 1), "device": result.device,
        "mlm_start": float(head["mlm"]), "mlm_end": float(tail["mlm"]),
        "infonce_start": float(head["infonce"]), "infonce_end": float(tail["infonce"]),
        "history": history,
    }
    log.info("pretraining: mlm %.3f -> %.3f, infonce %.3f -> %.3f, %.0f tokens/s", result["mlm_start"],
             result["mlm_end"], result["infonce_start"], result["infonce_end"], result["tokens_per_second"])
    if out_dir is not None:
        model.save_pretrained(out_dir, tokenizer=tokenizer)
    return result
