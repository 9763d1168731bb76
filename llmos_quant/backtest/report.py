"""plotly figures and the one-page HTML report of a backtest run (no Backtrader/matplotlib plotting).

``backtest_report`` also writes a results folder beside the HTML file (``bt.html`` -> ``bt/``): returns.csv,
equity.csv, positions.csv, trades.csv, orders.csv and stats.json. When the run is on SYNTHETIC (simulator) data,
stats.json carries ``"data": "SYNTHETIC data (simulator), not real markets"`` as its first key and every CSV
a ``data`` column (the first one after the date index, if any) holding that same text on every row (a column,
not a comment line, so that plain
``pd.read_csv`` still reads the files and the label survives loading, filtering and concatenation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..factors.plots import TEMPLATE, table
from ..factors.tearsheet import write_html
from ..reporting import SYNTHETIC_LABEL, flatten_mapping, resolve_synthetic
from .runner import BacktestResult, config_dict


def equity_curve(result: BacktestResult) -> go.Figure:
    strat = (1 + result.returns.fillna(0)).cumprod()
    bench = (1 + result.benchmark.fillna(0)).cumprod()
    fig = go.Figure()
    fig.add_scatter(x=strat.index, y=strat, name=result.strategy, mode="lines")
    fig.add_scatter(x=bench.index, y=bench, name="equal-weight universe", mode="lines", line={"dash": "dot"})
    fig.update_layout(title="Equity (growth of 1) vs benchmark", template=TEMPLATE, xaxis_title="date",
                      yaxis_title="growth of 1", height=380)
    return fig


def drawdown_chart(result: BacktestResult) -> go.Figure:
    eq = (1 + result.returns.fillna(0)).cumprod()
    dd = eq / eq.cummax() - 1
    fig = go.Figure(go.Scatter(x=dd.index, y=dd, fill="tozeroy", name="drawdown", line={"color": "firebrick"}))
    fig.update_layout(title="Drawdown", template=TEMPLATE, xaxis_title="date", yaxis_title="drawdown from peak",
                      yaxis_tickformat=".1%", height=300)
    return fig


def monthly_returns(returns: pd.Series) -> pd.DataFrame:
    r = returns.fillna(0)
    m = (1 + r).groupby([r.index.year, r.index.month]).prod() - 1
    m.index = m.index.set_names(["year", "month"])
    return m.unstack("month").reindex(columns=range(1, 13))


MONTHS = [pd.Timestamp(2000, k, 1).strftime("%b") for k in range(1, 13)]


def monthly_returns_table(returns: pd.Series) -> pd.DataFrame:
    """Rows = years, columns = Jan..Dec and Year: compounded returns (fractions; NaN for months without sessions)."""
    m = monthly_returns(returns)
    r = returns.fillna(0)
    year = ((1 + r).groupby(r.index.year).prod() - 1).reindex(m.index)
    out = m.set_axis(MONTHS, axis=1)
    out["Year"] = year
    out.index.name = "year"
    return out


def monthly_heatmap(result: BacktestResult, row_px: int = 60) -> go.Figure:
    """Monthly returns (%) as a year x month heatmap, ``row_px`` pixels per year row, each cell labelled."""
    m = monthly_returns(result.returns)
    z = m.to_numpy() * 100
    text = [["" if np.isnan(v) else f"{v:.1f}%".replace("-0.0%", "0.0%") for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=MONTHS, y=[str(y) for y in m.index], colorscale="RdYlGn", zmid=0,
                               text=text, texttemplate="%{text}", textfont={"size": 13}, xgap=2, ygap=2,
                               hovertemplate="%{y} %{x}: %{z:.2f}%<extra></extra>", showscale=False))
    fig.update_layout(title="Monthly returns (%)", template=TEMPLATE, height=150 + row_px * max(len(m), 1),
                      margin={"t": 60, "b": 60, "l": 70, "r": 30}, xaxis_title="month", yaxis_title="year")
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(type="category", side="bottom")
    return fig


def rolling_sharpe(returns: pd.Series, window: int = 63, periods_per_year: int = 252) -> pd.Series:
    """Annualised Sharpe of the last ``window`` sessions (NaN until a full window; zero volatility gives NaN)."""
    r = returns.astype(float)
    roll = r.rolling(window, min_periods=window)
    std = roll.std().replace(0.0, np.nan)
    return (roll.mean() / std * np.sqrt(periods_per_year)).rename(f"rolling_sharpe_{window}")


def rolling_sharpe_chart(result: BacktestResult, window: int = 63) -> go.Figure:
    """The strategy's (and the benchmark's) ``window``-session rolling Sharpe, annualised, with the full-run Sharpe."""
    fig = go.Figure()
    s = rolling_sharpe(result.returns.dropna(), window)
    fig.add_scatter(x=s.index, y=s, name=f"{result.strategy}", mode="lines")
    b = rolling_sharpe(result.benchmark.dropna(), window)
    fig.add_scatter(x=b.index, y=b, name="equal-weight universe", mode="lines", line={"dash": "dot"})
    full = result.stats()["sharpe"]
    if np.isfinite(full):
        fig.add_hline(y=full, line_dash="dash", line_color="grey", annotation_text=f"full run {full:.2f}")
    fig.add_hline(y=0, line_color="black", line_width=1)
    note = "" if s.notna().any() else f" (fewer than {window} sessions: nothing to show)"
    fig.update_layout(title=f"Rolling Sharpe ({window}-session window, annualised){note}", template=TEMPLATE,
                      xaxis_title="date", yaxis_title="Sharpe ratio (annualised)", height=320)
    return fig


def exposure_chart(result: BacktestResult) -> go.Figure:
    pos = result.positions
    eq = result.equity
    if pos.empty:
        long = short = pd.Series(0.0, index=eq.index)
        count = pd.Series(0, index=eq.index)
    else:
        by = pos.groupby("date")["value"]
        long = by.apply(lambda v: v[v > 0].sum()).reindex(eq.index).fillna(0) / eq
        short = by.apply(lambda v: v[v < 0].sum()).reindex(eq.index).fillna(0) / eq
        count = pos.groupby("date").size().reindex(eq.index).fillna(0)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=long.index, y=long, name="long / equity", mode="lines")
    fig.add_scatter(x=short.index, y=short, name="short / equity", mode="lines")
    fig.add_scatter(x=count.index, y=count, name="positions", mode="lines", line={"dash": "dot"}, secondary_y=True)
    fig.update_yaxes(title_text="exposure (share of equity)", tickformat=".0%", secondary_y=False)
    top = max(float(count.max()) if len(count) else 0.0, 1.0)
    fig.update_yaxes(title_text="number of positions", range=[0, top * 1.15], tickmode="linear", tick0=0,
                     dtick=max(1, int(np.ceil(top / 5))), tickformat=",d", secondary_y=True, showgrid=False)
    fig.update_layout(title="Exposure and number of positions", template=TEMPLATE, xaxis_title="date", height=340)
    return fig


def trades_on_price(result: BacktestResult, prices: pd.DataFrame, signals: pd.DataFrame | None,
                    asset: str | None = None) -> go.Figure:
    """One asset's close with buy/sell fills marked, and its daily sentiment below."""
    if asset is None:
        counts = result.orders["asset"].value_counts()
        asset = str(counts.index[0]) if len(counts) else str(prices.index.get_level_values("asset")[0])
    px = prices.xs(asset, level="asset")["close"]
    if result.returns.size:
        px = px.loc[result.returns.index.min():result.returns.index.max()]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05)
    fig.add_scatter(x=px.index, y=px, name=f"{asset} close", mode="lines", row=1, col=1)
    orders = result.orders[(result.orders["asset"] == asset) & (result.orders["status"] == "Completed")]
    for side, symbol, color in (("buy", "triangle-up", "green"), ("sell", "triangle-down", "red")):
        o = orders[orders["side"] == side]
        fig.add_scatter(x=o["date"], y=o["price"], mode="markers", name=side,
                        marker={"symbol": symbol, "size": 9, "color": color}, row=1, col=1)
    if signals is not None and "sentiment" in signals:
        has = asset in set(signals.index.get_level_values("asset"))  # a traded asset may have no signal rows
        s = (signals["sentiment"].xs(asset, level="asset") if has else pd.Series(dtype=float)).reindex(px.index)
        fig.add_bar(x=s.index, y=s, name="sentiment", marker_color=np.where(s.fillna(0) >= 0, "seagreen", "indianred"),
                    row=2, col=1)
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="sentiment", row=2, col=1)
    fig.update_xaxes(title_text="date", row=2, col=1)
    fig.update_layout(title=f"Trades on {asset} with its daily sentiment", template=TEMPLATE, height=500)
    return fig


def config_table(config: dict) -> pd.DataFrame:
    """The run's settings as a two-column (setting, value) frame, nested params flattened (``params.quantiles``)."""
    flat = flatten_mapping(config)
    return pd.DataFrame({"value": [("none" if v is None else v) for v in flat.values()]},
                        index=pd.Index(list(flat), name="setting"))


def _labelled(frame: pd.DataFrame, label: str | None) -> pd.DataFrame:
    if label is None:
        return frame
    out = frame.copy()
    out.insert(0, "data", label)
    return out


def backtest_report(result: BacktestResult, prices: pd.DataFrame, signals: pd.DataFrame | None,
                    path: str | Path, asset: str | None = None, synthetic: bool | None = None,
                    rolling_window: int = 63) -> Path:
    """Write the HTML report and a results folder beside it (returns, positions, trades, orders, stats).

    ``synthetic``: True labels the page (a banner), stats.json (a top-level ``data`` key) and every CSV (a ``data``
    column) as SYNTHETIC; None (default) does so when every asset is one of the simulator's invented
    tickers (``llmos_quant.reporting.looks_simulated``); False never."""
    path = Path(path)
    synthetic = resolve_synthetic(synthetic, prices, signals)
    stats = pd.Series(result.stats(), name="value").rename_axis("statistic").to_frame()
    cfg = config_dict(result.config)
    figs = {
        "stats": table(stats, "Run statistics"),
        "config": table(config_table(cfg), "Configuration", kinds="plain"),
        "data_issues": table(result.data_issues.table(), "Data issues: signal rows and price bars not used as given"),
        "equity": equity_curve(result),
        "drawdown": drawdown_chart(result),
        "rolling_sharpe": rolling_sharpe_chart(result, rolling_window),
        "monthly": monthly_heatmap(result),
        "monthly_table": table(monthly_returns_table(result.returns), "Monthly and annual returns", kinds="pct"),
        "exposure": exposure_chart(result),
        "trades": trades_on_price(result, prices, signals, asset),
    }
    r = result.returns.dropna()
    notes = [f"{result.strategy} on {len(r):,} sessions"
             + (f", {r.index.min().date()} .. {r.index.max().date()}" if len(r) else "")
             + f"; results folder: {path.with_suffix('').name}/ (returns, equity, positions, trades, orders, stats.json)."]
    write_html(figs, path, f"Backtest: {result.strategy}", notes, synthetic=synthetic)
    label = SYNTHETIC_LABEL if synthetic else None
    folder = path.with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    _labelled(result.returns.to_frame().join(result.benchmark), label).to_csv(folder / "returns.csv")
    _labelled(result.equity.to_frame(), label).to_csv(folder / "equity.csv")
    _labelled(result.positions, label).to_csv(folder / "positions.csv", index=False)
    _labelled(result.trades, label).to_csv(folder / "trades.csv", index=False)
    _labelled(result.orders, label).to_csv(folder / "orders.csv", index=False)
    payload = {"data": label} if label else {}
    payload |= {"stats": result.stats(), "config": cfg, "analyzers": result.analyzers,
                "data_issues": result.data_issues.as_dict()}
    (folder / "stats.json").write_text(json.dumps(payload, indent=2, default=str))
    return path
