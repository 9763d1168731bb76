from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from llmos_quant.errors import ModelLoadError
from llmos_quant.llmos.convert import export_hf_bert, from_hf_bert, minilm_path

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
