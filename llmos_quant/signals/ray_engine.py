"""The Ray Data scoring engine for backfills (``llmos-quant signals backfill --engine ray``).

Only the scoring step differs from the local engine: the items the store's score cache lacks go through
``ray.data.from_pandas(todo[["id", "headline"]]).map_batches(ScorerActor, ...)`` over a pool of actors that
each load the model once; each actor writes the scores of every batch it gets as one Parquet shard in a scratch
folder beside the store and returns the shard's path; the driver reads the shards back, and ``run_signals`` does
the rest (cache write, aggregate, store) exactly as for the local engine.

The actors write their own shards instead of a ``Dataset.write_parquet`` stage: on a machine whose CPUs the actors
hold, the write stage's extra worker processes took about 40% of the actors' CPU time (``bench/ray_backfill.py``).

``ray_session`` starts a local Ray instance (and shuts it down at the end, even on error), connects to a
cluster given its address (and leaves it running), or reuses an instance this process already started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import FetchError, UsageError

log = logging.getLogger(__name__)

ADDRESS_RE = re.compile(r"^(?:ray://)?(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")
CONNECT_TIMEOUT_S = 5.0
OUT_COLUMNS = ["p_negative", "p_neutral", "p_positive", "score", "label", "valid"]


def check_address(address: str) -> tuple[str, int] | None:
    """``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` -> (host, port) (None for ``auto``); else ``UsageError``."""
    if address == "auto":
        return None
    m = ADDRESS_RE.match(address.strip())
    if not m or not 0 < int(m["port"]) < 65536:
        raise UsageError(f"--ray-address {address!r}: expected HOST:PORT of a Ray head node (e.g. 10.0.0.5:6379), "
                         "ray://HOST:PORT for Ray Client, or 'auto'")
    return m["host"].strip("[]"), int(m["port"])


def _reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast (``FetchError``) when nothing listens at the address, instead of Ray's long GCS retry loop."""
    hp = check_address(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=timeout):
            pass
    except OSError as exc:
        raise FetchError(f"cannot reach the Ray cluster at {address}: {exc}; start it with `ray start --head` on the "
                         "head node (port 6379 by default), check the address and firewall, or drop --ray-address to "
                         "start a local Ray") from exc


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray for one job: connect to ``address`` (left running), reuse this process's Ray, or start a local one
    with ``num_cpus`` CPUs (shut down on exit, error or not)."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"--engine ray needs Ray Data ({exc}); install it with pip install 'ray[data]>=2.9', or use "
                         "--engine local") from exc

    if address is not None:
        _reachable(address)
    if ray.is_initialized():  # e.g. a notebook or test that already called ray.init: use it, leave it running
        yield ray
        return
    if address is not None:
        try:
            ray.init(address=address, log_to_driver=False)
        except Exception as exc:  # ConnectionError, RuntimeError of a version mismatch, ...
            raise FetchError(f"cannot connect to the Ray cluster at {address}: {type(exc).__name__}: {exc}") from exc
        try:
            yield ray
        finally:
            ray.shutdown()  # disconnects this driver only: a cluster we joined keeps running
        return
    ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


class ScorerActor:
    """One Ray actor: loads the model once, then scores batches of (id, headline)."""

    def __init__(self, backend: str, model_path: str | None, batch_size: int, threads: int | None,
                 shard_dir: str | None = None) -> None:
        import torch

        from ..encoders.sentiment import TRANSFORMER_BACKENDS, SentimentEncoder

        if threads:  # a CPU actor owns one core: no intra-op, inter-op or tokenizer thread pools beyond it
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
            torch.set_num_threads(threads)
            with contextlib.suppress(RuntimeError):  # already set in this worker process (an actor reused by Ray)
                torch.set_num_interop_threads(threads)
        kwargs = {"batch_size": batch_size, "progress": False} if backend in TRANSFORMER_BACKENDS else {}
        self.encoder = SentimentEncoder.create(backend, model_path, **kwargs)
        self.shard_dir = shard_dir

    def score(self, batch: pd.DataFrame) -> pd.DataFrame:
        out = self.encoder.score(batch["headline"].reset_index(drop=True))
        out.insert(0, "id", batch["id"].to_numpy())
        return out[["id", *OUT_COLUMNS]]

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Scores of ``batch``; with a ``shard_dir``, written there as one Parquet shard: returns (shard, rows)."""
        out = self.score(batch)
        if self.shard_dir is None:
            return out
        import uuid

        path = Path(self.shard_dir) / f"part-{uuid.uuid4().hex}.parquet"
        tmp = path.with_suffix(".tmp")
        out.to_parquet(tmp, index=False)
        os.replace(tmp, path)  # a shard is complete or absent
        return pd.DataFrame({"shard": [str(path)], "rows": [len(out)]})


class RayScorer:
    """A ``run_signals`` ``score_fn`` that scores on Ray Data (see the module docstring).

    ``workers``: actors in the pool (default: the GPUs Ray reports when it has any, else its CPUs). Each actor
    takes one GPU, or one CPU with torch pinned to one thread. ``scratch``: the folder the Parquet shards go to
    (a fresh subfolder, removed after reading); on a multi-node cluster it must be on a filesystem every node
    sees. ``last`` holds the last call's timings and pool size."""

    def __init__(self, backend: str, model_path: str | None = None, batch_size: int = 64, workers: int | None = None,
                 scratch: str | Path | None = None, rows_per_call: int | None = None, progress: bool = True) -> None:
        self.backend, self.model_path, self.batch_size = backend, model_path, batch_size
        self.workers, self.rows_per_call, self.progress = workers, rows_per_call, progress
        self.scratch = Path(scratch) if scratch is not None else None
        self.last: dict[str, Any] = {}

    def resources(self) -> tuple[int, bool]:
        """(actors, on GPU) for the connected cluster."""
        import ray

        res = ray.cluster_resources()
        gpus, cpus = int(res.get("GPU", 0)), int(res.get("CPU", 0))
        use_gpu = gpus > 0
        limit = gpus if use_gpu else max(cpus, 1)
        workers = self.workers or limit
        if workers > limit:
            raise UsageError(f"--ray-workers {workers}: the Ray cluster has only {limit} {'GPU' if use_gpu else 'CPU'}"
                             f"{'s' if limit > 1 else ''} (one actor each); pass at most {limit}")
        return workers, use_gpu

    def __call__(self, todo: pd.DataFrame) -> pd.DataFrame:
        import ray

        t0 = time.perf_counter()
        workers, use_gpu = self.resources()
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = self.progress
        if hasattr(ctx, "enable_operator_progress_bars"):
            ctx.enable_operator_progress_bars = self.progress
        frame = todo[["id", "headline"]].reset_index(drop=True)
        # one block per model call, so that every actor gets work (from_pandas of one frame is a single block) and
        # the batches, hence the scores, do not depend on the number of workers
        step = self.rows_per_call or (16384 if use_gpu else 1024)  # rows per model call: GPUs want big calls
        ds = ray.data.from_pandas([frame.iloc[i:i + step] for i in range(0, len(frame), step)])
        res = {"num_gpus": 1} if use_gpu else {"num_cpus": 1}
        base = self.scratch or Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=".ray-scores-", dir=base))
        try:
            ds = ds.map_batches(ScorerActor, fn_constructor_args=(self.backend, self.model_path, self.batch_size,
                                                                   None if use_gpu else 1, str(folder)),
                                batch_size=step, batch_format="pandas",
                                compute=ray.data.ActorPoolStrategy(size=workers), **res)
            written, t_first = [], None
            for row in ds.iter_rows():  # streams: shards are listed as actors finish them
                written.append(row["shard"])
                t_first = t_first or time.perf_counter()
            t_written = time.perf_counter()
            shards = sorted(Path(p) for p in written)
            out = pd.concat([pd.read_parquet(p) for p in shards], ignore_index=True) if shards else pd.DataFrame(
                columns=["id", *OUT_COLUMNS])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        out = out.drop_duplicates("id").set_index("id")
        missing = pd.Index(frame["id"]).difference(out.index)
        if len(missing):
            raise RuntimeError(f"the Ray scoring pass returned no score for {len(missing)} of {len(frame)} items "
                               f"(e.g. {list(missing[:3])})")
        out = out.reindex(frame["id"].to_numpy())
        out.index.name = None
        out["valid"] = out["valid"].astype(bool)
        self.last = {"workers": workers, "gpu": use_gpu, "shards": len(shards), "items": len(frame),
                     "seconds_score_write": t_written - t0, "seconds_total": time.perf_counter() - t0,
                     "seconds_to_first_shard": (t_first or t_written) - t0, "rows_per_call": step}
        return out
