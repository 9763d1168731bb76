from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmos_quant.encoders.sentiment import DEFAULT_ADAPTER, LABELS, SentimentEncoder, TransformerBackend
from llmos_quant.errors import ModelLoadError, UsageError

COLUMNS = ["p_negative", "p_neutral", "p_positive", "score", "label", "valid"]


class FixedBackend:
    """Probabilities that depend on the text only, to check bookkeeping."""

    name = "fixed"

    def __init__(self):
        self.calls: list[list[str]] = []

    def predict_proba(self, texts):
        self.calls.append(list(texts))
        return np.array([[0.7, 0.2, 0.1] if "down" in t else [0.1, 0.2, 0.7] for t in texts], dtype=np.float32)


def test_output_shape_order_index_and_bad_values():
    enc = SentimentEncoder(FixedBackend())
    s = pd.Series(["shares down", None, "  ", np.nan, "shares up", ""], index=list("abcdef"))
    out = enc.score(s)
    assert list(out.columns) == COLUMNS
    assert list(out.index) == list("abcdef")
    assert out["valid"].tolist() == [True, False, False, False, True, False]
    bad = out[~out["valid"]]
    assert (bad["p_neutral"] == 1).all() and (bad["score"] == 0).all() and (bad["label"] == "neutral").all()
    assert out.loc["a", "label"] == "negative" and out.loc["e", "label"] == "positive"
    assert out.loc["a", "score"] == pytest.approx(0.1 - 0.7)
    assert enc.backend.calls == [["shares down", "shares up"]]  # only clean texts reach the model


def test_non_string_input_raises_type_error_with_position():
    enc = SentimentEncoder(FixedBackend())
    with pytest.raises(TypeError, match="position 1 is int"):
        enc.score(["ok", 5])
    with pytest.raises(TypeError, match="single str"):
        enc.score("just one text")
    with pytest.raises(TypeError, match="DataFrame"):
        enc.score(pd.DataFrame({"a": ["x"]}))


def test_all_invalid_and_empty_inputs():
    enc = SentimentEncoder(FixedBackend())
    assert len(enc.score([])) == 0
    out = enc.score([None, ""])
    assert len(out) == 2 and not out["valid"].any()


def test_hf_backend_reads_label_order_from_config(tiny_bert_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    enc = SentimentEncoder.from_hf(tiny_bert_dir, progress=False, batch_size=2)
    texts = ["Profit rose sharply", "Shares fell", "The meeting is in May", "ok", "x" * 3000]
    out = enc.score(texts)
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    import torch

    with torch.no_grad():
        probs = torch.softmax(model(**tok(texts[:4], padding=True, return_tensors="pt")).logits, -1).numpy()
    # config order is (positive, negative, neutral) -> ours is (negative, neutral, positive)
    assert np.allclose(out[["p_negative", "p_neutral", "p_positive"]].to_numpy()[:4], probs[:, [1, 2, 0]], atol=1e-5)
    assert out["valid"].all() and len(out) == 5  # very long text truncated, not dropped


def test_batching_and_sorting_do_not_change_results(tiny_bert_dir):
    texts = [f"headline number {i} " + "word " * (i % 7) for i in range(23)]
    a = SentimentEncoder.from_hf(tiny_bert_dir, progress=False, batch_size=1).score(texts)
    b = SentimentEncoder.from_hf(tiny_bert_dir, progress=False, batch_size=8).score(texts)
    assert np.allclose(a["p_positive"], b["p_positive"], atol=1e-5)


def test_quantized_backend_runs(tiny_bert_dir):
    enc = SentimentEncoder.from_hf(tiny_bert_dir, progress=False, quantize=True)
    assert len(enc.score(["Shares fell"])) == 1


def test_backend_switching_and_errors():
    lm = SentimentEncoder.create("lm")
    out = lm.score(["The company reported a loss and a decline in sales", "Strong gains and record profit",
                    "The meeting is on Tuesday"])
    assert out["label"].tolist() == ["negative", "positive", "neutral"]
    vader = SentimentEncoder.create("vader")
    v = vader.score(["great excellent results", "terrible awful loss", "the meeting is on tuesday"])
    assert v["label"].tolist() == ["positive", "negative", "neutral"]
    with pytest.raises(UsageError, match="unknown sentiment backend"):
        SentimentEncoder.create("gpt")
    with pytest.raises(UsageError, match="needs a model folder"):
        SentimentEncoder.create("hf")


def test_bad_label_order_rejected(tiny_bert_dir):
    class Dummy:
        pad_token_id = 0

    with pytest.raises(ModelLoadError, match="permutation"):
        TransformerBackend(__import__("torch").nn.Linear(2, 2), Dummy(), ["pos", "neg", "neu"], name="x")


def test_shipped_adapter_loads_and_scores_without_shared_data(monkeypatch):
    monkeypatch.setenv("LLMOS_QUANT_SHARED_DATA", "/nonexistent")
    assert DEFAULT_ADAPTER.is_dir(), "the trained adapter must be committed"
    size = sum(p.stat().st_size for p in DEFAULT_ADAPTER.iterdir())
    assert size <= 10 * 1024 * 1024
    enc = SentimentEncoder.create("llmos", progress=False)
    out = enc.score(["Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007",
                     "The company's net sales fell by 35 % and it swung to a loss",
                     "The annual general meeting will be held in Helsinki on 15 April"])
    assert out["label"].tolist() == ["positive", "negative", "neutral"]
    assert enc.weights_hash and len(enc.weights_hash) == 16
    assert set(out["label"]) <= set(LABELS)


def test_adapter_round_trip(tmp_path):
    import torch

    from llmos_quant.encoders.adapter import attach_lora, load_adapter, save_adapter
    from llmos_quant.llmos.convert import from_hf_bert, minilm_path

    torch.manual_seed(0)
    model = from_hf_bert(minilm_path(), head="cls")
    lora = attach_lora(model, r=2, alpha=4)
    with torch.no_grad():  # make the adapter non-trivial
        for name, p in model.named_parameters():
            if "lora_B" in name or "classifier" in name:
                p.normal_(0, 0.02)
    model.eval()
    ids = torch.tensor([[101, 2000, 2001, 102]])
    before = model(ids).logits
    save_adapter(model, lora, model.config, tmp_path)
    loaded = load_adapter(tmp_path)
    assert torch.allclose(loaded(ids).logits, before, atol=1e-5)
    with pytest.raises(ModelLoadError, match="not an adapter folder"):
        load_adapter(tmp_path / "nope")
