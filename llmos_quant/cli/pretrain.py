"""``llmos-quant pretrain``: WordPiece tokenizer + MLM + InfoNCE from scratch on the financial corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .common import print_table


def pretrain(
    out: Annotated[Path, typer.Option(help="Output folder (config.json, model.safetensors, tokenizer)")] = Path(
        "data/cache/llmos-pretrained"),
    steps: int = 300, batch_size: int = 32, hidden_size: int = 256, num_layers: int = 4, num_heads: int = 4,
    intermediate_size: int = 1024, num_experts: int = 0, vocab_size: int = 8000, lr: float = 5e-4,
    corpus_limit: int = 20000, quiet: bool = False,
) -> None:
    """Pretrain a small LLMOS on Reuters headline/lede pairs + PhraseBank sentences (../shared/data)."""
    from ..llmos.pretrain import PretrainConfig, default_corpus
    from ..llmos.pretrain import pretrain as run

    cfg = PretrainConfig(steps=steps, batch_size=batch_size, hidden_size=hidden_size, num_layers=num_layers,
                         num_heads=num_heads, intermediate_size=intermediate_size, num_experts=num_experts,
                         vocab_size=vocab_size, lr=lr)
    result = run(default_corpus(corpus_limit), cfg, out, progress=not quiet)
    (out / "pretrain_metrics.json").write_text(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=2))
    print_table(f"pretraining ({result['parameters']:,} parameters) -> {out}",
                {k: v for k, v in result.items() if k not in ("history", "config")})
