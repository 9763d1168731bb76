from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from llmos_quant.encoders.adapter import extract_lora, load_adapter, save_extracted
from llmos_quant.encoders.train import (
    SentimentTrainConfig,
    greedy_soup,
    length_bucketed_batches,
    soft_targets,
)
from llmos_quant.errors import ValidationError
from llmos_quant.llmos.convert import from_hf_bert


def _perturbed_pair(base_dir, rank: int | None = None, seed: int = 0):
    """(base, tuned): tuned = base + a weight delta (of ``rank`` per matrix, or full rank) + new biases/norms/head."""
    base = from_hf_bert(base_dir, head="cls", pooling="mean", labels=("negative", "neutral", "positive")).eval()
    tuned = from_hf_bert(base_dir, head="cls", pooling="mean", labels=("negative", "neutral", "positive")).eval()
    tuned.load_state_dict(base.state_dict())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if "embed" in name and "norm" not in name:
                continue
            if p.dim() == 2 and rank is not None and not name.startswith("classifier"):
                p += 0.05 * torch.randn(p.shape[0], rank, generator=gen) @ torch.randn(rank, p.shape[1], generator=gen)
            else:
                p += 0.05 * torch.randn(p.shape, generator=gen)
    return base, tuned


def test_extraction_is_exact_at_the_delta_rank_and_loads_from_fp16(tiny_bert_dir, tmp_path):
    base, tuned = _perturbed_pair(tiny_bert_dir, rank=3)
    ids = torch.tensor([[101, 2000, 2001, 2002, 102]])
    save_extracted(base, tuned, tuned.config, tmp_path, rank=3)
    loaded = load_adapter(tmp_path, base=tiny_bert_dir)
    # fp16 factors: the only loss is half-precision rounding
    assert torch.allclose(loaded(ids).logits, tuned(ids).logits, atol=2e-3)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["r"] == 3


def test_extraction_warns_when_the_head_file_is_most_of_the_model(tiny_bert_dir, tmp_path, caplog):
    base, tuned = _perturbed_pair(tiny_bert_dir, rank=3)
    with caplog.at_level("WARNING", logger="llmos_quant.encoders.adapter"):
        save_extracted(base, tuned, tuned.config, tmp_path / "ok", rank=3)
    assert not caplog.records  # LoRA factors + small tensors: an adapter
    with torch.no_grad():  # a base whose embedding table differs: the table is copied whole into head.safetensors
        dict(tuned.named_parameters())["encoder.word_embeddings.weight"].add_(0.01)
    with caplog.at_level("WARNING", logger="llmos_quant.encoders.adapter"):
        save_extracted(base, tuned, tuned.config, tmp_path / "big", rank=3)
    assert len(caplog.records) == 1
    assert "word_embeddings" in caplog.records[0].getMessage() and "check the base" in caplog.records[0].getMessage()


def test_extraction_error_shrinks_with_rank(tiny_bert_dir):
    base, tuned = _perturbed_pair(tiny_bert_dir, rank=None)
    tuned_w = dict(tuned.named_parameters())["encoder.layers.0.ffn.up_proj.weight"]
    base_w = dict(base.named_parameters())["encoder.layers.0.ffn.up_proj.weight"]
    errors = []
    for rank in (1, 4, 16, 32):
        factors, config = extract_lora(base, tuned, rank)
        assert config.r == config.lora_alpha == rank  # scale 1
        a = factors["encoder.layers.0.ffn.up_proj.lora_A.weight"]
        b = factors["encoder.layers.0.ffn.up_proj.lora_B.weight"]
        errors.append(float((base_w + b @ a - tuned_w).detach().norm()))
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-4  # rank 32 = full rank of a 64x32 matrix


def test_soft_targets_rows_sum_to_one():
    t = soft_targets(np.array([0, 2, 1]), np.array([0.0, 0.3, 0.2]), 3)
    assert torch.allclose(t.sum(1), torch.ones(3))
    assert torch.allclose(t[0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(t[1], torch.tensor([0.15, 0.15, 0.7]))


def test_length_bucketed_batches_cover_every_index_once():
    lengths = np.random.default_rng(0).integers(5, 200, size=103)
    batches = length_bucketed_batches(lengths, 8, np.random.default_rng(1), pool=4)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(103))
    assert all(len(b) <= 8 for b in batches)
    assert all(np.all(np.diff(lengths[b]) >= 0) for b in batches)  # sorted within a batch


def test_greedy_soup_keeps_only_ingredients_that_help():
    states = [{"w": torch.tensor([1.0])}, {"w": torch.tensor([3.0])}, {"w": torch.tensor([100.0])}]

    def score(state):  # best at w == 2
        return -abs(float(state["w"]) - 2.0)

    soup, kept, scores = greedy_soup(states, score)
    assert sorted(kept) == [0, 1] and float(soup["w"]) == pytest.approx(2.0)
    assert scores == [-1.0, -1.0, -98.0]


def test_soup_keeps_frozen_tensors_bit_exact():
    frozen = torch.randn(50, 7)
    states = [{"emb": frozen.clone(), "w": torch.tensor([0.1 * i])} for i in range(3)]
    soup, kept, _ = greedy_soup(states, lambda s: 0.0)  # ties keep every ingredient
    assert kept == [0, 1, 2] and torch.equal(soup["emb"], frozen)
    assert float(soup["w"]) == pytest.approx(0.1)


def test_config_rejects_bad_method_and_empty_seeds():
    with pytest.raises(ValidationError, match="method"):
        SentimentTrainConfig(method="adapterless")
    with pytest.raises(ValidationError, match="seeds"):
        SentimentTrainConfig(seeds=())
    with pytest.raises(ValidationError, match="extract_rank must be a positive integer, got 0"):
        SentimentTrainConfig(extract_rank=0)


@pytest.mark.data
@pytest.mark.parametrize("method", ["full", "lora"])
def test_train_smoke_on_a_tiny_model(shared_data, tiny_bert_dir, tmp_path, method):
    from llmos_quant.encoders.train import train_sentiment

    cfg = SentimentTrainConfig(method=method, epochs=1, seeds=(0, 1), limit=48, extract_rank=4, lora_r=2, lr=1e-3)
    metrics = train_sentiment(cfg, tmp_path, progress=False, base=tiny_bert_dir)
    assert metrics["test_50agree"]["n"] == 1212 and 0.0 <= metrics["test_50agree"]["accuracy"] <= 1.0
    assert metrics["soup_seeds"][0] in (0, 1) and len(metrics["history"]) == 2
    assert json.loads((tmp_path / "metrics.json").read_text())["train_config"]["method"] == method
    assert load_adapter(tmp_path, base=tiny_bert_dir) is not None


class _RecordingEncoder:
    """Scores every text neutral and records what it was asked to read."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def score(self, texts: list[str]):
        import pandas as pd

        self.seen.update(texts)
        n = len(texts)
        return pd.DataFrame({"label": ["neutral"] * n, "score": np.linspace(-1, 1, n)})


def test_evaluate_encoder_valid_only_reads_no_test_text(shared_data):
    from llmos_quant.data.datasets import phrasebank_split
    from llmos_quant.encoders.train import evaluate_encoder

    enc = _RecordingEncoder()
    out = evaluate_encoder(enc, valid_only=True)
    assert set(out) == {"valid"}
    assert {"weighted_f1", "counterfactual_accuracy", "weak_accuracy", "microblog_spearman"} <= set(out["valid"])
    split = phrasebank_split(seed=0)
    assert set(split.valid["text"]) <= enc.seen
    test_only = set(split.test["text"]) - set(split.valid["text"]) - set(split.train["text"])
    assert test_only and not (test_only & enc.seen)


def _selection_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "sentiment_selection.py"
    spec = importlib.util.spec_from_file_location("sentiment_selection", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sentiment_selection_rule_needs_all_four_conditions():
    decide = _selection_module().decide
    shipped = {"weighted_f1": 0.86, "microblog_spearman": 0.54, "weak_accuracy": 0.81, "counterfactual_accuracy": 0.93}
    better = {"weighted_f1": 0.85, "microblog_spearman": 0.58, "weak_accuracy": 0.95, "counterfactual_accuracy": 0.87}
    assert decide(shipped, better)["ships"]
    # each condition alone blocks it
    assert not decide(shipped, {**better, "microblog_spearman": 0.54})["ships"]  # 1: the mean is lower
    assert not decide(shipped, {**better, "weighted_f1": 0.83, "microblog_spearman": 0.60})["ships"]  # 2
    assert not decide(shipped, {**better, "weak_accuracy": 0.80})["ships"]  # 3
    assert not decide(shipped, {**better, "counterfactual_accuracy": 0.82})["ships"]  # 4: more than two more misses of 29
    assert decide(shipped, {**better, "counterfactual_accuracy": 0.93 - 2 / 29})["ships"]  # two more misses: allowed
    exact = {**shipped, "counterfactual_accuracy": 27 / 29}  # the boundary by miss counts, not float arithmetic
    assert decide(exact, {**better, "counterfactual_accuracy": 25 / 29})["ships"]
    assert not decide(exact, {**better, "counterfactual_accuracy": 24 / 29})["ships"]
