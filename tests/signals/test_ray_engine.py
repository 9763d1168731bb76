"""The Ray Data engine (``--engine ray``) gives the local engine's signals; a bad cluster address fails fast.

One local Ray (2 CPUs) is started per module and reused by every job (``ray_session`` reuses an initialized Ray).
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pandas as pd
import pytest

from llmos_quant.errors import FetchError, UsageError
from llmos_quant.jobs.signals import SignalJobConfig, run_signal_job
from llmos_quant.signals.store import SignalStore

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow

PROVENANCE = ["run_id", "written_at"]  # differ per run by design; every other stored column must be identical


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    if started:
        ray.shutdown()


def _both_engines(tmp_path, ray_workers=None, **kw):
    """Run the same backfill with each engine into its own store; return (signals, scores) per engine."""
    out = {}
    for engine in ("local", "ray"):
        extra = {"ray_workers": ray_workers} if engine == "ray" else {}
        cfg = SignalJobConfig("backfill", store=tmp_path / f"{engine}.duckdb", engine=engine, progress=False, **kw, **extra)
        res = run_signal_job(cfg)
        assert res.summary.scored_new > 0
        with SignalStore(cfg.store, read_only=True) as st:
            sig = st.signals().drop(columns=PROVENANCE)
            ids = st.con.execute("SELECT id FROM news").df()["id"]
            scores = st.cached_scores(ids, res.model, res.weights_hash).sort_index()
        out[engine] = (sig, scores, res)
    return out


def _assert_same(out, exact=True):
    """Identical stored signals. ``exact=False`` (transformer models): the two engines batch and pad texts
    differently, so the float32 scores may differ in the last bits; counts stay exact, floats agree to 1e-6."""
    (sl, cl, rl), (sr, cr, rr) = out["local"], out["ray"]
    assert rl.summary.scored_new == rr.summary.scored_new and rl.summary.signal_rows == rr.summary.signal_rows
    assert cl.index.equals(cr.index) and len(cl) == rl.summary.scored_new
    np.testing.assert_allclose(cr["score"].to_numpy(float), cl["score"].to_numpy(float), atol=1e-6, rtol=0)
    assert (cr["valid"] == cl["valid"]).all()
    if exact:
        pd.testing.assert_frame_equal(sr, sl, check_exact=True)
    else:
        pd.testing.assert_frame_equal(sr, sl, check_exact=False, rtol=0, atol=1e-6)
        for col in ("news_count", "days_since_news", "model", "weights_hash"):
            assert sr[col].equals(sl[col]), col


def test_ray_engine_matches_local_on_the_simulator_lm(tmp_path, local_ray):
    _assert_same(_both_engines(tmp_path, start="2021-02-01", end="2021-04-30", source="synthetic", backend="lm"))


def test_ray_engine_matches_local_with_the_shipped_model(tmp_path, local_ray):
    _assert_same(_both_engines(tmp_path, start="2021-03-01", end="2021-03-12", source="synthetic", backend="llmos",
                               news_lookback_days=10, ray_workers=2), exact=False)


@pytest.mark.data
def test_ray_engine_matches_local_on_a_reuters_slice(tmp_path, local_ray, shared_data):
    _assert_same(_both_engines(tmp_path, start="2016-10-03", end="2016-10-31", source="reuters", backend="llmos",
                               universe=("AAPL", "MSFT", "AMZN", "JPM", "XOM"), news_lookback_days=20), exact=False)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_ray_address_fails_fast_with_exit_5(tmp_path, capsys, local_ray):
    from llmos_quant.cli.main import main

    t0 = time.perf_counter()
    code = main(["signals", "backfill", "--start", "2021-02-01", "--end", "2021-02-05", "--source", "synthetic",
                 "--backend", "lm", "--store", str(tmp_path / "s.duckdb"), "--quiet", "--engine", "ray",
                 "--ray-address", f"127.0.0.1:{_closed_port()}"])
    err = capsys.readouterr().err
    assert code == FetchError.exit_code == 5, err
    assert "cannot reach the Ray cluster" in err and "Traceback" not in err
    assert time.perf_counter() - t0 < 20
    assert not (tmp_path / "s.duckdb").exists()  # failed before any work


@pytest.mark.parametrize("kw", [{"engine": "spark"}, {"ray_address": "10.0.0.5:6379"},
                                {"engine": "ray", "ray_address": "no-port"}, {"engine": "ray", "ray_workers": 0}])
def test_bad_engine_options_are_usage_errors(tmp_path, kw):
    with pytest.raises(UsageError):
        SignalJobConfig("backfill", "2021-02-01", "2021-02-05", source="synthetic", store=tmp_path / "s.duckdb", **kw)


def test_a_local_ray_is_shut_down_even_when_the_job_fails(monkeypatch):
    from llmos_quant.signals import ray_engine

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(("init", kw)))
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append(("shutdown", {})))
    with pytest.raises(RuntimeError, match="boom"), ray_engine.ray_session(None, num_cpus=2):
        raise RuntimeError("boom")
    assert [c[0] for c in calls] == ["init", "shutdown"] and calls[0][1]["num_cpus"] == 2
