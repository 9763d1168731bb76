from __future__ import annotations

import pytest

from llmos_quant.data.calendar import assign_sessions
from llmos_quant.data.simulate import simulate_market


def test_simulator_is_labelled_deterministic_and_plants_the_effect():
    a = simulate_market(n_assets=8, n_sessions=60, seed=1)
    b = simulate_market(n_assets=8, n_sessions=60, seed=1)
    assert a.news.equals(b.news) and a.prices.equals(b.prices)
    assert (a.news["source"] == "synthetic").all() and a.params["synthetic"]
    assert all(t.startswith("Z") for t in a.universe["ticker"])
    # the planted effect: return from D+1 open to D+2 open follows the true polarity of D
    import numpy as np

    big = simulate_market(n_assets=20, n_sessions=200, effect_bps=300, seed=2)
    opens = big.prices["open"].unstack("asset")
    nxt = (opens.shift(-2) / opens.shift(-1) - 1).stack()
    joined = big.truth["true_polarity"].to_frame().join(nxt.rename("ret"), how="inner").dropna()
    assert np.corrcoef(joined["true_polarity"], joined["ret"])[0, 1] > 0.3
    sessions = assign_sessions(big.news["published_at"])
    assert sessions.notna().all()
    with pytest.raises(ValueError, match="n_assets"):
        simulate_market(n_assets=0)
