"""plotly figure functions for factor research. Each returns a ``go.Figure``; none calls ``.show()``."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..reporting import format_frame

TEMPLATE = "plotly_white"


def ic_timeseries(ic: pd.DataFrame, period: str | None = None, window: int = 21, title: str = "Rank IC") -> go.Figure:
    period = period or ic.columns[0]
    s = ic[period]
    fig = go.Figure()
    fig.add_bar(x=s.index, y=s.values, name=f"daily {period}", marker_color="rgba(70,130,180,0.45)")
    fig.add_scatter(x=s.index, y=s.rolling(window, min_periods=max(1, window // 3)).mean(), name=f"{window}-day mean",
                    line={"color": "firebrick", "width": 2})
    fig.add_hline(y=float(s.mean()), line_dash="dot", annotation_text=f"mean {s.mean():.4f}")
    fig.update_layout(title=f"{title} ({period})", template=TEMPLATE, xaxis_title="date", yaxis_title="rank IC",
                      height=360)
    return fig


def ic_histogram(ic: pd.DataFrame, title: str = "Rank IC distribution") -> go.Figure:
    fig = go.Figure()
    for c in ic.columns:
        fig.add_histogram(x=ic[c].dropna(), name=c, opacity=0.6, nbinsx=40)
    fig.update_layout(barmode="overlay", title=title, template=TEMPLATE, xaxis_title="rank IC", yaxis_title="days",
                      height=360)
    return fig


def quantile_returns_bar(mean: pd.DataFrame, std_err: pd.DataFrame | None = None,
                         title: str = "Mean forward return by quantile (demeaned, bps)") -> go.Figure:
    fig = go.Figure()
    for c in mean.columns:
        err = None if std_err is None else {"type": "data", "array": (std_err[c] * 1e4).to_numpy()}
        fig.add_bar(x=[str(q) for q in mean.index], y=mean[c] * 1e4, name=c, error_y=err)
    fig.update_layout(barmode="group", title=title, template=TEMPLATE, xaxis_title="factor quantile",
                      yaxis_title="mean forward return (bps)", height=360)
    return fig


def cumulative_returns(returns: pd.Series | pd.DataFrame, title: str = "Cumulative long-short return") -> go.Figure:
    frame = returns.to_frame() if isinstance(returns, pd.Series) else returns
    fig = go.Figure()
    for c in frame.columns:
        fig.add_scatter(x=frame.index, y=(1 + frame[c].fillna(0)).cumprod() - 1, name=str(c), mode="lines")
    fig.update_layout(title=title, template=TEMPLATE, xaxis_title="date", yaxis_title="cumulative return",
                      yaxis_tickformat=".1%", height=360)
    return fig


def turnover_chart(turnover: pd.Series, window: int = 21, title: str = "Turnover (traded notional per day)") -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=turnover.index, y=turnover.values, name="daily", mode="lines", line={"width": 1})
    fig.add_scatter(x=turnover.index, y=turnover.rolling(window, min_periods=1).mean(), name=f"{window}-day mean")
    fig.update_layout(title=title, template=TEMPLATE, xaxis_title="date", yaxis_title="turnover (sum of |weight change|)",
                      yaxis_tickformat=".0%", height=320)
    return fig


def ic_decay_chart(decay: pd.DataFrame, title: str = "IC decay by horizon") -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=decay.index, y=decay["rank_ic"], name="rank IC", mode="lines+markers")
    fig.add_scatter(x=decay.index, y=decay["ic"], name="IC", mode="lines+markers")
    fig.add_hline(y=0, line_color="grey")
    fig.update_layout(title=title, template=TEMPLATE, xaxis_title="horizon (sessions)", yaxis_title="mean correlation",
                      height=320)
    return fig


def coverage_chart(cov: pd.DataFrame, title: str = "Coverage: assets with a signal per day") -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=cov.index, y=cov["assets_with_signal"], name="assets", mode="lines")
    if "share" in cov:
        fig.add_scatter(x=cov.index, y=cov["share"], name="share of universe", mode="lines", secondary_y=True)
        fig.update_yaxes(title_text="share of universe", tickformat=".0%", secondary_y=True)
    fig.update_yaxes(title_text="assets with a signal", secondary_y=False)
    fig.update_layout(title=title, template=TEMPLATE, xaxis_title="date", height=320)
    return fig


def by_event_bar(by_event: pd.DataFrame, title: str = "Mean rank IC by event type") -> go.Figure:
    cols = [c for c in by_event.columns if c.endswith("D")]
    fig = go.Figure()
    for c in cols:
        fig.add_bar(x=by_event.index, y=by_event[c], name=c)
    fig.update_layout(barmode="group", title=title, template=TEMPLATE, xaxis_title="event type",
                      yaxis_title="mean rank IC", height=360)
    return fig


_PALETTE = ["#b2182b", "#ef8a62", "#999999", "#67a9cf", "#2166ac", "#1b7837", "#762a83", "#e08214", "#35978f",
            "#542788", "#8c510a", "#c51b7d"]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def _event_title(result: object, title: str | None, what: str) -> str:
    if title:
        return title
    bench = getattr(result, "benchmark", "market")
    conf = getattr(result, "confidence", 0.95)
    return f"{what} by sentiment quantile (vs {bench}, close-to-close, {conf:.0%} bands)"


def car_by_quantile(result: object, columns: list[str] | None = None, bands: bool = True,
                    title: str | None = None) -> go.Figure:
    """Cumulative abnormal return per sentiment quantile of an ``EventStudyResult`` with its confidence bands
    (x: sessions relative to the news session, y: CAR)."""
    car, lower, upper, counts = result.car, result.car_lower, result.car_upper, result.counts  # type: ignore[attr-defined]
    columns = columns or [c for c in car.columns if c.startswith("Q") and "-" not in c]
    fig = go.Figure()
    x = list(car.index)
    for k, c in enumerate(columns):
        color = _PALETTE[int(round(k * (4 / max(len(columns) - 1, 1))))] if len(columns) <= 5 else _PALETTE[k % len(_PALETTE)]
        if bands and c in lower:
            fig.add_scatter(x=x + x[::-1], y=list(upper[c]) + list(lower[c])[::-1], fill="toself",
                            fillcolor=_rgba(color, 0.15), line={"width": 0}, hoverinfo="skip", showlegend=False,
                            name=f"{c} band")
        n = counts.get(c) if c in counts else None
        fig.add_scatter(x=x, y=car[c], mode="lines+markers", name=f"{c} (n={n})" if n is not None else c,
                        line={"color": color, "width": 2})
    fig.add_hline(y=0, line_color="grey", line_width=1)
    fig.add_vline(x=0, line_dash="dot", line_color="grey")
    fig.update_layout(title=_event_title(result, title, "Cumulative abnormal return"), template=TEMPLATE,
                      xaxis_title="sessions relative to the news session", yaxis_title="cumulative abnormal return",
                      yaxis_tickformat=".2%", height=420)
    return fig


def mean_ar_by_quantile(result: object, columns: list[str] | None = None, title: str | None = None) -> go.Figure:
    """Mean abnormal return per offset and quantile of an ``EventStudyResult`` (bars with standard-error bars)."""
    mean, se = result.mean_ar, result.ar_se  # type: ignore[attr-defined]
    columns = columns or [c for c in mean.columns if c.startswith("Q") and "-" not in c]
    fig = go.Figure()
    for k, c in enumerate(columns):
        color = _PALETTE[int(round(k * (4 / max(len(columns) - 1, 1))))] if len(columns) <= 5 else _PALETTE[k % len(_PALETTE)]
        fig.add_bar(x=list(mean.index), y=mean[c], name=c, marker_color=color,
                    error_y={"type": "data", "array": se[c].to_numpy()})
    fig.add_vline(x=0, line_dash="dot", line_color="grey")
    fig.update_layout(barmode="group", title=_event_title(result, title, "Mean abnormal return"), template=TEMPLATE,
                      xaxis_title="sessions relative to the news session", yaxis_title="mean abnormal return",
                      yaxis_tickformat=".2%", height=380)
    return fig


def car_by_event_type(result: object, column: str | None = None, bands: bool = True,
                      title: str | None = None) -> go.Figure:
    """One CAR line per event type (``result.by_event``) for one column (default the top-minus-bottom spread)."""
    by_event = result.by_event  # type: ignore[attr-defined]
    column = column or result.spread_column or "all"  # type: ignore[attr-defined]
    fig = go.Figure()
    for k, (name, r) in enumerate(by_event.items()):
        if column not in r.car:
            continue
        color = _PALETTE[k % len(_PALETTE)]
        x = list(r.car.index)
        if bands:
            fig.add_scatter(x=x + x[::-1], y=list(r.car_upper[column]) + list(r.car_lower[column])[::-1],
                            fill="toself", fillcolor=_rgba(color, 0.12), line={"width": 0}, hoverinfo="skip",
                            showlegend=False, name=f"{name} band")
        fig.add_scatter(x=x, y=r.car[column], mode="lines+markers", name=f"{name} (n={int(r.counts['all'])})",
                        line={"color": color, "width": 2})
    fig.add_hline(y=0, line_color="grey", line_width=1)
    fig.add_vline(x=0, line_dash="dot", line_color="grey")
    fig.update_layout(title=title or f"Cumulative abnormal return by event type ({column})", template=TEMPLATE,
                      xaxis_title="sessions relative to the news session", yaxis_title="cumulative abnormal return",
                      yaxis_tickformat=".2%", height=420)
    return fig


def table(frame: pd.DataFrame, title: str = "", digits: int = 4, kinds: Mapping[object, str] | str | None = None,
          index: bool = True) -> go.Figure:
    """A table figure of ``frame``, cells formatted by ``llmos_quant.reporting.format_frame``: integers as integers,
    returns/drawdowns/volatility/fractions as percentages, Sharpe, t-stats and ratios with 2 decimals (``kinds``
    overrides the rules by row/column label or for the whole table)."""
    shown = format_frame(frame, kinds, digits, index=index)
    numeric = [bool(len(shown)) and all(_looks_numeric(v) for v in shown[c]) for c in shown.columns]
    fig = go.Figure(go.Table(header={"values": [str(c) for c in shown.columns], "fill_color": "#dde6f0",
                                     "align": ["right" if n else "left" for n in numeric]},
                             cells={"values": [shown[c].tolist() for c in shown.columns],
                                    "align": ["right" if n else "left" for n in numeric], "height": 26}))
    fig.update_layout(title=title, height=80 + 28 * (len(shown) + 1), margin={"t": 50, "b": 10, "l": 10, "r": 10})
    return fig


def _looks_numeric(text: str) -> bool:
    return text == "" or bool(re.fullmatch(r"[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?", text))
