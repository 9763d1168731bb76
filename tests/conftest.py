"""Shared fixtures. Tests needing ../shared/data use the ``shared_data`` fixture, which skips with a reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(2)


def pytest_collection_modifyitems(config, items):
    """``gpu`` tests run where torch sees a CUDA GPU and skip, saying so, elsewhere."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=f"needs a CUDA GPU; torch {torch.__version__} sees none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    from llmos_quant.paths import shared_data_dir

    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent (set LLMOS_QUANT_SHARED_DATA); this test reads the public datasets")
    return path


@pytest.fixture(scope="session")
def market():
    from llmos_quant.data.simulate import simulate_market

    return simulate_market(n_assets=12, n_sessions=80, seed=3)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A small random BERT sequence classifier saved by transformers, with the MiniLM tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from llmos_quant.llmos.convert import minilm_path

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=128,
                     id2label={0: "positive", 1: "negative", 2: "neutral"},
                     label2id={"positive": 0, "negative": 1, "neutral": 2})
    model = BertForSequenceClassification(cfg).eval()
    out = tmp_path_factory.mktemp("tiny_bert")
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(minilm_path())).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def rendered_notebooks(tmp_path_factory):
    """Every notebook executed once (papermill, SYNTHETIC default, 80 sessions) and exported to HTML."""
    from llmos_quant.jobs.notebooks import RenderConfig, render_notebooks

    out = tmp_path_factory.mktemp("notebooks")
    return {r.name: r for r in render_notebooks(RenderConfig(out=out, parameters={"n_sessions": 80}))}


def make_prices(closes: dict[str, list[float]], start: str = "2021-01-04", opens: dict[str, list[float]] | None = None):
    """A (date, asset) OHLCV frame on consecutive business days from explicit closes (and opens)."""
    dates = pd.bdate_range(start, periods=len(next(iter(closes.values()))))
    rows = []
    for a, cs in closes.items():
        os_ = (opens or {}).get(a, cs)
        for d, c, o in zip(dates, cs, os_, strict=True):
            rows.append({"date": d, "asset": a, "open": o, "high": max(o, c), "low": min(o, c), "close": c,
                         "volume": 1000.0})
    return pd.DataFrame(rows).set_index(["date", "asset"]).sort_index()


def random_factor(index: pd.MultiIndex, seed: int = 0) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(size=len(index)), index=index, name="factor")
