"""LLMOS: the project's transformer encoder (model, objectives, tokenizer, pretraining, BERT loading)."""

from .config import LLMOSConfig
from .model import (
    LLMOSForContrastive,
    LLMOSForMaskedLM,
    LLMOSForSequenceClassification,
    LLMOSForTokenClassification,
    LLMOSModel,
    LLMOSOutput,
    info_nce,
    load_any,
    mask_tokens,
    mean_pool,
)

__all__ = [
    "LLMOSConfig",
    "LLMOSForContrastive",
    "LLMOSForMaskedLM",
    "LLMOSForSequenceClassification",
    "LLMOSForTokenClassification",
    "LLMOSModel",
    "LLMOSOutput",
    "info_nce",
    "load_any",
    "mask_tokens",
    "mean_pool",
]
