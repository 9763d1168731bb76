"""plotly figures and the one-page HTML report of a backtest run (no Backtrader/matplotlib plotting)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..factors.plots import TEMPLATE, table
from ..factors.tearsheet import write_html
from .runner import BacktestResult, config_dict


def equity_curve(result: BacktestResult) -> go.Figure:
    strat = (1 + result.returns.fillna(0)).cumprod()
    bench = (1 + result.benchmark.fillna(0)).cumprod()
    fig = go.Figure()
    fig.add_scatter(x=strat.index, y=strat, name=result.strategy, mode="lines")
    fig.add_scatter(x=bench.index, y=bench, name="equal-weight universe", mode="lines", line={"dash": "dot"})
    fig.update_layout(title="Equity (growth of 1) vs benchmark", template=TEMPLATE, height=380)
    return fig


def drawdown_chart(result: BacktestResult) -> go.Figure:
    eq = (1 + result.returns.fillna(0)).cumprod()
    dd = eq / eq.cummax() - 1
    fig = go.Figure(go.Scatter(x=dd.index, y=dd, fill="tozeroy", name="drawdown", line={"color": "firebrick"}))
    fig.update_layout(title="Drawdown", template=TEMPLATE, yaxis_tickformat=".1%", height=300)
    return fig


def monthly_returns(returns: pd.Series) -> pd.DataFrame:
    r = returns.fillna(0)
    m = (1 + r).groupby([r.index.year, r.index.month]).prod() - 1
    m.index = m.index.set_names(["year", "month"])
    return m.unstack("month").reindex(columns=range(1, 13))


def monthly_heatmap(result: BacktestResult) -> go.Figure:
    m = monthly_returns(result.returns)
    fig = go.Figure(go.Heatmap(z=m.to_numpy() * 100, x=[pd.Timestamp(2000, k, 1).strftime("%b") for k in m.columns],
                               y=[str(y) for y in m.index], colorscale="RdYlGn", zmid=0,
                               text=np.round(m.to_numpy() * 100, 1), texttemplate="%{text}", colorbar={"title": "%"}))
    fig.update_layout(title="Monthly returns (%)", template=TEMPLATE, height=120 + 40 * len(m))
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
    fig.update_layout(title="Exposure and number of positions", template=TEMPLATE, height=320)
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
    fig.update_layout(title=f"Trades on {asset} with its daily sentiment", template=TEMPLATE, height=480)
    return fig


def backtest_report(result: BacktestResult, prices: pd.DataFrame, signals: pd.DataFrame | None,
                    path: str | Path, asset: str | None = None) -> Path:
    """Write the HTML report and a results folder beside it (returns, positions, trades, orders, stats)."""
    path = Path(path)
    stats = pd.Series(result.stats(), name="value").to_frame()
    figs = {
        "stats": table(stats, "Run statistics"),
        "data_issues": table(result.data_issues.table(), "Data issues: signal rows and price bars not used as given"),
        "equity": equity_curve(result),
        "drawdown": drawdown_chart(result),
        "monthly": monthly_heatmap(result),
        "exposure": exposure_chart(result),
        "trades": trades_on_price(result, prices, signals, asset),
    }
    cfg = config_dict(result.config)
    write_html(figs, path, f"Backtest: {result.strategy}", [f"config: {json.dumps(cfg, default=str)}"])
    folder = path.with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    result.returns.to_frame().join(result.benchmark).to_csv(folder / "returns.csv")
    result.equity.to_csv(folder / "equity.csv")
    result.positions.to_csv(folder / "positions.csv", index=False)
    result.trades.to_csv(folder / "trades.csv", index=False)
    result.orders.to_csv(folder / "orders.csv", index=False)
    (folder / "stats.json").write_text(json.dumps({"stats": result.stats(), "config": cfg, "analyzers": result.analyzers,
                                                   "data_issues": result.data_issues.as_dict()}, indent=2, default=str))
    return path
