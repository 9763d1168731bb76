from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llmos_quant.llmos import (
    LLMOSConfig,
    LLMOSForContrastive,
    LLMOSForMaskedLM,
    LLMOSForSequenceClassification,
    LLMOSForTokenClassification,
    LLMOSModel,
    info_nce,
    load_any,
    mask_tokens,
)

TINY = dict(vocab_size=100, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
            max_position_embeddings=16, dropout=0.0)


def tiny(**kw) -> LLMOSConfig:
    return LLMOSConfig(**{**TINY, **kw})


def batch(b=3, t=7, vocab=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.long)
    mask[0, 5:] = 0
    ids[0, 5:] = 0
    return ids, mask


def test_config_validation_messages():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        LLMOSConfig(hidden_size=30, num_heads=4)
    with pytest.raises(ValueError, match="positive int"):
        LLMOSConfig(num_layers=0)
    with pytest.raises(ValueError, match="experts_top_k"):
        LLMOSConfig(num_experts=2, experts_top_k=3)
    with pytest.raises(ValueError, match="pooling"):
        LLMOSConfig(pooling="max")
    with pytest.raises(ValueError, match="dropout"):
        LLMOSConfig(dropout=1.5)
    with pytest.raises(ValueError, match="unknown LLMOSConfig fields"):
        LLMOSConfig.from_dict({"hidden_sise": 3})


def test_config_is_frozen_and_round_trips(tmp_path):
    cfg = tiny(labels=["a", "b"])
    with pytest.raises(AttributeError):
        cfg.hidden_size = 8  # type: ignore[misc]
    cfg.save(tmp_path)
    assert LLMOSConfig.load(tmp_path) == cfg


def test_shapes_of_every_head():
    ids, mask = batch()
    out = LLMOSModel(tiny())(ids, mask)
    assert out.last_hidden_state.shape == (3, 7, 32) and out.pooled.shape == (3, 32)
    assert LLMOSForMaskedLM(tiny())(ids, mask).logits.shape == (3, 7, 100)
    assert LLMOSForSequenceClassification(tiny())(ids, mask).logits.shape == (3, 3)
    tok = LLMOSForTokenClassification(tiny(token_labels=("O", "B-ORG", "I-ORG")))(ids, mask)
    assert tok.logits.shape == (3, 7, 3)
    emb = LLMOSForContrastive(tiny())(ids, mask).embeddings
    assert emb.shape == (3, 32) and torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_losses_present_only_with_labels():
    ids, mask = batch()
    m = LLMOSForSequenceClassification(tiny())
    assert m(ids, mask).loss is None
    out = m(ids, mask, labels=torch.tensor([0, 1, 2]))
    assert out.loss is not None and out.loss.ndim == 0
    expected = F.cross_entropy(out.logits, torch.tensor([0, 1, 2]))
    assert torch.allclose(out.loss, expected)


def test_padding_does_not_change_real_tokens():
    m = LLMOSModel(tiny()).eval()
    ids, _ = batch(b=1, t=5)
    short = m(ids).last_hidden_state
    padded_ids = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.tensor([[1] * 5 + [0] * 3])
    long = m(padded_ids, mask)
    assert torch.allclose(short, long.last_hidden_state[:, :5], atol=1e-5)
    assert torch.allclose(m(ids).pooled, long.pooled, atol=1e-5)


def test_bad_input_is_refused_clearly():
    m = LLMOSModel(tiny())
    with pytest.raises(ValueError, match="empty batch"):
        m(torch.zeros(0, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds max_position_embeddings=16"):
        m(torch.ones(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="2-D"):
        m(torch.ones(4, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        m(torch.ones(1, 4))
    with pytest.raises(ValueError, match="attention_mask shape"):
        m(torch.ones(1, 4, dtype=torch.long), torch.ones(1, 3))
    with pytest.raises(ValueError, match="token_labels"):
        LLMOSForTokenClassification(tiny())


def test_mask_tokens_statistics():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 1000, (200, 100), generator=g)
    mask = torch.ones_like(ids)
    mask[:, 90:] = 0
    ids[:, 0] = 2  # a special token ([CLS]) never masked
    masked, labels = mask_tokens(ids, mask, vocab_size=1000, mask_token_id=4, special_ids=(2,), prob=0.15,
                                 generator=torch.Generator().manual_seed(1))
    chosen = labels != -100
    eligible = mask.bool() & (ids != 2)
    assert not chosen[~eligible].any()
    rate = chosen.sum().item() / eligible.sum().item()
    assert abs(rate - 0.15) < 0.01
    assert torch.equal(labels[chosen], ids[chosen])
    as_mask = (masked[chosen] == 4).float().mean().item()
    kept = (masked[chosen] == ids[chosen]).float().mean().item()
    assert abs(as_mask - 0.8) < 0.02
    assert 0.08 < kept < 0.13  # 10% kept + random draws that hit the same id
    assert torch.equal(masked[~chosen], ids[~chosen])


def test_info_nce_matches_hand_computation():
    a = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=-1)
    p = F.normalize(torch.tensor([[1.0, 1.0], [0.0, 1.0]]), dim=-1)
    t = 0.5
    # row 0: sims (cos45, 0) / t ; row 1: sims (cos45, 1) / t
    c = 1 / math.sqrt(2)
    l0 = -math.log(math.exp(c / t) / (math.exp(c / t) + math.exp(0)))
    l1 = -math.log(math.exp(1 / t) / (math.exp(c / t) + math.exp(1 / t)))
    assert info_nce(a, p, t).item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="must both be"):
        info_nce(a, p[:1], t)


def test_contrastive_forward_combines_losses():
    ids, mask = batch()
    m = LLMOSForContrastive(tiny())
    labels = ids.clone()
    labels[:, 1:] = -100
    out = m(ids, mask, labels=labels, positive_ids=ids, positive_mask=mask)
    assert set(m.last_losses) == {"mlm", "infonce"}
    assert out.loss.item() == pytest.approx(m.last_losses["mlm"] + m.last_losses["infonce"], rel=1e-5)


def test_moe_routing_and_balance_loss():
    cfg = tiny(num_experts=4, experts_top_k=2)
    m = LLMOSModel(cfg)
    ids, mask = batch(b=4, t=8)
    out = m(ids, mask)
    assert out.aux_loss is not None and out.aux_loss.item() > 0
    moe = m.layers[0].ffn
    assert moe.last_expert_index.shape == (32, 2)
    # top-k experts of each token are distinct and all experts exist
    idx = moe.last_expert_index
    assert (idx[:, 0] != idx[:, 1]).all() and idx.min() >= 0 and idx.max() < 4
    # With a uniform router the balance term equals its minimum 1 (E * sum 1/E * 1/E * E... = 1).
    with torch.no_grad():
        for layer in m.layers:
            layer.ffn.router.weight.zero_()
    out = m(ids, mask)
    assert out.aux_loss.item() == pytest.approx(cfg.moe_aux_loss_coef * 1.0, rel=1e-5)
    # gradient reaches every layer's router through the balance loss alone
    torch.manual_seed(0)
    m = LLMOSModel(cfg)
    m.zero_grad()
    m(ids, mask).aux_loss.backward()
    for layer in m.layers:
        g = layer.ffn.router.weight.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
    # and through the full masked-LM loss (cross-entropy + balance term) of a head model
    mlm = LLMOSForMaskedLM(cfg)
    mlm.zero_grad()
    out = mlm(ids, mask, labels=ids)
    assert torch.isfinite(out.loss) and out.aux_loss is not None and out.loss > out.aux_loss
    out.loss.backward()
    for layer in mlm.encoder.layers:
        g = layer.ffn.router.weight.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_moe_output_matches_dense_computation_of_chosen_experts():
    cfg = tiny(num_experts=3, experts_top_k=1)
    moe = LLMOSModel(cfg).layers[0].ffn
    x = torch.randn(2, 4, 32)
    y, _ = moe(x, torch.ones(2, 4, dtype=torch.bool))
    flat = x.reshape(-1, 32)
    choice = moe.router(flat).argmax(-1)
    expected = torch.stack([moe.experts[int(e)](flat[i]) for i, e in enumerate(choice)])
    assert torch.allclose(y.reshape(-1, 32), expected, atol=1e-5)


@pytest.mark.parametrize("cls", [LLMOSForSequenceClassification, LLMOSForMaskedLM, LLMOSModel])
def test_save_load_round_trip_gives_identical_logits(tmp_path, cls):
    torch.manual_seed(0)
    m = cls(tiny(num_experts=2, experts_top_k=1)).eval()
    ids, mask = batch()
    before = m(ids, mask)
    m.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors"}
    loaded = load_any(tmp_path)
    assert type(loaded) is cls
    after = loaded(ids, mask)
    a = before.logits if before.logits is not None else before.last_hidden_state
    b = after.logits if after.logits is not None else after.last_hidden_state
    assert torch.equal(a, b)


def test_head_model_loads_from_body_checkpoint(tmp_path):
    body = LLMOSModel(tiny())
    body.save_pretrained(tmp_path)
    clf = LLMOSForSequenceClassification.from_pretrained(tmp_path)
    assert torch.equal(clf.encoder.word_embeddings.weight, body.word_embeddings.weight)


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        LLMOSModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ValueError, match="expected 'llmos'"):
        LLMOSModel.from_pretrained(tmp_path)


def test_mlm_loss_decreases_on_tiny_corpus():
    torch.manual_seed(0)
    cfg = tiny(vocab_size=30)
    m = LLMOSForMaskedLM(cfg)
    # a repetitive "language": the token after k is k+1
    seqs = torch.stack([torch.arange(s, s + 12) % 25 + 5 for s in range(16)])
    mask = torch.ones_like(seqs)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(150):
        masked, labels = mask_tokens(seqs, mask, 30, 4, (), 0.15, g)
        loss = m(masked, mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:10]) / 10


def test_word_case_classes_and_their_sub_token_spread():
    from transformers import AutoTokenizer

    from llmos_quant.llmos.convert import minilm_path
    from llmos_quant.llmos.model import case_ids, word_case

    assert [word_case(w) for w in ["$12", "loan", "Apria", "A", "SILICIUM", "JPMorgan", "eBay", "U.S."]] == [
        0, 1, 2, 2, 3, 4, 4, 3]
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    words = ["SILICIUM", "de", "Provence", "SAS"]
    enc = tok(words, is_split_into_words=True)
    cases = case_ids(words, enc.word_ids())
    assert len(cases) == len(enc["input_ids"]) and cases[0] == 0 and cases[-1] == 0  # [CLS], [SEP]
    assert [cases[i] for i, w in enumerate(enc.word_ids()) if w == 0] == [3] * enc.word_ids().count(0)
    assert {cases[i] for i, w in enumerate(enc.word_ids()) if w == 2} == {2}


def test_case_embeddings_start_at_zero_and_are_required_once_configured():
    import pytest

    from llmos_quant.llmos.config import LLMOSConfig
    from llmos_quant.llmos.model import LLMOSForTokenClassification

    cfg = LLMOSConfig(vocab_size=100, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                      max_position_embeddings=32, token_labels=("O", "B-ORG", "I-ORG"), dropout=0.0)
    torch.manual_seed(0)
    plain = LLMOSForTokenClassification(cfg).eval()
    cased = LLMOSForTokenClassification(cfg.replace(case_vocab_size=5)).eval()
    missing, unexpected = cased.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["encoder.case_embeddings.weight"] and not unexpected
    ids = torch.randint(1, 100, (2, 7))
    case = torch.randint(0, 5, (2, 7))
    with torch.no_grad():
        assert torch.equal(cased(ids, case_ids=case).logits, plain(ids).logits)  # a fresh table changes nothing
        cased.encoder.case_embeddings.weight[3] = 1.0
        assert not torch.allclose(cased(ids, case_ids=torch.full_like(ids, 3)).logits, plain(ids).logits)
    with pytest.raises(ValueError, match="pass case_ids"):
        cased(ids)
    with pytest.raises(ValueError, match="case_vocab_size must be 0"):
        cfg.replace(case_vocab_size=3)
