"""Shared helpers for the benchmarks: run a function in a fresh process and report its peak RSS."""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _child(fn: Callable[..., dict[str, Any]], args: tuple, queue: mp.Queue) -> None:
    t0 = time.perf_counter()
    out = fn(*args)
    out.setdefault("wall_s", time.perf_counter() - t0)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(out)


def isolated(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``fn(*args)`` in a spawned process so that its peak RSS is its own."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(fn, args, q))
    p.start()
    while True:
        try:
            out = q.get(timeout=5)
            break
        except Exception:  # queue.Empty: check that the child is still alive
            if not p.is_alive():
                raise RuntimeError(f"benchmark child {fn.__name__} died with exit code {p.exitcode}") from None
    p.join()
    return out


def machine() -> dict[str, Any]:
    import os

    import torch

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version()}


def write(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path
