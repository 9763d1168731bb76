"""The signal store: one embedded DuckDB file with raw news, scores and daily signals, with provenance.

Tables:
- ``news``: the normalised news frame (``id`` primary key) plus its point-in-time session ``date``;
- ``scores``: one row per (news id, model, weights hash): probabilities, score, valid flag;
- ``signals``: one row per (date, asset, model): the columns of ``daily_signals`` plus provenance
  (``model``, ``weights_hash``, ``code_version``, ``run_id``, ``written_at``);
- ``runs``: one row per CLI run (kind, parameters, counts, times).

Writes are idempotent (rewriting a day replaces its rows, never duplicates them) and atomic: each write
is one DuckDB transaction, so a crash mid-write leaves the previous state intact.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from .. import __version__
from ..errors import StoreError
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
"""


class SignalStore:
    """A DuckDB-backed store; ``path=':memory:'`` for a throw-away one."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(self.path)
            self.con.execute(_SCHEMA)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the signal store {self.path}: {exc}; is another process writing it?") from exc

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> SignalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writes ---------------------------------------------------------------------------------
    def _transaction(self, work: Callable[[], None]) -> None:
        self.con.execute("BEGIN TRANSACTION")
        try:
            work()
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
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

    def write_scores(self, ids: Iterable[str], scores: pd.DataFrame, model: str, weights_hash: str) -> int:
        frame = scores[["p_negative", "p_neutral", "p_positive", "score", "valid"]].copy()
        frame.insert(0, "id", list(ids))
        frame.insert(1, "model", model)
        frame.insert(2, "weights_hash", weights_hash or "")

        def work() -> None:
            self.con.register("incoming_scores", frame)
            self.con.execute("INSERT OR REPLACE INTO scores SELECT * FROM incoming_scores")
            self.con.unregister("incoming_scores")

        self._transaction(work)
        return len(frame)

    def cached_scores(self, ids: Iterable[str], model: str, weights_hash: str) -> pd.DataFrame:
        """Scores already stored for these ids under this model and weights hash, indexed by id."""
        wanted = pd.DataFrame({"id": list(ids)})
        self.con.register("wanted_ids", wanted)
        try:
            out = self.con.execute(
                "SELECT s.* FROM scores s JOIN wanted_ids w USING (id) WHERE model = ? AND weights_hash = ?",
                [model, weights_hash or ""]).df()
        finally:
            self.con.unregister("wanted_ids")
        return out.set_index("id")

    def write_signals(self, signals: pd.DataFrame, model: str, weights_hash: str = "", run_id: str | None = None,
                      _between: Callable[[], None] | None = None) -> int:
        """Replace the rows of every date in ``signals`` (for this model) with the new ones, atomically.

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
        dates = pd.DataFrame({"date": pd.to_datetime(frame["date"].unique())})

        def work() -> None:
            self.con.register("dates_to_replace", dates)
            self.con.execute("DELETE FROM signals WHERE model = ? AND date IN (SELECT CAST(date AS DATE) "
                             "FROM dates_to_replace)", [model])
            if _between is not None:
                _between()
            self.con.register("incoming_signals", frame)
            self.con.execute("INSERT INTO signals SELECT * FROM incoming_signals")
            self.con.unregister("incoming_signals")
            self.con.unregister("dates_to_replace")

        self._transaction(work)
        return len(frame)

    def log_run(self, kind: str, params: dict[str, Any], counts: dict[str, Any], started: pd.Timestamp) -> str:
        run_id = uuid.uuid4().hex[:12]
        self.con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                         [run_id, kind, json.dumps(params, default=str), json.dumps(counts, default=str),
                          started, pd.Timestamp.now(tz="UTC")])
        return run_id

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
        df = self.con.execute(sql + " ORDER BY date, asset", args).df()
        if assets is not None:
            df = df[df["asset"].isin(set(assets))]
        models = df["model"].unique()
        if len(models) > 1:
            raise StoreError(f"the store holds signals of several models {list(models)}; pass model=...")
        df["date"] = pd.to_datetime(df["date"])
        if len(df) and df["extra"].ne("{}").any():  # optional columns (e.g. sentiment_<event>) stored as JSON
            extra = pd.DataFrame([json.loads(x) if x else {} for x in df["extra"]], index=df.index).astype(float)
            df = pd.concat([df, extra], axis=1)
        return df.drop(columns=["extra"]).set_index(["date", "asset"]).sort_index()

    def counts(self) -> dict[str, int]:
        return {t: int(self.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0])
                for t in ("news", "scores", "signals", "runs")}
