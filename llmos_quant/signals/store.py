"""The signal store: one embedded DuckDB file with raw news, scores and daily signals, with provenance.

Tables:
- ``news``: the normalised news frame (``id`` primary key) plus its point-in-time session ``date``;
- ``scores``: one row per (news id, model, weights hash): probabilities, score, valid flag and the ``run_id``
  of the run that computed it;
- ``signals``: one row per (date, asset, model): the columns of ``daily_signals`` plus provenance
  (``model``, ``weights_hash``, ``code_version``, ``run_id``, ``written_at``);
- ``runs``: one row per run: kind, status, the full config, counts (rows in, rejected by reason, dropped),
  package version and git commit, model name, a hash over every weight that produced the scores, and a hash
  of the input news ids. ``signals.run_id`` and ``scores.run_id`` join ``runs.run_id``.

Writes are idempotent (a rerun replaces exactly the (date, asset, model) rows it recomputes; other rows stay)
and atomic: each write is one DuckDB transaction, so a crash mid-write leaves the previous state intact.
DuckDB lets one process write a file, or several read it: jobs hold the store only while they write, and
readers open it read-only (``SignalStore(path, read_only=True)``), waiting a bounded time for a writer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .. import __version__
from ..errors import DataNotFoundError, StoreError, UsageError
from .aggregate import SIGNAL_COLUMNS, validate_signals

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS news (
    id VARCHAR PRIMARY KEY, published_at TIMESTAMPTZ, date_only BOOLEAN, asset VARCHAR, headline VARCHAR,
    body VARCHAR, source VARCHAR, url VARCHAR, date DATE, dup_count INTEGER);
CREATE TABLE IF NOT EXISTS scores (
    id VARCHAR, model VARCHAR, weights_hash VARCHAR, p_negative DOUBLE, p_neutral DOUBLE, p_positive DOUBLE,
    score DOUBLE, valid BOOLEAN, PRIMARY KEY (id, model, weights_hash));
CREATE TABLE IF NOT EXISTS signals (
    date DATE, asset VARCHAR, sentiment DOUBLE, sentiment_mean DOUBLE, news_count INTEGER, surprise DOUBLE,
    days_since_news DOUBLE, extra JSON, model VARCHAR, weights_hash VARCHAR, code_version VARCHAR,
    run_id VARCHAR, written_at TIMESTAMPTZ, PRIMARY KEY (date, asset, model));
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, kind VARCHAR, params JSON, counts JSON, started TIMESTAMPTZ, finished TIMESTAMPTZ);
ALTER TABLE scores ADD COLUMN IF NOT EXISTS run_id VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS status VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS package_version VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS git_commit VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS model VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS weights_hash VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS input_hash VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS error VARCHAR;
"""
_TABLES = ("news", "scores", "signals", "runs")
SCORE_COLUMNS = ["p_negative", "p_neutral", "p_positive", "score", "valid"]


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class SignalStore:
    """A DuckDB-backed store; ``path=':memory:'`` for a throw-away one.

    ``read_only=True`` opens an existing store for reading (a missing file is ``DataNotFoundError``); a writer
    holding the file makes the open wait up to ``lock_timeout`` seconds, then ``StoreError``."""

    def __init__(self, path: str | Path, read_only: bool = False, lock_timeout: float = 30.0) -> None:
        self.path, self.read_only = str(path), read_only
        if self.path != ":memory:":
            file = Path(self.path)
            if read_only and not file.is_file():
                raise DataNotFoundError(f"signal store {file} does not exist; run `llmos-quant signals daily` or "
                                        "`signals backfill` first, or pass --store")
            if not read_only:
                try:
                    file.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    blocker = next((p for p in file.parents if p.exists() and not p.is_dir()), None)
                    why = f"{blocker} is a file, not a folder" if blocker else str(exc)
                    raise StoreError(f"cannot create the folder of the signal store {file}: {why}; pass a writable "
                                     "--store path") from exc
        deadline = time.monotonic() + lock_timeout
        wait = 0.05
        while True:
            try:
                self.con = duckdb.connect(self.path, read_only=read_only)
                break
            except duckdb.IOException as exc:
                locked = "lock" in str(exc).lower()
                if not locked:
                    raise StoreError(f"cannot open the signal store {self.path}: {exc}; {self._open_hint()}") from exc
                if time.monotonic() + wait > deadline:
                    raise StoreError(f"cannot open the signal store {self.path}: {exc}; another process is writing it "
                                     f"(waited {lock_timeout:g}s): retry when it is done, or use another --store") from exc
                time.sleep(wait)
                wait = min(wait * 2, 1.0)
            except duckdb.Error as exc:
                raise StoreError(f"cannot open the signal store {self.path}: {exc}; {self._open_hint()}") from exc
        try:
            if read_only:
                have = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
                if not set(_TABLES) <= have:
                    raise StoreError(f"{self.path} is not a signal store (tables {sorted(have)}, expected {list(_TABLES)})")
            else:
                self.con.execute(_SCHEMA)
        except duckdb.Error as exc:
            self.con.close()
            raise StoreError(f"cannot prepare the signal store {self.path}: {exc}") from exc

    def _open_hint(self) -> str:
        """What to check when DuckDB cannot open the file: the file itself when it is there, else its folder."""
        import os

        file = Path(self.path)
        if file.is_file():
            if not os.access(file, os.R_OK | (0 if self.read_only else os.W_OK)):
                return "the file cannot be read or written by this user (permissions, read-only file system)"
            return "is it a DuckDB file written by llmos-quant? Restore it from a backup, or pass another --store"
        return (f"the folder {file.parent} does not let this user create files (permissions, read-only file system); "
                "pass a writable --store path")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> SignalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """DuckDB errors of a read (a damaged block: "Corrupt database file ... checksum") as ``StoreError``."""
        try:
            yield
        except duckdb.Error as exc:
            raise StoreError(f"reading the signal store {self.path} failed: {type(exc).__name__}: {exc}; the file is "
                             "damaged or was not written by llmos-quant: restore it from a backup, or pass another "
                             "--store (a new store rebuilds its news and signals with `signals backfill`)") from exc

    # ---- writes ---------------------------------------------------------------------------------
    def _transaction(self, work: Callable[[], None]) -> None:
        if self.read_only:
            raise StoreError(f"the signal store {self.path} was opened read-only; open it with read_only=False to write")
        try:
            self.con.execute("BEGIN TRANSACTION")
            work()
            self.con.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            if isinstance(exc, duckdb.Error | OSError):  # disk full, I/O errors: name the real cause
                raise StoreError(f"writing the signal store {self.path} failed, nothing was changed: "
                                 f"{type(exc).__name__}: {exc}") from exc
            raise

    def write_news(self, news: pd.DataFrame) -> int:
        """Insert or replace news rows by id (idempotent)."""
        frame = news.copy()
        if "dup_count" not in frame:
            frame["dup_count"] = 1
        if "date" not in frame:
            frame["date"] = pd.NaT
        frame = frame[["id", "published_at", "date_only", "asset", "headline", "body", "source", "url", "date",
                       "dup_count"]]

        def work() -> None:
            self.con.register("incoming_news", frame)
            self.con.execute("INSERT OR REPLACE INTO news SELECT * FROM incoming_news")
            self.con.unregister("incoming_news")

        self._transaction(work)
        return len(frame)

    def write_scores(self, ids: Iterable[str], scores: pd.DataFrame, model: str, weights_hash: str,
                     run_id: str | None = None) -> int:
        frame = scores[SCORE_COLUMNS].copy()
        frame.insert(0, "id", list(ids))
        frame.insert(1, "model", model)
        frame.insert(2, "weights_hash", weights_hash or "")
        frame["run_id"] = run_id

        def work() -> None:
            self.con.register("incoming_scores", frame)
            self.con.execute("INSERT OR REPLACE INTO scores BY NAME SELECT * FROM incoming_scores")
            self.con.unregister("incoming_scores")

        self._transaction(work)
        return len(frame)

    def cached_scores(self, ids: Iterable[str], model: str, weights_hash: str) -> pd.DataFrame:
        """Scores already stored for these ids under this model and weights hash, indexed by id."""
        wanted = pd.DataFrame({"id": list(ids)})
        self.con.register("wanted_ids", wanted)
        try:
            with self._reading():
                out = self.con.execute(
                    "SELECT s.* FROM scores s JOIN wanted_ids w USING (id) WHERE model = ? AND weights_hash = ?",
                    [model, weights_hash or ""]).df()
        finally:
            self.con.unregister("wanted_ids")
        return out.set_index("id")

    def write_signals(self, signals: pd.DataFrame, model: str, weights_hash: str = "", run_id: str | None = None,
                      _between: Callable[[], None] | None = None) -> int:
        """Replace exactly the (date, asset, model) rows in ``signals`` with the new ones, atomically; rows of
        other assets, dates or models stay.

        ``_between`` is a test hook called after the delete and before the insert.
        """
        signals = validate_signals(signals, columns=SIGNAL_COLUMNS)
        frame = signals.reset_index()
        extra_cols = [c for c in signals.columns if c not in SIGNAL_COLUMNS]
        extra = frame[extra_cols].apply(lambda r: json.dumps({k: (None if pd.isna(v) else float(v))
                                                              for k, v in r.items()}), axis=1) if extra_cols else None
        frame = frame[["date", "asset", *SIGNAL_COLUMNS]].copy()
        frame["extra"] = extra if extra is not None else "{}"
        frame["model"], frame["weights_hash"], frame["code_version"] = model, weights_hash or "", __version__
        frame["run_id"] = run_id or uuid.uuid4().hex[:12]
        frame["written_at"] = pd.Timestamp.now(tz="UTC")
        keys = frame[["date", "asset"]].copy()

        def work() -> None:
            self.con.register("keys_to_replace", keys)
            self.con.execute("DELETE FROM signals WHERE model = ? AND (date, asset) IN "
                             "(SELECT (CAST(date AS DATE), asset) FROM keys_to_replace)", [model])
            if _between is not None:
                _between()
            self.con.register("incoming_signals", frame)
            self.con.execute("INSERT INTO signals BY NAME SELECT * FROM incoming_signals")
            self.con.unregister("incoming_signals")
            self.con.unregister("keys_to_replace")

        self._transaction(work)
        return len(frame)

    def log_run(self, kind: str, params: dict[str, Any], counts: dict[str, Any], started: pd.Timestamp,
                run_id: str | None = None, status: str = "ok", provenance: dict[str, Any] | None = None,
                error: str | None = None) -> str:
        """Insert or replace one ``runs`` row (``provenance``: package_version, git_commit, model, weights_hash,
        input_hash)."""
        run_id = run_id or new_run_id()
        prov = provenance or {}
        row = pd.DataFrame([{
            "run_id": run_id, "kind": kind, "params": json.dumps(params, default=str),
            "counts": json.dumps(counts, default=str), "started": started,
            "finished": pd.Timestamp.now(tz="UTC") if status != "running" else pd.NaT, "status": status,
            "package_version": prov.get("package_version", __version__), "git_commit": prov.get("git_commit"),
            "model": prov.get("model"), "weights_hash": prov.get("weights_hash"), "input_hash": prov.get("input_hash"),
            "error": error}])
        row["started"] = pd.to_datetime(row["started"], utc=True)
        row["finished"] = pd.to_datetime(row["finished"], utc=True)

        def work() -> None:
            self.con.register("incoming_run", row)
            self.con.execute("INSERT OR REPLACE INTO runs BY NAME SELECT * FROM incoming_run")
            self.con.unregister("incoming_run")

        self._transaction(work)
        return run_id

    def runs(self, limit: int | None = None) -> pd.DataFrame:
        """The runs table, newest first, with ``params`` and ``counts`` as JSON text."""
        sql = "SELECT * FROM runs ORDER BY started DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with self._reading():
            return self.con.execute(sql).df()

    # ---- reads ----------------------------------------------------------------------------------
    def signals(self, model: str | None = None, start: str | None = None, end: str | None = None,
                assets: Iterable[str] | None = None) -> pd.DataFrame:
        """Stored signals as a (date, asset) frame; provenance columns included."""
        sql, args = "SELECT * FROM signals WHERE 1=1", []
        if model:
            sql += " AND model = ?"
            args.append(model)
        if start:
            sql += " AND date >= ?"
            args.append(pd.Timestamp(start).date())
        if end:
            sql += " AND date <= ?"
            args.append(pd.Timestamp(end).date())
        with self._reading():
            df = self.con.execute(sql + " ORDER BY date, asset", args).df()
        if assets is not None:
            df = df[df["asset"].isin(set(assets))]
        models = df["model"].unique()
        if len(models) > 1:
            raise UsageError(f"the store holds signals of several models {list(models)}; pick one with --model NAME "
                             f"(model=NAME in the library), e.g. --model {models[0]}")
        df["date"] = pd.to_datetime(df["date"])
        if len(df) and df["extra"].ne("{}").any():  # optional columns (e.g. sentiment_<event>) stored as JSON
            extra = pd.DataFrame([json.loads(x) if x else {} for x in df["extra"]], index=df.index).astype(float)
            df = pd.concat([df, extra], axis=1)
        return df.drop(columns=["extra"]).set_index(["date", "asset"]).sort_index()

    def counts(self) -> dict[str, int]:
        with self._reading():
            return {t: int(self.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0])
                    for t in ("news", "scores", "signals", "runs")}
