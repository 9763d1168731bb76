"""LLMOS: a BERT-style transformer encoder with optional sparse mixture-of-experts FFN.

Shapes use B = batch, T = sequence length, C = hidden size, H = heads, D = head dim, E = experts.
Every model class here has ``forward(..., labels=None)`` returning an output dataclass whose
``loss`` is set when labels are given, and ``save_pretrained`` / ``from_pretrained`` that write and
read ``config.json`` + ``model.safetensors`` (+ tokenizer files). Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .config import LLMOSConfig

M = TypeVar("M", bound="LLMOSPreTrained")


@dataclass
class LLMOSOutput:
    """What every LLMOS forward returns; unused fields stay ``None``."""

    last_hidden_state: Tensor  # (B, T, C)
    pooled: Tensor  # (B, C) sentence embedding (mean / cls / pooler, per config)
    loss: Tensor | None = None
    logits: Tensor | None = None  # (B, T, V) for MLM, (B, L) for classification, (B, T, L) for tokens
    aux_loss: Tensor | None = None  # MoE load-balancing loss (already scaled by moe_aux_loss_coef)
    embeddings: Tensor | None = None  # (B, C) L2-normalised, contrastive head only


class SelfAttention(nn.Module):
    def __init__(self, cfg: LLMOSConfig) -> None:
        super().__init__()
        self.num_heads, self.head_dim = cfg.num_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.k_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.v_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.o_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.dropout = cfg.dropout

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        """key_mask: (B, 1, 1, T) bool (True = attend), or a float mask (B|1, H|1, T, T) added to the scores
        (the relative position bias with -inf at padded keys)."""
        B, T, C = x.shape
        # (B, T, C) -> (B, H, T, D)
        q, k, v = (
            proj(x).view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
            for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=key_mask, dropout_p=self.dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.o_proj(y)


class FeedForward(nn.Module):
    def __init__(self, cfg: LLMOSConfig) -> None:
        super().__init__()
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size)

    def forward(self, x: Tensor) -> Tensor:  # (..., C) -> (..., C)
        return self.down_proj(F.gelu(self.up_proj(x)))


class MoEFeedForward(nn.Module):
    """Sparse top-k mixture of experts with the Switch-Transformer load-balancing loss."""

    def __init__(self, cfg: LLMOSConfig) -> None:
        super().__init__()
        self.top_k = cfg.experts_top_k
        self.num_experts = cfg.num_experts
        self.router = nn.Linear(cfg.hidden_size, cfg.num_experts, bias=False)
        self.experts = nn.ModuleList(FeedForward(cfg) for _ in range(cfg.num_experts))
        self.last_router_probs: Tensor | None = None
        self.last_expert_index: Tensor | None = None

    def forward(self, x: Tensor, token_mask: Tensor) -> tuple[Tensor, Tensor]:
        B, T, C = x.shape
        flat = x.reshape(-1, C)  # (N, C), N = B*T
        keep = token_mask.reshape(-1)  # (N,) True for real tokens
        probs = F.softmax(self.router(flat), dim=-1)  # (N, E)
        weights, index = probs.topk(self.top_k, dim=-1)  # (N, k)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            rows, slot = (index == e).nonzero(as_tuple=True)
            if rows.numel():
                out.index_add_(0, rows, expert(flat[rows]) * weights[rows, slot, None])
        # Load balance over real tokens: E * sum_e (fraction routed to e) * (mean prob of e).
        real_probs, real_index = probs[keep], index[keep]
        if real_probs.shape[0] == 0:
            aux = probs.sum() * 0.0
        else:
            routed = F.one_hot(real_index, self.num_experts).float().sum(dim=1)  # (n, E)
            fraction = routed.mean(dim=0) / self.top_k  # (E,) sums to 1
            aux = self.num_experts * torch.sum(fraction * real_probs.mean(dim=0))
        self.last_router_probs, self.last_expert_index = probs.detach(), index.detach()
        return out.view(B, T, C), aux


class Block(nn.Module):
    """Post-LayerNorm transformer layer (as BERT): x = LN(x + attn(x)); x = LN(x + ffn(x))."""

    def __init__(self, cfg: LLMOSConfig) -> None:
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.attn_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.ffn: nn.Module = MoEFeedForward(cfg) if cfg.num_experts else FeedForward(cfg)
        self.ffn_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, key_mask: Tensor, token_mask: Tensor) -> tuple[Tensor, Tensor | None]:
        x = self.attn_norm(x + self.drop(self.attn(x, key_mask)))
        aux = None
        if isinstance(self.ffn, MoEFeedForward):
            h, aux = self.ffn(x, token_mask)
        else:
            h = self.ffn(x)
        x = self.ffn_norm(x + self.drop(h))
        return x, aux


class LLMOSPreTrained(nn.Module):
    """Save/load in the Hugging Face layout: config.json + model.safetensors (+ tokenizer files)."""

    tied_keys: tuple[str, ...] = ()

    def __init__(self, config: LLMOSConfig) -> None:
        super().__init__()
        self.config = config

    def init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def save_pretrained(self, directory: str | Path, tokenizer: Any = None) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.replace(architecture=type(self).__name__).save(out)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items() if k not in self.tied_keys}
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt", "producer": "llmos_quant"})
        if tokenizer is not None:
            tokenizer.save_pretrained(str(out))
        return out

    @classmethod
    def from_pretrained(cls: type[M], directory: str | Path, **overrides: Any) -> M:
        folder = Path(directory)
        config = LLMOSConfig.load(folder)
        if overrides:
            config = config.replace(**overrides)
        model = cls(config)
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(f"no model.safetensors in {folder}; expected a folder written by save_pretrained()")
        state = _align_prefix(load_file(str(weights)), has_encoder=hasattr(model, "encoder"))
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if k not in cls.tied_keys]
        # A new head on a pretrained body is allowed (fine-tuning); a missing body weight is not.
        body_missing = [k for k in missing if k.startswith("encoder.") or not hasattr(model, "encoder")]
        if body_missing or (unexpected and not _only_head_keys(unexpected)):
            raise ValueError(
                f"{weights} does not match {cls.__name__}: missing {body_missing[:5]}, unexpected {unexpected[:5]}"
            )
        model.eval()
        return model

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _align_prefix(state: dict[str, Tensor], has_encoder: bool) -> dict[str, Tensor]:
    """Let a bare-body checkpoint load into a head model and a head checkpoint into the bare body."""
    prefixed = any(k.startswith("encoder.") for k in state)
    if has_encoder and not prefixed:
        return {f"encoder.{k}": v for k, v in state.items()}
    if not has_encoder and prefixed:
        return {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    return state


def _only_head_keys(keys: list[str]) -> bool:
    return all(not k.startswith("encoder.") for k in keys)


class LLMOSModel(LLMOSPreTrained):
    """The encoder body: embeddings -> N blocks -> hidden states and a pooled sentence vector."""

    def __init__(self, config: LLMOSConfig) -> None:
        super().__init__(config)
        c = config
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.case_embeddings = nn.Embedding(c.case_vocab_size, c.hidden_size) if c.case_vocab_size else None
        self.embed_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.drop = nn.Dropout(c.dropout)
        self.layers = nn.ModuleList(Block(c) for _ in range(c.num_layers))
        # MPNet's relative position bias: (buckets, H), one table for all layers.
        self.relative_attention_bias = (
            nn.Embedding(c.relative_attention_num_buckets, c.num_heads) if c.relative_attention_num_buckets else None
        )
        self.pooler = nn.Linear(c.hidden_size, c.hidden_size) if c.pooling == "pooler" else None
        self.init_weights()
        if self.case_embeddings is not None:  # zeros: a fresh case table leaves the pretrained encoder unchanged
            nn.init.zeros_(self.case_embeddings.weight)

    def forward(
        self,
        input_ids: Tensor,  # (B, T) int64
        attention_mask: Tensor | None = None,  # (B, T) 1 = token, 0 = padding
        token_type_ids: Tensor | None = None,  # (B, T)
        labels: Tensor | None = None,  # unused by the bare body; accepted for a uniform API
        case_ids: Tensor | None = None,  # (B, T) ``case_ids`` classes; used when config.case_vocab_size > 0
    ) -> LLMOSOutput:
        input_ids, attention_mask = check_inputs(self.config, input_ids, attention_mask)
        B, T = input_ids.shape
        positions = torch.arange(T, device=input_ids.device)  # (T,)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)[None]
            + self.token_type_embeddings(token_type_ids)
        )  # (B, T, C)
        if self.case_embeddings is not None:
            if case_ids is None:
                raise ValueError("this model has case embeddings (config.case_vocab_size > 0): pass case_ids "
                                 "(llmos.model.case_ids of the words) with input_ids")
            x = x + self.case_embeddings(case_ids)
        x = self.drop(self.embed_norm(x))
        token_mask = attention_mask.bool()  # (B, T)
        key_mask: Tensor = token_mask[:, None, None, :]  # (B, 1, 1, T)
        if self.relative_attention_bias is not None:
            bias = self.position_bias(T, input_ids.device).to(x.dtype)  # (1, H, T, T)
            key_mask = bias.masked_fill(~key_mask, float("-inf"))  # (B, H, T, T) float, added to the scores
        aux_total = None
        for layer in self.layers:
            x, aux = layer(x, key_mask, token_mask)
            if aux is not None:
                aux_total = aux if aux_total is None else aux_total + aux
        if aux_total is not None:
            aux_total = self.config.moe_aux_loss_coef * aux_total / self.config.num_layers
        return LLMOSOutput(last_hidden_state=x, pooled=self.pool(x, attention_mask), aux_loss=aux_total)

    def position_bias(self, T: int, device: torch.device) -> Tensor:
        """MPNet's relative position bias for a length-T sequence: (1, H, T, T), entry [h, i, j] for query i, key j."""
        assert self.relative_attention_bias is not None
        pos = torch.arange(T, device=device)
        buckets = relative_position_bucket(pos[None, :] - pos[:, None], self.config.relative_attention_num_buckets,
                                           self.config.relative_attention_max_distance)  # (T, T)
        return self.relative_attention_bias(buckets).permute(2, 0, 1)[None]

    def pool(self, hidden: Tensor, attention_mask: Tensor) -> Tensor:  # (B, T, C) -> (B, C)
        if self.config.pooling == "mean":
            return mean_pool(hidden, attention_mask)
        if self.config.pooling == "cls":
            return hidden[:, 0]
        assert self.pooler is not None
        return torch.tanh(self.pooler(hidden[:, 0]))


def relative_position_bucket(relative: Tensor, num_buckets: int, max_distance: int) -> Tensor:
    """T5/MPNet bidirectional buckets of ``relative = key - query`` positions: half the buckets per direction; within
    a direction, distances below num_buckets/4 get their own bucket, larger ones share log-spaced buckets up to
    ``max_distance``."""
    half = num_buckets // 2
    n = -relative
    ret = (n < 0).long() * half  # keys after the query use the upper half
    n = n.abs()
    exact = half // 2
    large = exact + (torch.log(n.float().clamp(min=1) / exact) / math.log(max_distance / exact)
                     * (half - exact)).long()
    large = large.clamp(max=half - 1)
    return ret + torch.where(n < exact, n, large)


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """Average of the real tokens' vectors: (B, T, C), (B, T) -> (B, C)."""
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def word_case(word: str) -> int:
    """Letter-case class of one word: 0 no letters, 1 lower, 2 Title (or one capital), 3 UPPER, 4 mIxed."""
    letters = [ch for ch in word if ch.isalpha()]
    if not letters:
        return 0
    if all(ch.islower() for ch in letters):
        return 1
    if all(ch.isupper() for ch in letters):
        return 3 if len(letters) > 1 else 2
    if letters[0].isupper() and all(ch.islower() for ch in letters[1:]):
        return 2
    return 4


def case_ids(words: list[str], word_ids: list[int | None]) -> list[int]:
    """Per sub-token case classes (``word_case`` of the word each sub-token belongs to; 0 for special tokens),
    from a fast tokenizer's ``word_ids()`` for ``words``."""
    cases = [word_case(w) for w in words]
    return [0 if w is None else cases[w] for w in word_ids]


def check_inputs(config: LLMOSConfig, input_ids: Tensor, attention_mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Refuse input the model cannot handle, saying what was received and what to do."""
    if not isinstance(input_ids, Tensor) or input_ids.dim() != 2:
        got = tuple(input_ids.shape) if isinstance(input_ids, Tensor) else type(input_ids).__name__
        raise ValueError(f"input_ids must be a 2-D (batch, seq) integer tensor, got {got}")
    B, T = input_ids.shape
    if B == 0 or T == 0:
        raise ValueError(f"empty batch: input_ids has shape {(B, T)}; pass at least one non-empty sequence")
    if config.max_position_embeddings < T:
        raise ValueError(
            f"sequence length {T} exceeds max_position_embeddings={config.max_position_embeddings}; "
            "truncate when tokenizing (tokenizer(..., truncation=True, max_length=...)). LLMOS refuses, never truncates."
        )
    if input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"input_ids must be an integer tensor, got dtype {input_ids.dtype}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    elif attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask shape {tuple(attention_mask.shape)} != input_ids shape {(B, T)}")
    return input_ids, attention_mask


class LLMOSForMaskedLM(LLMOSPreTrained):
    """Masked-LM head (BERT's transform + decoder tied to the word embeddings)."""

    tied_keys = ("lm_head.decoder.weight",)

    def __init__(self, config: LLMOSConfig) -> None:
        super().__init__(config)
        self.encoder = LLMOSModel(config)
        self.lm_head = nn.ModuleDict(
            {
                "dense": nn.Linear(config.hidden_size, config.hidden_size),
                "norm": nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps),
                "decoder": nn.Linear(config.hidden_size, config.vocab_size),
            }
        )
        self.init_weights()
        self.lm_head["decoder"].weight = self.encoder.word_embeddings.weight  # tie

    def mlm_logits(self, hidden: Tensor) -> Tensor:
        """BERT's prediction head: dense -> GELU -> LayerNorm -> tied decoder, (B, T, C) -> (B, T, V)."""
        return self.lm_head["decoder"](self.lm_head["norm"](F.gelu(self.lm_head["dense"](hidden))))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, labels: Tensor | None = None) -> LLMOSOutput:
        out = self.encoder(input_ids, attention_mask, token_type_ids)
        out.logits = self.mlm_logits(out.last_hidden_state)  # (B, T, V)
        if labels is not None:  # labels: (B, T), -100 = not a masked position
            out.loss = F.cross_entropy(out.logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
            if out.aux_loss is not None:
                out.loss = out.loss + out.aux_loss
        return out


class LLMOSForSequenceClassification(LLMOSPreTrained):
    """Pooled sentence vector -> dropout -> linear over ``config.labels``.

    ``labels`` of shape (B,) are class indices (softmax + cross-entropy); of shape (B, L) they are
    multi-label 0/1 targets (sigmoid + binary cross-entropy)."""

    def __init__(self, config: LLMOSConfig) -> None:
        super().__init__(config)
        self.encoder = LLMOSModel(config)
        self.drop = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden_size, len(config.labels))
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, labels: Tensor | None = None) -> LLMOSOutput:
        out = self.encoder(input_ids, attention_mask, token_type_ids)
        out.logits = self.classifier(self.drop(out.pooled))  # (B, L)
        if labels is not None and labels.dim() == 2:  # multi-label: (B, L) 0/1 floats -> sigmoid + BCE
            out.loss = F.binary_cross_entropy_with_logits(out.logits, labels.to(out.logits.dtype))
        elif labels is not None:  # labels: (B,) class indices
            out.loss = F.cross_entropy(out.logits, labels)
            if out.aux_loss is not None:
                out.loss = out.loss + out.aux_loss
        return out


class LLMOSForTokenClassification(LLMOSPreTrained):
    """Per-token linear head over ``config.token_labels`` (e.g. BIO entity tags)."""

    def __init__(self, config: LLMOSConfig) -> None:
        if not config.token_labels:
            raise ValueError("LLMOSForTokenClassification needs config.token_labels, e.g. ('O', 'B-ORG', 'I-ORG')")
        super().__init__(config)
        self.encoder = LLMOSModel(config)
        self.drop = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden_size, len(config.token_labels))
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, labels: Tensor | None = None,
                case_ids: Tensor | None = None) -> LLMOSOutput:
        out = self.encoder(input_ids, attention_mask, token_type_ids, case_ids=case_ids)
        out.logits = self.classifier(self.drop(out.last_hidden_state))  # (B, T, L)
        if labels is not None:  # labels: (B, T), -100 = ignore (padding, sub-word continuations)
            out.loss = F.cross_entropy(out.logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
            if out.aux_loss is not None:
                out.loss = out.loss + out.aux_loss
        return out


def info_nce(anchors: Tensor, positives: Tensor, temperature: float) -> Tensor:
    """InfoNCE with in-batch negatives: row i of ``positives`` is the positive of anchor i.

    anchors, positives: (B, C), L2-normalised. Loss = mean_i -log softmax(a_i . p_j / t)_j=i.
    """
    if anchors.shape != positives.shape or anchors.dim() != 2:
        raise ValueError(f"anchors {tuple(anchors.shape)} and positives {tuple(positives.shape)} must both be (B, C)")
    logits = anchors @ positives.T / temperature  # (B, B)
    target = torch.arange(anchors.shape[0], device=anchors.device)
    return F.cross_entropy(logits, target)


class LLMOSForContrastive(LLMOSForMaskedLM):
    """Sentence embeddings trained with InfoNCE (in-batch negatives) plus, optionally, masked LM.

    ``forward(input_ids, ..., labels=None, positive_ids=None, positive_mask=None)``: with
    positives, the loss is InfoNCE between the two views; with MLM ``labels``, the MLM loss is added.
    """

    def embed(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """L2-normalised pooled embeddings, (B, T) -> (B, C)."""
        return F.normalize(self.encoder(input_ids, attention_mask).pooled, dim=-1)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, labels: Tensor | None = None,
                positive_ids: Tensor | None = None, positive_mask: Tensor | None = None) -> LLMOSOutput:
        out = self.encoder(input_ids, attention_mask, token_type_ids)
        out.embeddings = F.normalize(out.pooled, dim=-1)
        losses: dict[str, Tensor] = {}
        if labels is not None:
            out.logits = self.mlm_logits(out.last_hidden_state)
            losses["mlm"] = F.cross_entropy(out.logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        if positive_ids is not None:
            pos = self.encoder(positive_ids, positive_mask)
            losses["infonce"] = info_nce(out.embeddings, F.normalize(pos.pooled, dim=-1),
                                         self.config.contrastive_temperature)
        if losses:
            out.loss = sum(losses.values())  # type: ignore[assignment]
            if out.aux_loss is not None:
                out.loss = out.loss + out.aux_loss
            self.last_losses = {k: float(v.detach()) for k, v in losses.items()}
        return out


ARCHITECTURES: dict[str, type[LLMOSPreTrained]] = {
    cls.__name__: cls
    for cls in (LLMOSModel, LLMOSForMaskedLM, LLMOSForSequenceClassification,
                LLMOSForTokenClassification, LLMOSForContrastive)
}


def load_any(directory: str | Path) -> LLMOSPreTrained:
    """Load a saved LLMOS folder as the class recorded in its config.json."""
    name = json.loads((Path(directory) / "config.json").read_text()).get("architecture", "LLMOSModel")
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r} in {directory}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name].from_pretrained(directory)


def mask_tokens(
    input_ids: Tensor, attention_mask: Tensor, vocab_size: int, mask_token_id: int,
    special_ids: tuple[int, ...] = (), prob: float = 0.15, generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """BERT masking: choose ``prob`` of real, non-special tokens; of those 80% -> [MASK], 10% -> random, 10% kept.

    Returns (masked_input_ids, labels) where labels are -100 except at chosen positions.
    """
    labels = input_ids.clone()
    eligible = attention_mask.bool()
    for sid in special_ids:
        eligible &= input_ids != sid
    chosen = (torch.rand(input_ids.shape, generator=generator) < prob) & eligible
    labels[~chosen] = -100
    masked = input_ids.clone()
    roll = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (roll < 0.8)
    to_random = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[to_mask] = mask_token_id
    masked[to_random] = torch.randint(vocab_size, input_ids.shape, generator=generator)[to_random]
    return masked, labels


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))
