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


def _cells(text: str, title: str) -> list[str]:
    import re

    block = text.split(f"<h3>{title}</h3>", 1)[1].split("</table>", 1)[0]
    return re.findall(r"<td[^>]*>(.*?)</td>", block)


def test_tear_sheet_formats_tables_and_labels_synthetic(tmp_path, market):
    path = tmp_path / "ts.html"
    rep = tear_sheet(market.truth["true_polarity"], market.prices, path, periods=(1, 5), decay_horizons=(1, 2),
                     synthetic=True)
    text = path.read_text()
    assert "id='synthetic-banner'" in text and "SYNTHETIC data (simulator), not real markets" in text
    assert text.count("plotly.js v") == 1 and "<script src=" not in text
    rows = _cells(text, "Factor rows: in, dropped by reason, kept")
    c = rep.row_counts
    assert rows[rows.index("rows in") + 1] == f"{c.rows_in:,}" and rows[rows.index("kept") + 1] == f"{c.kept:,}"
    assert rows[rows.index("dropped fraction (of rows with a factor value)") + 1] == f"{c.dropped_fraction:.2%}"
    assert not any(r.endswith(".0000") for r in rows)
    summary = _cells(text, "Summary by horizon")  # rows = metrics, columns = 1D, 5D
    i = summary.index("rows_kept")
    assert summary[i + 1: i + 3] == [f"{c.kept:,}"] * 2
    i = summary.index("rank_ic_t_stat")
    assert summary[i + 1] == f"{rep.rank_ic_summary.loc['1D', 't_stat']:.2f}"
    assert summary[summary.index("ls_mean") + 1].endswith("%") and summary[summary.index("dropped_fraction") + 1].endswith("%")
    # the simulator's tickers are detected by default; synthetic=False drops the banner
    tear_sheet(market.truth["true_polarity"], market.prices, tmp_path / "auto.html", periods=(1,), decay_horizons=(1,))
    assert "id='synthetic-banner'" in (tmp_path / "auto.html").read_text()
    tear_sheet(market.truth["true_polarity"], market.prices, tmp_path / "real.html", periods=(1,), decay_horizons=(1,),
               synthetic=False)
    assert "id='synthetic-banner'" not in (tmp_path / "real.html").read_text()


def test_every_tear_sheet_figure_has_title_and_axis_titles(market):
    from llmos_quant.factors.evaluate import evaluate_factor

    rep = evaluate_factor(market.truth["true_polarity"], market.prices, periods=(1, 5), decay_horizons=(1, 2))
    for name, fig in report_figures(rep).items():
        lay = fig.layout
        assert lay.title.text, name
        if fig.data[0].type == "table":
            continue
        xs = [lay[k] for k in lay if k.startswith("xaxis")]
        ys = [lay[k] for k in lay if k.startswith("yaxis")]
        assert all(a.title.text for a in xs) and all(a.title.text for a in ys), name
