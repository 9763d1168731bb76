from __future__ import annotations

import plotly.graph_objects as go

from llmos_quant.factors import plots
from llmos_quant.factors.tearsheet import report_figures, tear_sheet


def test_one_call_tear_sheet(tmp_path, market):
    path = tmp_path / "ts.html"
    rep = tear_sheet(market.truth["true_polarity"], market.prices, path, title="t", periods=(1, 5),
                     decay_horizons=(1, 2))
    text = path.read_text()
    assert path.stat().st_size > 100_000 and text.count("plotly.js") >= 1
    assert "Rank IC" in text and "Cumulative" in text and "Turnover" in text
    figs = report_figures(rep)
    assert all(isinstance(f, go.Figure) for f in figs.values())
    assert {"ic_timeseries", "ic_histogram", "quantile_returns", "cumulative", "turnover"} <= set(figs)
    fig = plots.ic_timeseries(rep.rank_ic)
    assert len(fig.data) == 2  # daily bars + rolling mean


def test_tear_sheet_shows_row_counts_and_passes_max_loss(tmp_path, market):
    import pytest

    from llmos_quant.errors import MaxLossExceededError

    path = tmp_path / "ts.html"
    rep = tear_sheet(market.truth["true_polarity"], market.prices, path, periods=(1,), decay_horizons=(1,))
    text = path.read_text()
    assert "Factor rows: in, dropped by reason, kept" in text
    for label in ("rows in", "dropped: no price for the asset", "dropped: no forward return", "kept"):
        assert label in text, label
    assert f"{rep.row_counts.kept:,} kept" in text
    with pytest.raises(MaxLossExceededError, match="max_loss=0.01"):
        tear_sheet(market.truth["true_polarity"], market.prices, tmp_path / "x.html", periods=(10,), max_loss=0.01,
                   decay_horizons=(1,))
    assert not (tmp_path / "x.html").exists()
