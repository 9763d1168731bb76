"""``llmos-quant pretrain``: WordPiece tokenizer + MLM + InfoNCE from scratch on the financial corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .common import GE1, GE2, positive, print_table
from .train import source_defaults

_P = source_defaults("llmos.pretrain", "PretrainConfig")  # the options' defaults are the config's own
_CORPUS = source_defaults("llmos.pretrain", "default_corpus")


def pretrain(
    out: Annotated[Path, typer.Option(help="Output folder (config.json, model.safetensors, tokenizer, "
                                           "pretrain_metrics.json)")] = Path("data/cache/llmos-pretrained"),
    steps: Annotated[int, typer.Option(
        callback=GE1, help="Optimizer steps (>= 1); AdamW, linear warm-up over the first 10%, then "
                                            "constant")] = _P["steps"],
    batch_size: Annotated[int, typer.Option(callback=GE2, help="(anchor, positive) text pairs per step (>= 2); InfoNCE uses the "
                                                 "other pairs of the batch as negatives")] = _P["batch_size"],
    hidden_size: Annotated[int, typer.Option(help="Width of the hidden states (>= 1; a multiple of "
                                                  "--num-heads)")] = _P["hidden_size"],
    num_layers: Annotated[int, typer.Option(help="Transformer layers (>= 1)")] = _P["num_layers"],
    num_heads: Annotated[int, typer.Option(help="Attention heads per layer (>= 1; must divide "
                                                "--hidden-size)")] = _P["num_heads"],
    intermediate_size: Annotated[int, typer.Option(help="Inner width of each feed-forward block (>= 1)")] = _P[
        "intermediate_size"],
    num_experts: Annotated[int, typer.Option(help="Feed-forward experts per layer: 0 = dense FFN, >= 2 = sparse "
                                                  "mixture of experts, top-2 routing")] = _P["num_experts"],
    vocab_size: Annotated[int, typer.Option(help="Most WordPiece tokens to learn from the corpus, special tokens "
                                                 "included (at least a few hundred)")] = _P["vocab_size"],
    lr: Annotated[float, typer.Option(callback=positive, help="AdamW peak learning rate (> 0)")] = _P["lr"],
    corpus_limit: Annotated[int, typer.Option(help="Text pairs taken from the shuffled corpus: Reuters (headline, "
                                                   "lede) pairs before 2017 + PhraseBank sentences paired with "
                                                   "themselves (0 = all)")] = _CORPUS["limit"],
    device: Annotated[str, typer.Option(help="Torch device: auto (CUDA when present, else CPU) | cpu | cuda | "
                                             "cuda:N; bf16 autocast on CUDA")] = _P["device"],
    quiet: Annotated[bool, typer.Option(help="No progress bars")] = False,
) -> None:
    """Pretrain a small LLMOS on Reuters headline/lede pairs + PhraseBank sentences (../shared/data)."""
    from ..llmos.pretrain import PretrainConfig, default_corpus
    from ..llmos.pretrain import pretrain as run

    cfg = PretrainConfig(steps=steps, batch_size=batch_size, hidden_size=hidden_size, num_layers=num_layers,
                         num_heads=num_heads, intermediate_size=intermediate_size, num_experts=num_experts,
                         vocab_size=vocab_size, lr=lr, device=device)
    result = run(default_corpus(corpus_limit), cfg, out, progress=not quiet)
    (out / "pretrain_metrics.json").write_text(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=2))
    print_table(f"pretraining ({result['parameters']:,} parameters) -> {out}",
                {k: v for k, v in result.items() if k not in ("history", "config")})
