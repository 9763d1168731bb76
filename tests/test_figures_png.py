"""PNG figures for markdown reports (``reporting.figures_to_png``): headless Chromium via Playwright, offline.

In its own module: Playwright's sync API cannot start while another module's browser fixture holds one open."""

from __future__ import annotations

import os
import shutil

import pytest

pytestmark = [pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

def test_figures_to_png_renders_event_study_figures(tmp_path):
    """The study's PNG figures: plotly rendered by headless Chromium, offline, one file per figure, not blank."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    import numpy as np
    from PIL import Image

    from llmos_quant.data.calendar import trading_sessions
    from llmos_quant.data.simulate import simulate_market
    from llmos_quant.factors.event_study import event_study
    from llmos_quant.factors.plots import car_by_quantile
    from llmos_quant.reporting import figures_to_png
    from llmos_quant.signals.aggregate import daily_signals

    m = simulate_market(n_assets=12, n_sessions=120, seed=1)
    scored = m.news.assign(score=np.random.default_rng(0).normal(size=len(m.news)))
    sessions = trading_sessions(m.prices.index.get_level_values("date").min(), m.prices.index.get_level_values("date").max())
    sig = daily_signals(scored, sessions)
    fig = car_by_quantile(event_study(sig, m.prices, window=(-2, 5), n_quantiles=3, score="sentiment_mean"))
    paths = figures_to_png({"car": fig}, tmp_path)
    assert [p.name for p in paths] == ["car.png"]
    img = Image.open(paths[0]).convert("L")
    assert img.size[0] == 1000 and len(set(img.getdata())) > 20  # drawn lines and text, not a blank page
