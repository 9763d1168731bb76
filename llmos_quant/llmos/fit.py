"""One device-aware training loop (``fit``), one learning-rate schedule and one batched predictor for every
LLMOS model: the sentiment seeds and students, the event head, the NER tagger and pretraining all train through
``fit``; every classifier scores through ``BatchedPredictor``.

``fit``: the caller gives the parameter groups (AdamW), a batch source and a loss function; the loop moves each
batch to the device (pinned memory and ``non_blocking`` copies on CUDA), runs the forward pass under bf16 autocast on
CUDA, clips the gradient norm, steps AdamW and the schedule, and calls ``on_epoch_end`` (validation, best-state
keeping). On the CPU it performs the operations of the loops it replaced, in the same order, so a seeded run gives
the same losses and weights as before (``tests/llmos/test_fit.py`` checks this against a copy of the old loop).

``BatchedPredictor``: texts are tokenized without padding, sorted by length and cut into batches padded only to
each batch's longest text (length bucketing). On CUDA the batches are sized by a token budget, built in a background
thread (tokenization overlaps the GPU's work on the previous chunk) in pinned memory, copied ``non_blocking`` and
run in bf16; ``compile=True`` wraps the model in ``torch.compile``. On the CPU the defaults reproduce the previous
scoring exactly: all texts in one chunk, fixed ``batch_size`` rows per batch, float32, no thread.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..errors import UsageError

log = logging.getLogger(__name__)

Batch = dict[str, Any]
DECAYS = ("linear", "constant")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/``'auto'``: CUDA when present, else the CPU; otherwise the named torch device."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"device {device!r} is not a torch device; use 'auto', 'cpu' or 'cuda[:N]'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r}: this machine has no CUDA GPU visible to torch "
                         f"(torch {torch.__version__}); use --device cpu or auto")
    return dev


def autocast_for(device: torch.device, bf16: bool = True) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA (when ``bf16``), nothing elsewhere."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def warmup_schedule(opt: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.1,
                    decay: str = "linear") -> torch.optim.lr_scheduler.LambdaLR:
    """The one schedule: a linear warm-up factor ``min(1, (s + 1) / warmup)`` over ``warmup_fraction`` of
    ``total_steps`` (at least one step), times ``decay='linear'``: ``(total - s) / (total - warmup)`` (the sentiment
    recipe's formula, which reaches 0 at ``total_steps``), or ``decay='constant'``: 1 (pretraining)."""
    if decay not in DECAYS:
        raise UsageError(f"decay must be one of {DECAYS}, got {decay!r}")
    if total_steps < 1:
        raise UsageError(f"total_steps must be >= 1, got {total_steps}")
    warmup = max(1, int(warmup_fraction * total_steps))
    if decay == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total_steps - s) / max(1, total_steps - warmup)))


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Tensors of ``batch`` on ``device`` (pinned + non_blocking to CUDA); other values as they are."""
    if device.type == "cpu":
        return batch
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            if device.type == "cuda" and v.device.type == "cpu":
                v = v.pin_memory()
            v = v.to(device, non_blocking=True)
        out[k] = v
    return out


@dataclass(frozen=True)
class FitResult:
    """What ``fit`` did: one ``history`` row per epoch (``epoch``, ``train_loss`` and the callback's metrics),
    every step's loss and loss parts, the step count, seconds and device."""

    history: list[dict[str, Any]]
    step_losses: list[float]
    steps: int
    seconds: float
    device: str
    step_parts: list[dict[str, float]] = field(default_factory=list)


def fit(model: nn.Module, param_groups: list[dict[str, Any]], batches: Callable[[int], Iterable[Batch]],
        loss_fn: Callable[[nn.Module, Batch], torch.Tensor | tuple[torch.Tensor, dict[str, float]]], *,
        epochs: int, steps_per_epoch: int, warmup_fraction: float = 0.1, decay: str = "linear",
        clip: float = 1.0, weight_decay: float = 0.01, device: str | torch.device | None = "cpu", bf16: bool = True,
        on_epoch_end: Callable[[int, float], dict[str, Any] | None] | None = None,
        progress: bool = False, desc: str = "fit") -> FitResult:
    """Train ``model`` for ``epochs`` x ``steps_per_epoch`` steps (see the module docstring).

    ``batches(epoch)`` yields the epoch's batches (dicts; their tensors go to the device); ``loss_fn(model, batch)``
    returns the loss, or ``(loss, parts)`` with floats to log per step. ``on_epoch_end(epoch, mean_loss)`` runs after
    each epoch (1-based) and may return metrics for that epoch's history row."""
    if epochs < 1 or steps_per_epoch < 1:
        raise UsageError(f"fit needs epochs >= 1 and steps_per_epoch >= 1, got {epochs} and {steps_per_epoch}")
    for i, group in enumerate(param_groups):
        lr = group.get("lr")
        if lr is not None and not (float(lr) > 0 and math.isfinite(float(lr))):
            raise UsageError(f"fit needs a finite learning rate > 0 in every parameter group, got lr={lr!r} in group "
                             f"{i}; e.g. lr=5e-4")
    dev = pick_device(device)
    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(param_groups, weight_decay=weight_decay)
    sched = warmup_schedule(opt, steps_per_epoch * epochs, warmup_fraction, decay)
    history: list[dict[str, Any]] = []
    step_losses: list[float] = []
    step_parts: list[dict[str, float]] = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        losses: list[float] = []
        label = f"{desc} epoch {epoch + 1}/{epochs}" if epochs > 1 else desc
        bar = tqdm(batches(epoch), desc=label, total=steps_per_epoch, disable=not progress)
        for batch in bar:
            with autocast_for(dev, bf16):
                out = loss_fn(model, to_device(batch, dev))
            loss, parts = out if isinstance(out, tuple) else (out, None)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if parts is not None:
                step_parts.append(parts)
            if progress:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        step_losses += losses
        mean = float(np.mean(losses)) if losses else float("nan")
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": mean}
        if on_epoch_end is not None:
            row.update(on_epoch_end(epoch + 1, mean) or {})
        history.append(row)
    return FitResult(history=history, step_losses=step_losses, steps=len(step_losses),
                     seconds=time.perf_counter() - t0, device=str(dev), step_parts=step_parts)


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) input ids padded with ``pad_id`` to the longest row, and the (B, T) attention mask."""
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    width = int(lengths.max()) if len(ids) else 0
    batch = np.full((len(ids), width), pad_id, dtype=np.int64)
    for row, x in enumerate(ids):
        batch[row, :len(x)] = x
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    return torch.from_numpy(batch), torch.from_numpy(mask)


class BatchedPredictor:
    """Batched, length-bucketed inference for a model taking ``(input_ids, attention_mask)``.

    ``forward(ids, mask)`` gives the model's output tensor (default ``model(ids, mask).logits``); ``run`` applies
    ``reduce`` to it on the device (softmax, sigmoid, argmax) and returns the rows in input order. Options: see the
    module docstring; ``token_budget`` (tokens per batch, CUDA default 65,536) overrides ``batch_size`` rows,
    ``chunk_size`` texts are tokenized at a time (CUDA default 32,768; CPU default all), ``prefetch`` builds
    the next chunk's batches in a thread (CUDA default on). ``stats`` holds the last call's timings."""

    def __init__(self, model: nn.Module, tokenizer: Any, *, device: str | torch.device | None = None,
                 batch_size: int = 64, max_length: int = 128, token_budget: int | None = None,
                 chunk_size: int | None = None, prefetch: bool | None = None, bf16: bool = True,
                 compile: bool = False, forward: Callable[..., torch.Tensor] | None = None
                 ) -> None:
        if batch_size < 1:
            raise UsageError(f"batch_size must be >= 1, got {batch_size}")
        if max_length < 1:
            raise UsageError(f"max_length must be >= 1, got {max_length}")
        self.device = pick_device(device)
        cuda = self.device.type == "cuda"
        self.model = model.eval().to(self.device)
        self.tokenizer = tokenizer
        self.batch_size, self.max_length, self.bf16 = batch_size, max_length, bf16
        self.token_budget = token_budget if token_budget is not None else (65536 if cuda else None)
        self.chunk_size = chunk_size if chunk_size is not None else (32768 if cuda else None)
        self.prefetch = prefetch if prefetch is not None else cuda
        self.pad_id = getattr(tokenizer, "pad_token_id", None) or 0
        fwd = forward or (lambda ids, mask, *case: self.model(ids, mask, case_ids=case[0]).logits if case
                          else self.model(ids, mask).logits)
        self._forward = torch.compile(fwd, dynamic=True) if compile else fwd
        self.stats: dict[str, float] = {}

    # ---- batching ---------------------------------------------------------------------------------------------
    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, truncated to ``max_length``, unpadded."""
        return self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)["input_ids"]

    def plan(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Row indices of each batch: sorted by length (stable), ``batch_size`` rows, or rows that fit the token
        budget (``rows x longest <= token_budget``) when one is set."""
        order = np.argsort(lengths, kind="stable")
        if not self.token_budget:
            return [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        batches, start = [], 0
        while start < len(order):
            rows = 1
            while start + rows < len(order) and (rows + 1) * lengths[order[start + rows]] <= self.token_budget:
                rows += 1  # lengths ascend along ``order``: the newest row is the longest
            rows = max(1, min(rows, len(order) - start))
            batches.append(order[start:start + rows])
            start += rows
        return batches

    def _chunks(self, n: int) -> list[tuple[int, int]]:
        size = self.chunk_size or max(n, 1)
        return [(s, min(n, s + size)) for s in range(0, n, size)]

    def _prepared(self, texts: list[str] | None, ids: list[list[int]] | None, n: int,
                  extra: list[list[int]] | None = None
                  ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor, list[int], torch.Tensor | None]]:
        """(global row indices, ids, mask, lengths, extra ids or None) per batch, chunk by chunk; tokenizes lazily."""
        pin = self.device.type == "cuda"
        for lo, hi in self._chunks(n):
            t0 = time.perf_counter()
            chunk = ids[lo:hi] if ids is not None else self.encode(texts[lo:hi])  # type: ignore[index]
            self.stats["tokenize_s"] = self.stats.get("tokenize_s", 0.0) + time.perf_counter() - t0
            lengths = np.fromiter((len(x) for x in chunk), dtype=np.int64, count=len(chunk))
            for idx in self.plan(lengths):
                b_ids, b_mask = pad_batch([chunk[i] for i in idx], self.pad_id)
                b_extra = pad_batch([extra[lo + i] for i in idx], 0)[0] if extra is not None else None
                if pin:
                    b_ids, b_mask = b_ids.pin_memory(), b_mask.pin_memory()
                    b_extra = b_extra.pin_memory() if b_extra is not None else None
                yield idx + lo, b_ids, b_mask, [int(lengths[i]) for i in idx], b_extra

    def _iter(self, texts: list[str] | None, ids: list[list[int]] | None, n: int, extra: list[list[int]] | None
              ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor, list[int], torch.Tensor | None]]:
        if not self.prefetch:
            yield from self._prepared(texts, ids, n, extra)
            return
        q: queue.Queue[Any] = queue.Queue(maxsize=64)
        done = object()
        stop = threading.Event()

        def produce() -> None:
            try:
                for item in self._prepared(texts, ids, n, extra):
                    while not stop.is_set():
                        try:
                            q.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                q.put(done)
            except BaseException as exc:  # re-raised in the consumer
                q.put(exc)

        worker = threading.Thread(target=produce, name="llmos-tokenizer", daemon=True)
        worker.start()
        try:
            while True:
                item = q.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            worker.join(timeout=5)

    # ---- running ----------------------------------------------------------------------------------------------
    def run(self, texts: list[str] | None = None, *, ids: list[list[int]] | None = None,
            case_ids: list[list[int]] | None = None,
            reduce: Callable[[torch.Tensor], torch.Tensor] = lambda z: torch.softmax(z.float(), dim=-1),
            ragged: bool = False, progress: bool = False, desc: str = "scoring") -> np.ndarray | list[np.ndarray]:
        """``reduce(forward(batch))`` for every text (or pre-tokenized ``ids``), in input order: an (n, C) float32
        array, or with ``ragged=True`` (per-token outputs) a list of arrays cut to each row's token count.
        ``case_ids``: per-token letter-case classes aligned with ``ids`` (``model.case_ids``, for a model with case
        embeddings), padded with 0 and passed to ``forward`` as its third argument."""
        if (texts is None) == (ids is None):
            raise UsageError("BatchedPredictor.run takes texts or ids, not both or neither")
        if case_ids is not None and (ids is None or [len(x) for x in case_ids] != [len(x) for x in ids]):
            raise UsageError("BatchedPredictor.run: case_ids needs ids, with one value per token of each row")
        n = len(texts) if texts is not None else len(ids)  # type: ignore[arg-type]
        self.stats = {"tokenize_s": 0.0}
        t0 = time.perf_counter()
        rows: list[np.ndarray | None] = [None] * n if ragged else []
        out: np.ndarray | None = None
        bar = tqdm(total=n, desc=desc, unit="text", disable=not progress or n < 2 * self.batch_size)
        with torch.inference_mode(), autocast_for(self.device, self.bf16):
            for idx, b_ids, b_mask, lengths, b_extra in self._iter(texts, ids, n, case_ids):
                nb = self.device.type != "cpu"
                inputs = [b_ids.to(self.device, non_blocking=nb), b_mask.to(self.device, non_blocking=nb)]
                if b_extra is not None:
                    inputs.append(b_extra.to(self.device, non_blocking=nb))
                res = reduce(self._forward(*inputs))
                arr = res.float().cpu().numpy() if res.is_floating_point() else res.cpu().numpy()
                if ragged:
                    for r, i in enumerate(idx):
                        rows[i] = arr[r, :lengths[r]]
                else:
                    if out is None:
                        out = np.empty((n, *arr.shape[1:]), dtype=np.float32 if arr.dtype.kind == "f" else arr.dtype)
                    out[idx] = arr
                bar.update(len(idx))
        bar.close()
        self.stats["seconds"] = time.perf_counter() - t0
        self.stats["texts_per_s"] = n / max(self.stats["seconds"], 1e-9)
        if ragged:
            return rows  # type: ignore[return-value]
        return out if out is not None else np.empty((0, 0), dtype=np.float32)


def batches_of(n_rows: int, batch_size: int) -> int:
    """How many batches of ``batch_size`` cover ``n_rows``."""
    return math.ceil(n_rows / batch_size)
