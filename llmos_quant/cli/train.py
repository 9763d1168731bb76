"""``llmos-quant train sentiment`` (fine-tune + evaluate) and ``train report`` (ours vs LM vs VADER)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .common import console, print_table

app = typer.Typer(no_args_is_help=True, help="Train and evaluate the encoders.")


def sentiment(
    out: Annotated[Path, typer.Option(help="Adapter output folder")] = Path("llmos_quant/encoders/weights/finsent-minilm"),
    epochs: int = 8, lora_r: int = 16, lr: float = 5e-4, batch_size: int = 32, pooling: str = "mean",
    seed: int = 0, quiet: bool = False,
) -> None:
    """Fine-tune LLMOS (MiniLM weights + LoRA) on Financial PhraseBank 50Agree; write adapter + metrics.json."""
    from ..encoders.train import SentimentTrainConfig, train_sentiment

    cfg = SentimentTrainConfig(pooling=pooling, lora_r=lora_r, lr=lr, epochs=epochs, batch_size=batch_size, seed=seed)
    metrics = train_sentiment(cfg, out, progress=not quiet)
    rows = {f"{split}.{k}": v for split in ("test_50agree", "test_allagree") for k, v in metrics[split].items()}
    rows["semeval2017.spearman"] = metrics["semeval2017_headlines_test"]["spearman"]
    rows["best_epoch"], rows["train_seconds"] = metrics["best_epoch"], metrics["train_seconds"]
    print_table(f"sentiment model written to {out}", rows)


def report(
    out: Annotated[Path, typer.Option(help="Markdown file for the table")] = Path("docs/sentiment_metrics.md"),
    model_path: Annotated[str | None, typer.Option(help="Adapter folder (default: the shipped one)")] = None,
) -> None:
    """Evaluate ours, Loughran-McDonald and VADER on the fixed PhraseBank split and SemEval-2017 headlines."""
    import pandas as pd

    from ..encoders.sentiment import SentimentEncoder
    from ..encoders.train import evaluate_encoder
    from ..reporting import markdown_table

    rows = []
    configs = [("llmos", {"progress": False}, ""), ("llmos", {"progress": False, "quantize": True}, " (dynamic int8)"),
               ("lm", {}, ""), ("vader", {}, "")]
    for backend, kwargs, suffix in configs:
        with console.status(f"evaluating {backend}{suffix}"):
            enc = SentimentEncoder.create(backend, model_path if backend == "llmos" else None, **kwargs)
            m = evaluate_encoder(enc)
        rows.append({"model": enc.model_name + suffix,
                     **{f"{s}_{k}": m[s][k] for s in ("test_50agree", "test_allagree")
                        for k in ("accuracy", "macro_f1", "weighted_f1")},
                     "semeval_spearman": m["semeval2017_headlines_test"]["spearman"]})
    table = pd.DataFrame(rows).set_index("model")
    print_table("sentiment metrics", table)
    out.parent.mkdir(parents=True, exist_ok=True)
    from ..data.datasets import phrasebank_split

    n = {"test": len(phrasebank_split().test)}
    body = ["# Sentiment metrics", "",
            "Produced by `llmos-quant train report` on the fixed split (PhraseBank Sentences_50Agree, stratified "
            f"75/25 by seed 0; test n={n['test']}; AllAgree = the test sentences also in Sentences_AllAgree). "
            "SemEval-2017 task 5 headline test set: Spearman of `score` with gold, never trained on.", "",
            markdown_table(table), ""]
    out.write_text("\n".join(body))
    console.print(f"written {out}")
    console.print_json(json.dumps(rows, default=float))


def ner(
    out: Annotated[Path, typer.Option(help="Adapter output folder")] = Path("llmos_quant/encoders/weights/finner-minilm"),
    epochs: int = 6, lr: float = 5e-4, lora_r: int = 16, quiet: bool = False,
) -> None:
    """Fine-tune the entity tagger on FIN5 and report entity-level F1 on FIN3."""
    from ..encoders.ner import train_ner

    m = train_ner(out, epochs=epochs, lr=lr, lora_r=lora_r, progress=not quiet)
    print_table(f"FIN3 entity-level scores ({out})", {k: v for k, v in m["fin3_test"].items() if k != "f1_by_type"}
                | {f"f1_{k}": v for k, v in m["fin3_test"]["f1_by_type"].items()})


def events(
    out: Annotated[Path, typer.Option(help="Adapter output folder")] = Path("llmos_quant/encoders/weights/events-minilm"),
    limit: int = 12000, epochs: int = 2, lr: float = 2e-4, head_lr: float = 3e-3, quiet: bool = False,
) -> None:
    """Train the event-type head on rule-labelled headlines; per-class P/R on the hand-labelled fixture."""
    import pandas as pd

    from ..encoders.events import train_events

    m = train_events(out, limit=limit, epochs=epochs, lr=lr, head_lr=head_lr, progress=not quiet)
    print_table("event types on the hand-labelled fixture: model", pd.DataFrame(m["model"]).T)
    print_table("event types on the hand-labelled fixture: rules", pd.DataFrame(m["rules"]).T)


app.command("sentiment")(sentiment)
app.command("ner")(ner)
app.command("events")(events)
app.command("report")(report)
