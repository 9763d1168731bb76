"""The shared training loop and batched predictor (llmos_quant.llmos.fit).

The loop replaced four hand-written loops; the "same results on CPU as before" checks run a verbatim copy of the
old sentiment and pretraining loops next to the new code on tiny models and compare every loss and weight.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from llmos_quant.errors import UsageError
from llmos_quant.llmos import LLMOSConfig, LLMOSForSequenceClassification
from llmos_quant.llmos.fit import BatchedPredictor, fit, pad_batch, pick_device, warmup_schedule

TEXTS = [
    "Acme Corp net profit rose 12% to EUR 4.1 million",
    "Operating loss widened",
    "The company will publish its interim report on Tuesday",
    "Shares fell sharply after the profit warning, the steepest drop in a decade for the group",
    "Sales up",
    "Debt increased to $4 billion as the acquisition closed",
    "The board proposes a dividend of EUR 0.20 per share",
    "Analysts downgraded the stock to sell",
    "Revenue was flat",
    "It opened a new office in Helsinki",
    "Margins were squeezed by rising costs in the third quarter",
    "The buyback programme was extended",
] * 3


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from llmos_quant.llmos.convert import minilm_path

    return AutoTokenizer.from_pretrained(str(minilm_path()))


def tiny_classifier(seed: int = 0) -> LLMOSForSequenceClassification:
    torch.manual_seed(seed)
    cfg = LLMOSConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, max_position_embeddings=128)
    return LLMOSForSequenceClassification(cfg)


# ---- the loop reproduces the loops it replaced -------------------------------------------------------------------

def _old_sentiment_loop(model, tokenizer, cfg, seed, texts, targets):
    """Verbatim copy of the sentiment loop before the shared ``fit`` (validation left out): returns step losses."""
    from llmos_quant.encoders.train import _param_groups, length_bucketed_batches

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(_param_groups(model, cfg))
    weights = torch.ones(len(texts))
    lengths = np.array([len(t) for t in texts])
    steps_per_epoch = math.ceil(len(texts) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    warmup = max(1, int(cfg.warmup_fraction * total_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(cfg.epochs):
        model.train()
        for idx in length_bucketed_batches(lengths, cfg.batch_size, rng):
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=cfg.max_length, return_tensors="pt")
            logits = model(enc["input_ids"], enc["attention_mask"]).logits
            per_text = -(targets[idx] * F.log_softmax(logits, -1)).sum(-1)
            w = weights[idx]
            loss = (per_text * w).sum() / w.sum().clamp_min(1e-8)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
    return losses


def test_sentiment_training_gives_the_same_losses_and_weights_as_the_old_loop(tokenizer):
    from llmos_quant.encoders.train import SentimentTrainConfig, fit_soft_targets, soft_targets

    cfg = SentimentTrainConfig(epochs=2, batch_size=5, max_length=32, device="cpu", seeds=(0,))
    labels = np.arange(len(TEXTS)) % 3
    targets = soft_targets(labels, np.full(len(TEXTS), 0.1, dtype=np.float32), 3)
    valid = pd.DataFrame({"text": TEXTS[:6], "label": [["negative", "neutral", "positive"][i] for i in labels[:6]]})

    old = tiny_classifier()
    old_losses = _old_sentiment_loop(old, tokenizer, cfg, 0, TEXTS, targets)
    new = tiny_classifier()
    _, best, history = fit_soft_targets(new, tokenizer, cfg, 0, TEXTS, targets, valid, progress=False, device="cpu")

    steps = math.ceil(len(TEXTS) / cfg.batch_size)
    assert len(old_losses) == 2 * steps
    new_epoch_means = [h["train_loss"] for h in history]
    old_epoch_means = [float(np.mean(old_losses[i * steps:(i + 1) * steps])) for i in range(2)]
    assert new_epoch_means == old_epoch_means  # bit for bit
    assert old_losses[-1] < old_losses[0]
    for (name, a), (_, b) in zip(old.state_dict().items(), new.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert {"valid_accuracy", "valid_weighted_f1"} <= set(history[0]) and best["epoch"] in (1, 2)


def _old_pretrain_loop(corpus, cfg, tokenizer):
    """Copy of the pretraining loop before the shared ``fit`` (given the tokenizer: the WordPiece trainer is not
    deterministic, huggingface/tokenizers#1794): returns (history, model)."""
    from llmos_quant.llmos.model import LLMOSForContrastive, mask_tokens

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    mconf = LLMOSConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, num_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size, max_position_embeddings=max(cfg.max_length, 128),
        num_experts=cfg.num_experts, pad_token_id=tokenizer.pad_token_id, pooling="mean",
    )
    model = LLMOSForContrastive(mconf)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    warmup = max(1, cfg.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    special = tuple(tokenizer.all_special_ids)
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    model.train()
    for step in range(cfg.steps):
        idx = rng.integers(0, len(corpus), cfg.batch_size)
        a = tokenizer(corpus["anchor"].iloc[idx].tolist(), padding=True, truncation=True,
                      max_length=cfg.max_length, return_tensors="pt")
        p = tokenizer(corpus["positive"].iloc[idx].tolist(), padding=True, truncation=True,
                      max_length=cfg.max_length, return_tensors="pt")
        masked, labels = mask_tokens(a["input_ids"], a["attention_mask"], len(tokenizer), tokenizer.mask_token_id,
                                     special, cfg.mlm_probability, gen)
        out = model(masked, a["attention_mask"], labels=labels, positive_ids=p["input_ids"],
                    positive_mask=p["attention_mask"])
        parts = model.last_losses
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        history.append({"step": step + 1, "loss": float(out.loss.detach()), **parts})
    return history, model


def test_pretraining_gives_the_same_losses_and_weights_as_the_old_loop(tmp_path, market):
    from llmos_quant.llmos import LLMOSForContrastive
    from llmos_quant.llmos.pretrain import PretrainConfig, pretrain

    heads = market.news["headline"]
    corpus = pd.DataFrame({"anchor": heads, "positive": heads})
    cfg = PretrainConfig(steps=10, batch_size=8, max_length=24, vocab_size=300, hidden_size=32, num_layers=1,
                         num_heads=2, intermediate_size=64, num_experts=2, device="cpu")
    from llmos_quant.llmos.tokenizer import train_wordpiece

    tokenizer = train_wordpiece(pd.concat([corpus["anchor"], corpus["positive"]]).tolist(), cfg.vocab_size)
    old_history, old_model = _old_pretrain_loop(corpus, cfg, tokenizer)
    result = pretrain(corpus, cfg, tmp_path, progress=False, tokenizer=tokenizer)
    assert result["history"] == old_history  # every step's loss and its MLM / InfoNCE / balance parts
    assert result["device"] == "cpu"
    new_model = LLMOSForContrastive.from_pretrained(tmp_path)
    for name, tensor in old_model.state_dict().items():
        assert torch.equal(tensor, new_model.state_dict()[name]), name


# ---- the loop itself ---------------------------------------------------------------------------------------------

def test_fit_runs_epochs_calls_back_and_lowers_the_loss(tokenizer):
    model = tiny_classifier()
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    labels = torch.arange(len(TEXTS)) % 3
    seen = []

    def batches(epoch):
        for s in range(0, len(TEXTS), 12):
            yield {"ids": enc["input_ids"][s:s + 12], "mask": enc["attention_mask"][s:s + 12], "y": labels[s:s + 12]}

    result = fit(model, [{"params": list(model.parameters()), "lr": 3e-3}], batches,
                 lambda m, b: m(b["ids"], b["mask"], labels=b["y"]).loss, epochs=6, steps_per_epoch=3,
                 on_epoch_end=lambda e, loss: seen.append((e, loss)) or {"seen": e}, device="cpu")
    assert result.steps == 18 and [h["epoch"] for h in result.history] == list(range(1, 7))
    assert [e for e, _ in seen] == list(range(1, 7)) and result.history[2]["seen"] == 3
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.device == "cpu"
    with pytest.raises(UsageError, match="epochs >= 1"):
        fit(model, [{"params": list(model.parameters())}], batches, lambda m, b: b, epochs=0, steps_per_epoch=1)
    for bad in (0.0, -1e-4, float("nan"), float("inf")):  # refused before a step, naming the group
        with pytest.raises(UsageError, match=r"learning rate > 0 .* in group 1"):
            fit(model, [{"params": [], "lr": 1e-3}, {"params": list(model.parameters()), "lr": bad}], batches,
                lambda m, b: b, epochs=1, steps_per_epoch=1)


def test_schedule_warms_up_then_decays_or_stays():
    def lrs(decay):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = warmup_schedule(opt, total_steps=20, warmup_fraction=0.2, decay=decay)
        out = []
        for _ in range(20):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    linear, constant = lrs("linear"), lrs("constant")
    # the shipped recipe's formula: warm-up factor x linear decay from the start, (20 - s) / (20 - 4)
    assert linear == pytest.approx([min(1.0, (s + 1) / 4) * (20 - s) / 16 for s in range(20)])
    assert constant[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0]) and constant[4:] == [1.0] * 16
    assert linear[-1] == pytest.approx(1 / 16)
    assert all(a >= b for a, b in zip(linear[3:], linear[4:], strict=False))
    with pytest.raises(UsageError, match="decay"):
        warmup_schedule(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), 10, decay="cosine")


def test_pick_device_names_the_fix():
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(UsageError, match="not a torch device"):
        pick_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA GPU"):
            pick_device("cuda")


# ---- the predictor -----------------------------------------------------------------------------------------------

def _one_by_one(model, tokenizer, texts):
    out = []
    with torch.inference_mode():
        for t in texts:
            enc = tokenizer([t], return_tensors="pt", truncation=True, max_length=128)
            out.append(torch.softmax(model(enc["input_ids"], enc["attention_mask"]).logits, -1)[0].numpy())
    return np.stack(out)


def test_predictor_matches_unbatched_scoring_in_input_order(tokenizer):
    model = tiny_classifier().eval()
    reference = _one_by_one(model, tokenizer, TEXTS)
    plain = BatchedPredictor(model, tokenizer, device="cpu", batch_size=5)
    got = plain.run(TEXTS)
    np.testing.assert_allclose(got, reference, atol=1e-5)
    threaded = BatchedPredictor(model, tokenizer, device="cpu", batch_size=5, chunk_size=7, prefetch=True)
    np.testing.assert_allclose(threaded.run(TEXTS), reference, atol=1e-5)
    assert plain.stats["tokenize_s"] > 0 and plain.stats["texts_per_s"] > 0


def test_token_budget_plans_batches_within_the_budget(tokenizer):
    model = tiny_classifier().eval()
    predictor = BatchedPredictor(model, tokenizer, device="cpu", token_budget=64)
    lengths = np.array([len(x) for x in predictor.encode(TEXTS)])
    plan = predictor.plan(lengths)
    assert sorted(np.concatenate(plan).tolist()) == list(range(len(TEXTS)))
    assert all(len(b) * lengths[b].max() <= 64 or len(b) == 1 for b in plan)
    assert len(plan) < len(TEXTS)  # short texts share batches
    np.testing.assert_allclose(predictor.run(TEXTS), _one_by_one(model, tokenizer, TEXTS), atol=1e-5)


def test_ragged_outputs_and_errors(tokenizer):
    from llmos_quant.llmos.model import LLMOSForTokenClassification

    torch.manual_seed(0)
    model = LLMOSForTokenClassification(LLMOSConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                                                    token_labels=("O", "B-ORG", "I-ORG"))).eval()
    predictor = BatchedPredictor(model, tokenizer, device="cpu", batch_size=4, prefetch=True, chunk_size=5)
    ids = tokenizer(TEXTS[:9], truncation=True)["input_ids"]
    lengths = [len(x) for x in ids]
    rows = predictor.run(ids=ids, reduce=lambda z: z.argmax(-1), ragged=True)
    assert [len(r) for r in rows] == lengths and all(set(r.tolist()) <= {0, 1, 2} for r in rows)
    with torch.inference_mode():
        enc = tokenizer(TEXTS[3:4], return_tensors="pt")
        assert rows[3].tolist() == model(enc["input_ids"], enc["attention_mask"]).logits.argmax(-1)[0].tolist()
    with pytest.raises(UsageError, match="texts or ids"):
        predictor.run(TEXTS, ids=ids)
    with pytest.raises(ValueError, match="text input"):  # a tokenizer error in the background thread reaches us
        predictor.run([1, 2, 3])  # type: ignore[list-item]
    ids_t, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids_t.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_case_ids_reach_a_cased_model_in_every_batch_order(tokenizer):
    from llmos_quant.llmos.model import LLMOSForTokenClassification, case_ids

    torch.manual_seed(0)
    model = LLMOSForTokenClassification(LLMOSConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                                                    token_labels=("O", "B-ORG", "I-ORG"), case_vocab_size=5)).eval()
    torch.nn.init.normal_(model.encoder.case_embeddings.weight)  # a trained table: case changes the output
    words = [t.split() for t in TEXTS[:9]] + [t.upper().split() for t in TEXTS[:3]]
    enc = tokenizer(words, is_split_into_words=True, truncation=True)
    ids = enc["input_ids"]
    cases = [case_ids(w, enc.word_ids(k)) for k, w in enumerate(words)]
    predictor = BatchedPredictor(model, tokenizer, device="cpu", batch_size=4, prefetch=True, chunk_size=5)
    rows = predictor.run(ids=ids, case_ids=cases, reduce=lambda z: z.float(), ragged=True)
    with torch.inference_mode():
        for k in (0, 4, 10):
            direct = model(torch.tensor([ids[k]]), case_ids=torch.tensor([cases[k]])).logits[0]
            np.testing.assert_allclose(rows[k], direct.numpy(), atol=1e-5)
    with pytest.raises(UsageError, match="case_ids needs ids"):
        predictor.run(ids=ids, case_ids=cases[:-1])


# ---- on a GPU ----------------------------------------------------------------------------------------------------

@pytest.mark.gpu
def test_gpu_scoring_in_bf16_agrees_with_the_cpu(tokenizer):
    from llmos_quant.encoders.sentiment import SentimentEncoder

    texts = TEXTS * 20
    cpu = SentimentEncoder.create("llmos", device="cpu", progress=False).score(texts)
    gpu_enc = SentimentEncoder.create("llmos", device="cuda", progress=False)
    gpu = gpu_enc.score(texts)
    assert (cpu["label"] == gpu["label"]).mean() >= 0.98
    assert np.abs(cpu["score"] - gpu["score"]).max() < 0.05
    assert gpu_enc.backend.predictor.prefetch and gpu_enc.backend.predictor.token_budget


@pytest.mark.gpu
def test_fit_on_cuda_with_bf16_autocast_lowers_the_loss(tokenizer):
    model = tiny_classifier()
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    labels = torch.arange(len(TEXTS)) % 3
    result = fit(model, [{"params": list(model.parameters()), "lr": 3e-3}],
                 lambda e: [{"ids": enc["input_ids"], "mask": enc["attention_mask"], "y": labels}],
                 lambda m, b: m(b["ids"], b["mask"], labels=b["y"]).loss, epochs=10, steps_per_epoch=1,
                 device="cuda")
    assert result.device.startswith("cuda") and result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert next(model.parameters()).dtype == torch.float32  # autocast: weights stay fp32
