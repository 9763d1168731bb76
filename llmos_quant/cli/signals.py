"""``llmos-quant signals daily|backfill|runs|lookahead``: the signal job and its provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from ..data.calendar import DEFAULT_CUTOFF, parse_date
from ..jobs.signals import LookaheadJobConfig, SignalJobConfig
from .common import console, parse_universe, print_table

app = typer.Typer(no_args_is_help=True, help="Daily sentiment signals per ticker.")
_D = SignalJobConfig.__dataclass_fields__  # defaults shown in --help come from the config, so they cannot drift

Source = Annotated[str, typer.Option(
    help="News source: reuters[:PATH] | benzinga[:PATH] | table:PATH (CSV/Parquet with zoned published_at, asset, "
         "headline) | synthetic | yfinance | rss:URL-or-PATH | a .csv/.parquet path (format from its columns)")]
Universe = Annotated[str | None, typer.Option(help="Tickers 'AAPL,MSFT' or a file (one per line); default: every ticker "
                                                   "of the source (yfinance and rss need it)")]
StoreOpt = Annotated[Path | None, typer.Option(help="DuckDB store file \\[default: data/store/signals.duckdb in a checkout, "
                                                   "$LLMOS_QUANT_DATA/store or ~/.local/share/llmos_quant/store]")]
Backend = Annotated[str, typer.Option(help="Sentiment backend: llmos (shipped model) | llmos-int8 (the same, "
                                           "dynamic int8, CPU) | llmos-mpnet (110M MPNet; pip install "
                                           "'llmos-quant\\[teacher]') | hf (--model-path) | lm (Loughran-McDonald) | vader")]
ModelPath = Annotated[str | None, typer.Option(help="Model folder for the llmos, llmos-int8, llmos-mpnet and hf backends")]
HalfLife = Annotated[float, typer.Option(help="Decay half-life of the signal without news, in sessions (> 0)")]
Cutoff = Annotated[str, typer.Option(help="Daily cutoff HH:MM New York time; news at or after it counts next session")]
Batch = Annotated[int, typer.Option(help="Texts per model batch (> 0)")]
Events = Annotated[str | None, typer.Option(help="Also store sentiment_<event> columns (mean score of that event "
                                                 "type's news): rules (keywords) | model (trained event head)")]
NewsTz = Annotated[str | None, typer.Option(help="IANA zone of zone-less timestamps in the source (e.g. "
                                                 "America/New_York); without it they are refused")]
Output = Annotated[Path | None, typer.Option(help="Ranked signals file .csv or .parquet \\[daily default: "
                                                  "<store dir>/daily/signals_<date>.csv]")]
Quiet = Annotated[bool, typer.Option(help="No progress bars")]
Engine = Annotated[str, typer.Option(help="Scoring engine: local (this process) | ray (Ray Data actors, one model "
                                          "each; a local Ray unless --ray-address)")]
RayAddress = Annotated[str | None, typer.Option(help="Ray cluster to join, HOST:PORT of its head (e.g. 10.0.0.5:6379) "
                                                     "or ray://HOST:10001; default: start a local Ray for the job")]
Novelty = Annotated[int | None, typer.Option(help="Novelty over N sessions: compare each item's LLMOS embedding with the "
                                                  "same ticker's news of the previous N sessions, collapse "
                                                  "near-duplicates (cosine >= 0.95, counted) and add novel_sentiment "
                                                  "(sentiment weighted by 1 - max similarity); 0 compares with the same "
                                                  "session's earlier items only \\[default: off]")]
RayWorkers = Annotated[int | None, typer.Option(help="Scoring actors for --engine ray \\[default: the GPUs Ray reports, "
                                                     "else its CPUs]")]


def _run(config: SignalJobConfig) -> None:
    import logging

    logger = logging.getLogger("llmos_quant")
    level = logger.level
    if not config.progress:  # --quiet: a failed run prints its one error line, not the retry warnings before it
        logger.setLevel(logging.ERROR)
    try:
        _run_job(config)
    finally:
        logger.setLevel(level)


def _run_job(config: SignalJobConfig) -> None:
    from ..jobs.signals import run_signal_job

    result = run_signal_job(config)
    print_table(f"signals {config.kind} {config.start.date()}..{config.end.date()} ({result.model})", result.rows())


def daily(
    date: Annotated[str, typer.Option(help="Session date YYYY-MM-DD, or 'today' = the latest session whose cutoff "
                                           "has passed in New York")],
    source: Source = _D["source"].default, universe: Universe = None, store: StoreOpt = None,
    backend: Backend = _D["backend"].default, model_path: ModelPath = None, half_life: HalfLife = _D["half_life"].default,
    cutoff: Cutoff = DEFAULT_CUTOFF, batch_size: Batch = _D["batch_size"].default, quiet: Quiet = False,
    events: Events = None, news_tz: NewsTz = None, output: Output = None, novelty: Novelty = None,
) -> None:
    """Signals for one session: news before its cutoff (and a lookback for decay and surprise); writes the store
    and the day's ranked signals file."""
    from ..jobs.signals import default_store, resolve_session

    d = resolve_session(date, cutoff)
    _run(SignalJobConfig("daily", d, d, source, store or default_store(), parse_universe(universe), backend, model_path,
                         half_life, cutoff, batch_size, events, news_tz, output=output, progress=not quiet,
                         novelty_lookback=novelty))


def backfill(
    start: Annotated[str, typer.Option(help="First session YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last session YYYY-MM-DD")],
    source: Source = _D["source"].default, universe: Universe = None, store: StoreOpt = None,
    backend: Backend = _D["backend"].default, model_path: ModelPath = None, half_life: HalfLife = _D["half_life"].default,
    cutoff: Cutoff = DEFAULT_CUTOFF, batch_size: Batch = _D["batch_size"].default, quiet: Quiet = False,
    events: Events = None, news_tz: NewsTz = None, output: Output = None,
    engine: Engine = _D["engine"].default, ray_address: RayAddress = None, ray_workers: RayWorkers = None,
    novelty: Novelty = None,
) -> None:
    """Signals for every session between start and end (reruns replace exactly the rows they recompute)."""
    from ..jobs.signals import default_store

    _run(SignalJobConfig("backfill", parse_date(start, "--start"), parse_date(end, "--end"), source,
                         store or default_store(), parse_universe(universe), backend, model_path, half_life, cutoff,
                         batch_size, events, news_tz, output=output, progress=not quiet, engine=engine,
                         ray_address=ray_address, ray_workers=ray_workers, novelty_lookback=novelty))


def runs(
    store: StoreOpt = None,
    limit: Annotated[int, typer.Option(help="Newest runs to list")] = 20,
    run_id: Annotated[str | None, typer.Option(help="Show one run in full (config, counts)")] = None,
) -> None:
    """List runs with their provenance (version, commit, model, weights and input hashes, counts)."""
    from ..jobs.signals import default_store
    from ..signals.store import SignalStore

    with SignalStore(store or default_store(), read_only=True) as st:
        frame = st.runs()
    if run_id:
        match = frame[frame["run_id"] == run_id]
        if match.empty:
            from ..errors import DataNotFoundError

            raise DataNotFoundError(f"no run {run_id!r} in the store; `llmos-quant signals runs` lists them")
        row = match.iloc[0].to_dict()
        for key in ("params", "counts"):
            row[key] = json.dumps(json.loads(row[key]), indent=1) if row.get(key) else ""
        print_table(f"run {run_id}", {k: str(v) for k, v in row.items()})
        return
    cols = ["run_id", "kind", "status", "started", "model", "weights_hash", "input_hash", "git_commit"]
    view = frame.head(limit)[cols].copy()
    # the list fits a terminal: hashes and commits to their first 8 characters, times to the minute in UTC, short
    # headers; `--run-id` prints every field in full (the package version and the config too)
    for col in ("weights_hash", "input_hash", "git_commit"):
        view[col] = view[col].fillna("").astype(str).str[:8].replace("", "-")
    started = pd.to_datetime(view["started"], errors="coerce", utc=True)
    view["started"] = started.dt.strftime("%Y-%m-%d %H:%M").fillna("-")
    counts = [json.loads(c) if c else {} for c in frame.head(limit)["counts"]]
    view["rows"] = [c.get("signal_rows", "") for c in counts]
    view["rejected"] = [sum((c.get("rejected") or {}).values()) if isinstance(c.get("rejected"), dict) else "" for c in counts]
    view = view.rename(columns={"started": "started (UTC)", "weights_hash": "weights", "input_hash": "input",
                                "git_commit": "commit"})
    print_table(f"runs in {store or default_store()}, newest first (hashes abbreviated; --run-id ID shows one in full)",
                view.set_index("run_id"), no_wrap=("run_id",))


def lookahead(
    start: Annotated[str, typer.Option(help="First session YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last session YYYY-MM-DD")],
    source: Source = "reuters", universe: Universe = None,
    backend: Annotated[str, typer.Option(help="Sentiment backend (lm is fast; scores are per item, so any works)")] = "lm",
    model_path: ModelPath = None,
    samples: Annotated[int, typer.Option(help="Sessions sampled and recomputed with later data removed")] = 5,
    seed: Annotated[int, typer.Option(help="Sampling seed")] = 0,
    half_life: HalfLife = 5.0, cutoff: Cutoff = DEFAULT_CUTOFF, news_tz: NewsTz = None,
) -> None:
    """Look-ahead check: recompute sampled sessions with every item after their cutoff removed; exit 3 if any
    signal changes."""
    from ..jobs.signals import run_lookahead_job

    result = run_lookahead_job(LookaheadJobConfig(parse_date(start, "--start"), parse_date(end, "--end"), source,
                                                  parse_universe(universe), backend, model_path, samples, seed, half_life,
                                                  cutoff, news_tz))
    print_table("look-ahead analysis", {"sessions checked": ", ".join(str(d.date()) for d in result.sessions),
                                        "rows compared": result.rows_checked,
                                        "items removed per session": json.dumps(result.news_removed),
                                        "mismatches": len(result.mismatches),
                                        "verdict": "PASS: no look-ahead" if result.passed else "FAIL"})
    result.raise_for_bias()
    console.print("no signal changed when later data was removed")


app.command("daily")(daily)
app.command("backfill")(backfill)
app.command("runs")(runs)
app.command("lookahead")(lookahead)
