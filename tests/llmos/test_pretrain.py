from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.llmos import LLMOSForContrastive
from llmos_quant.llmos.pretrain import PretrainConfig, default_corpus, pretrain
from llmos_quant.llmos.tokenizer import train_wordpiece


def test_wordpiece_tokenizer_has_bert_specials():
    tok = train_wordpiece(["Shares of Acme rose 5 pct", "Acme profit fell"] * 20, vocab_size=200)
    assert tok.pad_token_id == 0 and tok.mask_token_id is not None
    enc = tok("acme shares rose")
    assert enc["input_ids"][0] == tok.cls_token_id and enc["input_ids"][-1] == tok.sep_token_id
    with pytest.raises(ValueError, match="too small"):
        train_wordpiece(["a"], vocab_size=10)


def test_pretrain_runs_and_saves(tmp_path, market):
    heads = market.news["headline"]
    corpus = pd.DataFrame({"anchor": heads, "positive": heads})
    cfg = PretrainConfig(steps=12, batch_size=8, max_length=24, vocab_size=300, hidden_size=32, num_layers=1,
                         num_heads=2, intermediate_size=64, num_experts=2)
    result = pretrain(corpus, cfg, tmp_path, progress=False)
    assert result["tokens_per_second"] > 0 and len(result["history"]) == 12
    assert {"mlm", "infonce"} <= set(result["history"][0])
    model = LLMOSForContrastive.from_pretrained(tmp_path)
    assert model.config.num_experts == 2
    assert (tmp_path / "tokenizer.json").is_file()
    with pytest.raises(ValueError, match="anchor"):
        pretrain(pd.DataFrame({"x": [1]}), cfg)


@pytest.mark.data
def test_default_corpus_reads_reuters_and_phrasebank(shared_data):
    corpus = default_corpus(limit=500)
    assert len(corpus) == 500 and corpus["anchor"].str.len().min() > 0
