from __future__ import annotations

import json

import numpy as np
import pandas as pd

from llmos_quant.backtest import report as R
from llmos_quant.backtest.runner import BacktestConfig, run_backtest


def test_report_writes_html_and_results(tmp_path, market):
    sig = market.truth["true_polarity"].rename("sentiment").to_frame().reindex(market.prices.index)
    sig["news_count"], sig["surprise"] = sig["sentiment"].notna().astype(int), np.nan
    res = run_backtest(market.prices, sig, "long_short", BacktestConfig(params={"min_assets": 3}))
    path = R.backtest_report(res, market.prices, sig, tmp_path / "bt.html")
    text = path.read_text()
    for title in ("Equity", "Drawdown", "Monthly returns", "Exposure", "Trades on"):
        assert title in text
    folder = tmp_path / "bt"
    stats = json.loads((folder / "stats.json").read_text())
    assert stats["stats"]["orders"] == len(res.orders) and "sharpe" in stats["analyzers"]
    assert len(pd.read_csv(folder / "returns.csv")) == len(res.returns)
    m = R.monthly_returns(res.returns)
    assert m.shape[1] == 12
    assert res.stats()["total_return"] > 0  # the planted effect makes money


def _run(market):
    sig = market.truth["true_polarity"].rename("sentiment").to_frame().reindex(market.prices.index)
    sig["news_count"], sig["surprise"] = sig["sentiment"].notna().astype(int), np.nan
    return sig, run_backtest(market.prices, sig, "long_short", BacktestConfig(params={"min_assets": 3, "quantiles": 3}))


def _cells(text: str, title: str) -> list[str]:
    """The cells of the HTML table under the heading ``title``."""
    import re

    block = text.split(f"<h3>{title}</h3>", 1)[1].split("</table>", 1)[0]
    return re.findall(r"<td[^>]*>(.*?)</td>", block)


def test_report_formats_numbers_config_and_labels_synthetic(tmp_path, market):
    sig, res = _run(market)
    path = R.backtest_report(res, market.prices, sig, tmp_path / "bt.html", synthetic=True)
    text = path.read_text()
    assert "id='synthetic-banner'" in text and "SYNTHETIC data (simulator), not real markets" in text
    stats = _cells(text, "Run statistics")
    s = res.stats()
    assert stats[stats.index("orders") + 1] == f"{s['orders']:,}" and stats[stats.index("trades") + 1] == f"{s['trades']:,}"
    assert stats[stats.index("total_return") + 1] == f"{s['total_return']:.2%}"
    assert stats[stats.index("max_drawdown") + 1].endswith("%") and stats[stats.index("annual_vol") + 1].endswith("%")
    assert stats[stats.index("sharpe") + 1] == f"{s['sharpe']:.2f}"
    assert not any(c.endswith(".0000") for c in stats)
    cfg = _cells(text, "Configuration")
    assert cfg[cfg.index("params.quantiles") + 1] == "3" and cfg[cfg.index("cash") + 1] == "1,000,000"
    assert '"params": {' not in text  # no raw JSON config
    issues = _cells(text, "Data issues: signal rows and price bars not used as given")
    assert issues[issues.index("signal rows in the window") + 1] == f"{res.data_issues.signal_rows:,}"
    # monthly + annual table in %, rolling Sharpe panel with axis titles
    monthly = _cells(text, "Monthly and annual returns")
    assert monthly[0] == str(res.returns.index[0].year) and all(c.endswith("%") for c in monthly[1:] if c)
    assert "Rolling Sharpe (63-session window, annualised)" in text and "Sharpe ratio (annualised)" in text
    assert text.count("plotly.js v") == 1 and "<script src=" not in text  # plotly.js inlined once: renders offline
    folder = tmp_path / "bt"
    stats_json = json.loads((folder / "stats.json").read_text())
    assert next(iter(stats_json)) == "data" and stats_json["data"].startswith("SYNTHETIC")
    for name in ("returns", "equity", "positions", "trades", "orders"):
        frame = pd.read_csv(folder / f"{name}.csv")
        assert "data" in frame.columns, name
        assert (frame["data"] == "SYNTHETIC data (simulator), not real markets").all(), name
    assert len(pd.read_csv(folder / "returns.csv")) == len(res.returns)


def test_report_on_real_looking_tickers_has_no_synthetic_label(tmp_path, market):
    sig, res = _run(market)
    # the simulator's tickers are detected (synthetic=None) ...
    text = R.backtest_report(res, market.prices, sig, tmp_path / "auto.html").read_text()
    assert "id='synthetic-banner'" in text
    # ... an explicit False, or other tickers, drop every label
    path = R.backtest_report(res, market.prices, sig, tmp_path / "bt.html", synthetic=False)
    assert "id='synthetic-banner'" not in path.read_text()
    stats = json.loads((tmp_path / "bt" / "stats.json").read_text())
    assert "data" not in stats and "data" not in pd.read_csv(tmp_path / "bt" / "orders.csv").columns
    from llmos_quant.reporting import looks_simulated

    renamed = market.prices.rename(index=lambda a: a.replace("Z", "Q", 1) if isinstance(a, str) else a, level="asset")
    assert looks_simulated(market.prices) and not looks_simulated(renamed)


def test_heatmap_height_grows_with_years_and_rolling_sharpe():
    def result(n: int):
        idx = pd.bdate_range("2019-01-01", periods=n)
        r = pd.Series(np.random.default_rng(0).normal(0.0005, 0.01, n), index=idx, name="returns")
        from llmos_quant.backtest.runner import BacktestResult

        return BacktestResult("s", BacktestConfig(), r, (1 + r).cumprod() * 1e6, r.rename("benchmark") * 0.5,
                              pd.DataFrame(columns=["date", "asset", "size", "value"]), pd.DataFrame(),
                              pd.DataFrame(columns=["date", "asset", "side", "price", "status"]), {})

    one, three = R.monthly_heatmap(result(200)), R.monthly_heatmap(result(3 * 261))
    assert one.layout.height >= 150 + 60 and three.layout.height - one.layout.height >= 2 * 60
    assert three.data[0].text[0][0].endswith("%") and one.layout.xaxis.title.text and one.layout.yaxis.title.text
    table = R.monthly_returns_table(result(3 * 261).returns)
    assert list(table.columns) == [*R.MONTHS, "Year"] and len(table) == 3
    res = result(300)
    rs = R.rolling_sharpe(res.returns, 63)
    assert rs.iloc[:62].isna().all() and rs.iloc[62:].notna().all()
    manual = res.returns.iloc[-63:]
    assert np.isclose(rs.iloc[-1], manual.mean() / manual.std() * np.sqrt(252))
    fig = R.rolling_sharpe_chart(res)
    assert fig.layout.xaxis.title.text == "date" and "Sharpe" in fig.layout.yaxis.title.text


def test_every_backtest_figure_has_title_and_axis_titles(market):
    sig, res = _run(market)
    figs = [R.equity_curve(res), R.drawdown_chart(res), R.rolling_sharpe_chart(res), R.monthly_heatmap(res),
            R.exposure_chart(res), R.trades_on_price(res, market.prices, sig)]
    for fig in figs:
        lay = fig.layout
        assert lay.title.text, fig
        xs = [lay[k] for k in lay if k.startswith("xaxis")]
        ys = [lay[k] for k in lay if k.startswith("yaxis")]
        assert any(a.title.text for a in xs) and all(a.title.text for a in ys), lay.title.text


def test_format_rules():
    from llmos_quant.reporting import flatten_mapping, format_frame, format_value

    assert format_value(684.0) == "684" and format_value(np.int64(3000)) == "3,000" and format_value(0.12489, "pct") == "12.49%"
    assert format_value(3.7298, "ratio") == "3.73" and format_value(np.nan) == "" and format_value(0.1, "plain") == "0.1"
    shown = format_frame(pd.DataFrame({"count": [3000.0, 12.0, 0.0312]},
                                      index=pd.Index(["rows in", "dropped: no forward return", "dropped fraction"], name="r")))
    assert shown["count"].tolist() == ["3,000", "12", "3.12%"]
    assert flatten_mapping({"a": 1, "params": {"quantiles": 5, "x": {"y": 2}}, "l": ["u", "v"]}) == \
        {"a": 1, "params.quantiles": 5, "params.x.y": 2, "l": "u, v"}
