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
from tqdm.auto import tqdm

from .config import LLMOSConfig
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


def default_corpus(limit: int | None = 20000) -> pd.DataFrame:
    """Columns ``anchor``, ``positive``: Reuters (title, lede) pairs + PhraseBank (sentence, sentence)."""
    from ..data.datasets import load_phrasebank
    from ..data.news import read_reuters_csv

    news = read_reuters_csv()
    news = news[news["published_at"] < pd.Timestamp("2017-01-01", tz="UTC")]
    news = news[news["body"].str.len() > 20].drop_duplicates("headline")
    pairs = pd.DataFrame({"anchor": news["headline"], "positive": news["body"]})
    pb = load_phrasebank("50")
    pairs = pd.concat([pairs, pd.DataFrame({"anchor": pb["text"], "positive": pb["text"]})], ignore_index=True)
    pairs = pairs.sample(frac=1.0, random_state=0).reset_index(drop=True)
    return pairs.head(limit) if limit else pairs


def pretrain(corpus: pd.DataFrame, cfg: PretrainConfig, out_dir: str | Path | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Train tokenizer + model; returns the loss history and throughput; saves to ``out_dir`` if given."""
    if not {"anchor", "positive"} <= set(corpus.columns) or corpus.empty:
        raise ValueError(f"corpus must be a non-empty frame with 'anchor' and 'positive' columns, got {list(corpus.columns)}")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    tokenizer = train_wordpiece(pd.concat([corpus["anchor"], corpus["positive"]]).tolist(), cfg.vocab_size)
    tok_seconds = time.perf_counter() - t0
    mconf = LLMOSConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, num_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size, max_position_embeddings=max(cfg.max_length, 128),
        num_experts=cfg.num_experts, pad_token_id=tokenizer.pad_token_id, pooling="mean",
    )
    model = LLMOSForContrastive(mconf)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    warmup = max(1, cfg.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    special = tuple(tokenizer.all_special_ids)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    tokens = 0
    model.train()
    t1 = time.perf_counter()
    for step in tqdm(range(cfg.steps), desc="pretraining", disable=not progress):
        idx = rng.integers(0, len(corpus), cfg.batch_size)
        a = tokenizer(corpus["anchor"].iloc[idx].tolist(), padding=True, truncation=True,
                      max_length=cfg.max_length, return_tensors="pt")
        p = tokenizer(corpus["positive"].iloc[idx].tolist(), padding=True, truncation=True,
                      max_length=cfg.max_length, return_tensors="pt")
        masked, labels = mask_tokens(a["input_ids"], a["attention_mask"], len(tokenizer), tokenizer.mask_token_id,
                                     special, cfg.mlm_probability, gen)
        out = model(masked, a["attention_mask"], labels=labels, positive_ids=p["input_ids"],
                    positive_mask=p["attention_mask"])
        parts = model.last_losses  # loss = mlm + infonce (+ MoE balance)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        tokens += int(a["attention_mask"].sum() + p["attention_mask"].sum())
        history.append({"step": step + 1, "loss": float(out.loss.detach()), **parts})
    train_seconds = time.perf_counter() - t1
    head = pd.DataFrame(history[: max(1, cfg.steps // 20)]).mean(numeric_only=True)
    tail = pd.DataFrame(history[-max(1, cfg.steps // 20):]).mean(numeric_only=True)
    result = {
        "config": asdict(cfg), "parameters": model.num_parameters, "vocab_size": len(tokenizer),
        "tokenizer_seconds": round(tok_seconds, 2), "train_seconds": round(train_seconds, 2),
        "tokens_per_second": round(tokens / train_seconds, 1),
        "mlm_start": float(head["mlm"]), "mlm_end": float(tail["mlm"]),
        "infonce_start": float(head["infonce"]), "infonce_end": float(tail["infonce"]),
        "history": history,
    }
    log.info("pretraining: mlm %.3f -> %.3f, infonce %.3f -> %.3f, %.0f tokens/s", result["mlm_start"],
             result["mlm_end"], result["infonce_start"], result["infonce_end"], result["tokens_per_second"])
    if out_dir is not None:
        model.save_pretrained(out_dir, tokenizer=tokenizer)
    return result
