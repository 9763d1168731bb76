"""A known-answer test of the whole pipeline: the simulator plants a next-session sentiment effect; the shipped
model -> point-in-time signals -> evaluate_factor must recover it, and must find nothing in a market without it."""

from __future__ import annotations

import pytest

from llmos_quant.data.simulate import simulate_market
from llmos_quant.encoders.sentiment import SentimentEncoder
from llmos_quant.factors.evaluate import evaluate_factor
from llmos_quant.signals.pipeline import run_signals
from llmos_quant.signals.store import SignalStore


def _rank_ic_1d(effect_bps: float, encoder: SentimentEncoder, seed: int = 0) -> tuple[float, float]:
    market = simulate_market(n_assets=30, n_sessions=250, effect_bps=effect_bps, seed=seed)
    sessions = market.prices.index.get_level_values("date").unique()
    with SignalStore(":memory:") as store:
        run_signals(market.news, encoder, store, sessions[0], sessions[-3], progress=False)
        signals = store.signals()
    report = evaluate_factor(signals["sentiment"], market.prices, periods=(1,))
    row = report.rank_ic_summary.loc["1D"]
    return float(row["mean"]), float(row["t_stat"])


@pytest.fixture(scope="module")
def encoder() -> SentimentEncoder:
    return SentimentEncoder.create("llmos", progress=False)


def test_the_pipeline_recovers_a_planted_effect(encoder):
    ic, t = _rank_ic_1d(80.0, encoder)
    assert ic > 0.03 and t > 3.0, (ic, t)


@pytest.mark.parametrize("seed", [0, 1])
def test_no_planted_effect_gives_no_significant_ic(encoder, seed):
    ic, t = _rank_ic_1d(0.0, encoder, seed=seed)
    assert abs(t) < 2.5, (ic, t)
