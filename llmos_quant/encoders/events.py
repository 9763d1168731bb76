"""Event-type classifier: an LLMOS multi-label head trained on weak labels from the keyword rules.

Training data: Reuters (up to 2016-12-31) and Benzinga headlines from ../shared/data, labelled by
``news_parser.rule_events`` (weak supervision). Evaluation: per-class precision/recall on the project's
hand-labelled fixture ``llmos_quant/data/resources/event_headlines.csv`` (headlines written and labelled by this
project), for both the rules and the model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .news_parser import EVENT_TYPES, rule_events

DEFAULT_EVENT_ADAPTER = Path(__file__).resolve().parent / "weights" / "events-minilm"
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "resources" / "event_headlines.csv"


class EventClassifier:
    """Multi-label event types for headlines (sigmoid > threshold; ``other`` when nothing passes)."""

    def __init__(self, model: Any, tokenizer: Any, threshold: float = 0.5, batch_size: int = 64,
                 device: str | None = "cpu") -> None:
        self.model, self.tokenizer, self.threshold, self.batch_size = model.eval(), tokenizer, threshold, batch_size
        self.labels = model.config.labels
        self.device = device
        self._predictor: Any = None

    @classmethod
    def load(cls, directory: str | Path = DEFAULT_EVENT_ADAPTER, base: str | Path | None = None,
             **kwargs: Any) -> EventClassifier:
        """The adapter in ``directory`` on ``base`` (default all-MiniLM-L6-v2; the folder it was trained on)."""
        from transformers import AutoTokenizer

        from .adapter import adapter_base, load_adapter

        folder = adapter_base(directory, base)
        return cls(load_adapter(directory, base=folder), AutoTokenizer.from_pretrained(str(folder)), **kwargs)

    def proba(self, texts: list[str]) -> np.ndarray:
        """(n, L) sigmoid probabilities per event type (missing texts score as the empty string)."""
        from ..llmos.fit import BatchedPredictor

        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if self._predictor is None:
            self._predictor = BatchedPredictor(self.model, self.tokenizer, device=self.device,
                                               batch_size=self.batch_size, max_length=64)
        return self._predictor.run([t if isinstance(t, str) else "" for t in texts],  # type: ignore[return-value]
                                   reduce=lambda z: torch.sigmoid(z.float()))

    def predict(self, texts: list[str]) -> list[list[str]]:
        p = self.proba(texts)
        res = []
        for text, row in zip(texts, p, strict=True):
            if not isinstance(text, str) or not text.strip():
                res.append([])
                continue
            labs = [self.labels[j] for j in np.flatnonzero(row >= self.threshold) if self.labels[j] != "other"]
            res.append(labs or ["other"])
        return res


def weak_corpus(limit: int = 20000, seed: int = 0) -> pd.DataFrame:
    """Unique Reuters (<= 2016) + Benzinga headlines with rule labels."""
    from ..data.news import read_benzinga_csv, read_reuters_csv

    r = read_reuters_csv().frame
    r = r[r["published_at"] < pd.Timestamp("2017-01-01", tz="UTC")]
    heads = pd.concat([r["headline"], read_benzinga_csv().frame["headline"]])
    heads = heads.str.replace(r"^(UPDATE \d+-|BRIEF-)", "", regex=True)
    heads = heads.drop_duplicates().sample(frac=1.0, random_state=seed).head(limit).reset_index(drop=True)
    return pd.DataFrame({"headline": heads, "events": heads.map(rule_events)})


def per_class_report(gold: list[list[str]], pred: list[list[str]]) -> pd.DataFrame:
    rows = {}
    for c in EVENT_TYPES:
        g = np.array([c in x for x in gold])
        p = np.array([c in x for x in pred])
        tp = int((g & p).sum())
        rows[c] = {"support": int(g.sum()), "precision": tp / p.sum() if p.sum() else float("nan"),
                   "recall": tp / g.sum() if g.sum() else float("nan")}
    frame = pd.DataFrame(rows).T
    frame["f1"] = 2 * frame["precision"] * frame["recall"] / (frame["precision"] + frame["recall"])
    return frame


def load_fixture(path: str | Path = FIXTURE) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame["events"] = frame["events"].str.split(";")
    return frame


def train_events(out_dir: str | Path, limit: int = 12000, epochs: int = 2, lr: float = 2e-4, head_lr: float = 3e-3,
                 lora_r: int = 16, batch_size: int = 32, seed: int = 0, progress: bool = True,
                 device: str | None = "auto", base: str | Path | None = None) -> dict[str, Any]:
    """Train on weak labels (the shared ``llmos.fit.fit`` loop); evaluate rules and model on the hand-labelled
    fixture; save adapter + metrics."""
    from transformers import AutoTokenizer

    from ..llmos.convert import base_record_name, from_hf_bert, resolve_base
    from ..llmos.fit import fit
    from .adapter import attach_lora, save_adapter

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = weak_corpus(limit, seed)
    base_dir = resolve_base(base)
    tok = AutoTokenizer.from_pretrained(str(base_dir))
    model = from_hf_bert(base_dir, head="cls", pooling="mean", labels=EVENT_TYPES)
    lora = attach_lora(model, r=lora_r, alpha=2 * lora_r)
    # With sparse multi-label targets the encoder collapses to predicting the label priors when its
    # LayerNorms train at the LoRA rate; keep them frozen and give the new head a higher rate.
    for name, p in model.named_parameters():
        if "norm." in name:
            p.requires_grad = False
    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("classifier")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("classifier")]
    y = np.array([[c in ev for c in EVENT_TYPES] for ev in data["events"]], dtype=np.float32)
    texts = data["headline"].tolist()

    def batches(epoch: int) -> Any:
        perm = rng.permutation(len(texts))
        for s in range(0, len(texts), batch_size):
            idx = perm[s:s + batch_size]
            enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=64, return_tensors="pt")
            yield {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                   "labels": torch.from_numpy(y[idx])}

    result = fit(model, [{"params": head, "lr": head_lr}, {"params": body, "lr": lr}], batches,
                 lambda m, b: m(b["input_ids"], b["attention_mask"], labels=b["labels"]).loss,
                 epochs=epochs, steps_per_epoch=math.ceil(len(texts) / batch_size), device=device,
                 progress=progress, desc="events")
    seconds = result.seconds
    model.to("cpu").eval()
    save_adapter(model, lora, model.config, out_dir, base=base_record_name(base_dir),
                 base_path=base_dir)
    fixture = load_fixture()
    clf = EventClassifier.load(out_dir, base=base)
    model_report = per_class_report(fixture["events"].tolist(), clf.predict(fixture["headline"].tolist()))
    rules_report = per_class_report(fixture["events"].tolist(), [rule_events(h) for h in fixture["headline"]])
    metrics = {"train_headlines": len(data), "epochs": epochs, "lr": lr, "head_lr": head_lr,
               "train_seconds": round(seconds, 1), "device": result.device,
               "train_loss_per_epoch": [round(h["train_loss"], 4) for h in result.history],
               "fixture_headlines": len(fixture), "model": model_report.round(4).to_dict(orient="index"),
               "rules": rules_report.round(4).to_dict(orient="index"),
               "model_macro_f1": float(model_report["f1"].mean()), "rules_macro_f1": float(rules_report["f1"].mean())}
    Path(out_dir, "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    return metrics
