"""Which base an adapter folder loads onto, and the refusal of a base whose weights are not the recorded ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from llmos_quant.encoders.adapter import adapter_base, attach_lora, load_adapter, save_adapter
from llmos_quant.errors import ModelLoadError
from llmos_quant.llmos.convert import (
    MINILM_NAME,
    base_fingerprint,
    base_record_name,
    from_hf_bert,
    known_base,
    minilm_path,
)

TEXT_IDS = torch.tensor([[101, 2128, 3279, 9278, 102]])


def _write(base: Path, out: Path) -> Path:
    torch.manual_seed(0)
    model = from_hf_bert(base, head="cls", labels=("positive", "negative", "neutral"))
    lora = attach_lora(model, r=4)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p += 0.1
    return save_adapter(model, lora, model.config, out, base=base_record_name(base), base_path=base)


def _extra(folder: Path) -> dict:
    return json.loads((folder / "llmos_config.json").read_text())["extra"]


def _perturb_in_place(base: Path) -> None:
    """The base folder retrained in place: same architecture and file layout, other weights."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(base / "model.safetensors"))
    save_file({k: v + 0.01 for k, v in state.items()}, str(base / "model.safetensors"), metadata={"format": "pt"})


def test_fingerprint_tells_weights_apart_and_is_stable(tiny_bert_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_bert_dir, copy)
    assert base_fingerprint(copy) == base_fingerprint(tiny_bert_dir)
    _perturb_in_place(copy)
    assert base_fingerprint(copy) != base_fingerprint(tiny_bert_dir)
    assert base_fingerprint(tmp_path) is None  # no model.safetensors


def test_an_adapter_on_a_local_base_records_folder_and_fingerprint(tiny_bert_dir, tmp_path):
    base = tmp_path / "domain"
    shutil.copytree(tiny_bert_dir, base)
    out = _write(base, tmp_path / "adapter")
    extra = _extra(out)
    assert extra["base"] == "domain" and extra["base_path"] == str(base.resolve())
    assert extra["base_fingerprint"] == base_fingerprint(base)
    assert adapter_base(out) == base
    load_adapter(out)  # loads onto the recorded folder


def test_a_base_retrained_in_place_is_refused(tiny_bert_dir, tmp_path):
    base = tmp_path / "domain"
    shutil.copytree(tiny_bert_dir, base)
    out = _write(base, tmp_path / "adapter")
    _perturb_in_place(base)
    with pytest.raises(ModelLoadError, match="fingerprint") as err:
        load_adapter(out)
    assert str(base) in str(err.value) and "retrain" in str(err.value)
    with pytest.raises(ModelLoadError, match="fingerprint"):  # an explicit base is checked too
        load_adapter(out, base=base)


def test_a_user_folder_named_like_a_known_base_is_not_taken_for_it(tiny_bert_dir, tmp_path):
    """A folder of the user's called all-mpnet-base-v2 is recorded by location; the known MPNet never stands in."""
    base = tmp_path / "all-mpnet-base-v2"
    shutil.copytree(tiny_bert_dir, base)
    assert known_base(base) is None
    out = _write(base, tmp_path / "adapter")
    assert _extra(out)["base_path"] == str(base.resolve())
    assert adapter_base(out) == base
    shutil.move(str(base), str(tmp_path / "moved"))
    # gone: the name alone would point at the teacher extra's MPNet (missing, or other weights): refused either way
    with pytest.raises(ModelLoadError, match="all-mpnet-base-v2"):
        load_adapter(out)


def test_an_adapter_on_minilm_records_the_package_by_name(tmp_path):
    assert known_base(minilm_path()) == "minilm" and base_record_name(minilm_path()) == MINILM_NAME
    out = _write(minilm_path(), tmp_path / "adapter")
    extra = _extra(out)
    assert extra["base"] == MINILM_NAME and "base_path" not in extra
    assert extra["base_fingerprint"] == base_fingerprint(minilm_path())
    assert adapter_base(out) == minilm_path()


def test_shipped_adapters_match_this_environments_bases():
    """Each shipped model records the fingerprint of the base it was written against; MiniLM's must match here."""
    from llmos_quant.encoders.sentiment import DEFAULT_ADAPTER

    weights = DEFAULT_ADAPTER.parent
    for folder in sorted(weights.iterdir()):
        if (folder / "link_model.safetensors").is_file():
            continue  # the learned ticker linker: a sparse linear model, no transformer base
        extra = _extra(folder)
        assert extra.get("base_fingerprint"), folder
        if extra["base"] == MINILM_NAME:
            assert extra["base_fingerprint"] == base_fingerprint(minilm_path()), folder
            assert adapter_base(folder) == minilm_path()
