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
    method: Annotated[str, typer.Option(help="'full' fine-tune (shipped as a LoRA extraction) or 'lora'")] = "full",
    epochs: int = 4, lr: float = 8e-5, head_lr: float = 1e-3, batch_size: int = 16, pooling: str = "mean",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds, combined by a greedy model soup")] = "0,1,2,3,4",
    soup: Annotated[str, typer.Option(help="'uniform' (average every seed) or 'greedy'")] = "uniform",
    extract_rank: Annotated[int, typer.Option(help="Rank of the shipped LoRA extraction")] = 32,
    agreement_smoothing: Annotated[bool, typer.Option(help="Label smoothing by annotator agreement")] = True,
    lora_r: int = 16, limit: Annotated[int, typer.Option(help="Train on the first N sentences only (0 = all)")] = 0,
    seeds_dir: Annotated[Path | None, typer.Option(help="Also keep each seed's weights here (for `train distill`)")] = None,
    quiet: bool = False,
) -> None:
    """Fine-tune LLMOS (MiniLM weights) on Financial PhraseBank 50Agree; write adapter + metrics.json."""
    from ..encoders.train import SentimentTrainConfig, train_sentiment
    from ..errors import UsageError

    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise UsageError(f"--seeds must be comma-separated integers, got {seeds!r}; e.g. --seeds 0,1,2") from None
    cfg = SentimentTrainConfig(method=method, pooling=pooling, lr=lr, head_lr=head_lr, epochs=epochs, batch_size=batch_size,
                               seeds=seed_list, soup=soup, extract_rank=extract_rank, agreement_smoothing=agreement_smoothing,
                               lora_r=lora_r, limit=limit)
    metrics = train_sentiment(cfg, out, progress=not quiet, seeds_dir=seeds_dir)
    rows = {f"{split}.{k}": v for split in ("test_50agree", "test_allagree") for k, v in metrics[split].items()}
    rows["semeval2017.spearman"] = metrics["semeval2017_headlines_test"]["spearman"]
    rows["soup_seeds"] = ",".join(map(str, metrics["soup_seeds"]))
    rows["train_seconds"] = metrics["train_seconds"]
    print_table(f"sentiment model written to {out}", rows)


def distill(
    teachers: Annotated[Path, typer.Option(help="Folder of seed_*.safetensors from `train sentiment --seeds-dir`")] = Path(
        "data/cache/distill/teachers"),
    out: Annotated[Path, typer.Option(help="Adapter output folder")] = Path("llmos_quant/encoders/weights/finsent-minilm"),
    transfer_limit: Annotated[int, typer.Option(help="Unlabelled Reuters titles + ledes to distil on (0 = none)")] = 20000,
    gold_weight: Annotated[float, typer.Option(help="Share of the gold label in a PhraseBank sentence's target")] = 0.5,
    temperature: float = 1.0, epochs: int = 3, lr: float = 8e-5, head_lr: float = 1e-3, batch_size: int = 16,
    seed: int = 0, extract_rank: int = 32, quiet: bool = False,
) -> None:
    """Distil the seeds' logit ensemble into one student (PhraseBank + unlabelled Reuters text); write adapter + metrics."""
    from ..encoders.distill import DistillConfig, distill_sentiment

    cfg = DistillConfig(transfer_limit=transfer_limit, gold_weight=gold_weight, temperature=temperature, epochs=epochs,
                        lr=lr, head_lr=head_lr, batch_size=batch_size, seed=seed, extract_rank=extract_rank)
    metrics = distill_sentiment(cfg, teachers, out, progress=not quiet)
    rows = {f"{split}.{k}": v for split in ("test_50agree", "test_allagree") for k, v in metrics[split].items()}
    rows["semeval2017.spearman"] = metrics["semeval2017_headlines_test"]["spearman"]
    rows["teacher_ensemble.valid_weighted_f1"] = metrics["teacher_ensemble_valid"]["weighted_f1"]
    rows["student.valid_weighted_f1"] = metrics["student_valid"]["weighted_f1"]
    rows["best_epoch"] = metrics["best_epoch"]
    rows["train_seconds"] = metrics["train_seconds"]
    print_table(f"distilled sentiment model written to {out}", rows)


def report(
    out: Annotated[Path, typer.Option(help="Markdown file for the table")] = Path("docs/sentiment_metrics.md"),
    model_path: Annotated[str | None, typer.Option(help="Adapter folder (default: the shipped one)")] = None,
    teachers: Annotated[Path | None, typer.Option(
        help="Also evaluate the logit ensemble of these seed_*.safetensors (from `train sentiment --seeds-dir`)")] = None,
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
        rows.append({"model": enc.model_name + suffix, **_metric_columns(m)})
    if teachers is not None:
        from ..encoders.distill import ensemble_report, find_teachers

        with console.status(f"evaluating the teachers' ensemble in {teachers}"):
            m = ensemble_report(teachers)
        rows.append({"model": f"llmos: logit ensemble of {len(find_teachers(teachers))} teachers (5x the inference)",
                     **_metric_columns(m)})
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
    body += _training_record(Path(model_path) if model_path else None)
    out.write_text("\n".join(body))
    console.print(f"written {out}")
    console.print_json(json.dumps(rows, default=float))


def _metric_columns(m: dict) -> dict[str, float]:
    """One row of the metrics table from ``evaluate_encoder``'s output."""
    return {**{f"{s}_{k}": m[s][k] for s in ("test_50agree", "test_allagree") for k in ("accuracy", "macro_f1", "weighted_f1")},
            "semeval_spearman": m["semeval2017_headlines_test"]["spearman"]}


def _training_record(folder: Path | None) -> list[str]:
    """Markdown lines describing how the evaluated adapter was trained (from its ``metrics.json``)."""
    from ..encoders.sentiment import DEFAULT_ADAPTER

    path = (folder or DEFAULT_ADAPTER) / "metrics.json"
    if not path.is_file():
        return []
    m = json.loads(path.read_text())
    if m.get("recipe") == "ensemble distillation":
        return _distill_record(m)
    cfg = m.get("train_config", {})
    lines = ["## How the evaluated model was trained", "",
             f"`llmos-quant train sentiment` with {json.dumps(cfg)}; {m.get('train_seconds', '?')} s of training "
             "on this machine's CPUs. Split: " + str(m.get("split", "")) + ".", ""]
    if "valid_weighted_f1_per_seed" in m:
        lines += ["| seed | best epoch | valid weighted-F1 |", "|---|---|---|"]
        lines += [f"| {seed} | {m['best_epoch_per_seed'][seed]} | {wf1:.4f} |"
                  for seed, wf1 in m["valid_weighted_f1_per_seed"].items()]
        by_kind = m.get("soup_valid_weighted_f1_by_kind", {})
        lines += ["", f"{cfg.get('soup', 'greedy').capitalize()} soup of seeds {m['soup_seeds']} (shipped): valid "
                  f"weighted-F1 {m['soup_valid']['weighted_f1']:.4f}"
                  + "".join(f"; {kind} soup {v:.4f}" for kind, v in by_kind.items()) + ".", ""]
    return lines


def _distill_record(m: dict) -> list[str]:
    lines = ["## How the evaluated model was trained", "",
             f"Ensemble distillation: `llmos-quant train distill` with {json.dumps(m['distill_config'])}, teachers "
             f"{m['teachers']} (from `llmos-quant train sentiment --seeds-dir`), transfer texts {m['transfer_texts']}; "
             f"{m.get('train_seconds', '?')} s on this machine's CPUs ({m.get('label_seconds', '?')} s of it the teachers' "
             "labelling), after the teachers' own training. Split: " + str(m.get("split", "")) + ".", "",
             "| | valid weighted-F1 |", "|---|---|",
             f"| teachers' logit ensemble | {m['teacher_ensemble_valid']['weighted_f1']:.4f} |",
             f"| student (shipped), best epoch {m['best_epoch']} | {m['student_valid']['weighted_f1']:.4f} |", ""]
    return lines


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
app.command("distill")(distill)
app.command("ner")(ner)
app.command("events")(events)
app.command("report")(report)
