"""News novelty from LLMOS embeddings: how new is an item against the same ticker's recent news?

For each item: the maximum cosine similarity of its embedding (the LLMOS encoder with the all-MiniLM-L6-v2
weights, mean-pooled, L2-normalised: the sentence-transformers embedding) to the embeddings of the same asset's
items published earlier within the previous ``lookback_sessions`` sessions (``max_similarity``; 0 when there is
none), and ``novelty = 1 - max(max_similarity, 0)``. An item whose ``max_similarity`` reaches
``duplicate_threshold`` is a near-duplicate of an earlier item (a rewrite, an "UPDATE 2-", a syndicated copy):
``run_signals(..., novelty=NoveltyConfig())`` collapses it (counted under ``dropped``), and adds the
``novel_sentiment`` signal, the decayed sentiment with each item's score weighted by its novelty.

Only earlier items count, so novelty is point in time: an item's novelty never depends on later news.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data.news import strip_wire_prefixes
from ..errors import UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoveltyConfig:
    lookback_sessions: int = 5
    duplicate_threshold: float = 0.95
    batch_size: int = 64
    device: str | None = None  # None/"auto": CUDA when present
    collapse: bool = True  # drop near-duplicates from every signal (False: only weight novel_sentiment)

    def __post_init__(self) -> None:
        if self.lookback_sessions < 0:
            raise UsageError(f"novelty lookback_sessions must be >= 0, got {self.lookback_sessions}")
        if not 0 < self.duplicate_threshold <= 1:
            raise UsageError(f"duplicate_threshold must be in (0, 1], got {self.duplicate_threshold}; e.g. 0.95")


class Embedder:
    """Sentence embeddings (n, 384), L2-normalised, from the LLMOS encoder with the MiniLM weights."""

    def __init__(self, base: Any = None, device: str | None = None, batch_size: int = 64, max_length: int = 128) -> None:
        from transformers import AutoTokenizer

        from ..llmos.convert import from_hf_bert, resolve_base
        from ..llmos.fit import BatchedPredictor

        folder = resolve_base(base)
        model = from_hf_bert(folder, head="base", pooling="mean")
        tok = AutoTokenizer.from_pretrained(str(folder))
        self.predictor = BatchedPredictor(model, tok, device=device, batch_size=batch_size, max_length=max_length,
                                          forward=lambda ids, mask: model(ids, mask).pooled)
        self.last_seconds = 0.0

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts`` with wire prefixes (``UPDATE 2-``, ``BRIEF-``, ``RPT-``, chained) removed, so a
        re-issue compares by its content."""
        t0 = time.perf_counter()
        out = self.predictor.run([strip_wire_prefixes(t) if isinstance(t, str) else "" for t in texts],
                                 reduce=lambda z: torch.nn.functional.normalize(z.float(), dim=-1))
        self.last_seconds = time.perf_counter() - t0
        return out  # type: ignore[return-value]


def item_novelty(items: pd.DataFrame, embeddings: np.ndarray, lookback_sessions: int = 5,
                 duplicate_threshold: float = 0.95, sessions: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """``max_similarity``, ``novelty`` and ``near_duplicate`` per row of ``items`` (columns ``asset``, ``date`` (the
    point-in-time session), ``published_at``), given its L2-normalised ``embeddings`` (n, d), in row order.

    An earlier item is one of the same asset published strictly before (ties: earlier row) whose session is at
    most ``lookback_sessions`` sessions before the item's session (positions in ``sessions``, default the sessions
    present)."""
    if len(items) != len(embeddings):
        raise UsageError(f"{len(items)} items but {len(embeddings)} embeddings")
    n = len(items)
    max_sim = np.zeros(n, dtype=np.float32)
    has_prior = np.zeros(n, dtype=bool)
    cal = pd.DatetimeIndex(sessions if sessions is not None else sorted(items["date"].unique()))
    pos = cal.get_indexer(pd.DatetimeIndex(items["date"]))
    if (pos < 0).any():
        raise UsageError("item_novelty: some item sessions are not in the session calendar given")
    order = np.lexsort((np.arange(n), items["published_at"].to_numpy(), items["asset"].to_numpy()))
    assets = items["asset"].to_numpy()[order]
    bounds = np.flatnonzero(np.r_[True, assets[1:] != assets[:-1], True])
    emb = np.asarray(embeddings, dtype=np.float32)
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        idx = order[lo:hi]  # one asset's items in publication order
        p = pos[idx]
        e = emb[idx]
        for start in range(0, len(idx), 2048):  # blocks of rows keep the (rows, items) matrix small
            rows = np.arange(start, min(len(idx), start + 2048))
            sims = e[rows] @ e.T  # (r, m)
            earlier = np.arange(len(idx))[None, :] < rows[:, None]
            recent = p[None, :] >= (p[rows] - lookback_sessions)[:, None]
            valid = earlier & recent
            sims = np.where(valid, sims, -np.inf)
            best = sims.max(axis=1)
            has_prior[idx[rows]] = valid.any(axis=1)
            max_sim[idx[rows]] = np.where(np.isfinite(best), best, 0.0)
    novelty = 1.0 - np.clip(max_sim, 0.0, 1.0)
    return pd.DataFrame({"max_similarity": max_sim, "novelty": novelty.astype(np.float32),
                         "near_duplicate": has_prior & (max_sim >= duplicate_threshold)}, index=items.index)
