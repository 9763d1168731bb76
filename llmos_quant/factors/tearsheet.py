"""One call from a signal frame to a self-contained HTML tear sheet (plus PNGs where kaleido can render)."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from ..reporting import SYNTHETIC_LABEL, resolve_synthetic
from . import plots
from .evaluate import FactorReport, evaluate_factor

log = logging.getLogger(__name__)


def report_figures(report: FactorReport) -> dict[str, go.Figure]:
    first = report.rank_ic.columns[0]
    figs = {
        "summary": plots.table(report.summary().T.rename_axis("metric"), "Summary by horizon",
                               kinds={"spread_mean": "pct", "ls_mean": "pct"}),
        "ic_timeseries": plots.ic_timeseries(report.rank_ic, first),
        "ic_histogram": plots.ic_histogram(report.rank_ic),
        "quantile_returns": plots.quantile_returns_bar(report.quantile_returns, report.quantile_std_err),
        "cumulative": plots.cumulative_returns(
            pd.DataFrame({"gross": report.factor_returns[first], f"net of {report.cost_bps:g} bps/side": report.net_returns}),
            f"Cumulative factor-weighted long-short return ({first} rebalanced daily)"),
        "turnover": plots.turnover_chart(report.turnover),
        "decay": plots.ic_decay_chart(report.decay),
        "coverage": plots.coverage_chart(report.coverage),
    }
    if report.row_counts is not None:
        figs = {"summary": figs.pop("summary"),
                "row_counts": plots.table(report.row_counts.table(), "Factor rows: in, dropped by reason, kept"), **figs}
    if report.by_event is not None and len(report.by_event):
        figs["by_event"] = plots.by_event_bar(report.by_event)
    if report.event_tests is not None and len(report.event_tests):
        n = len(report.event_tests)
        figs["event_tests"] = plots.table(
            report.event_tests, f"Event-type factors: every test listed ({n} = factors x horizons). Benjamini-Hochberg "
            "q <= 0.10 survives; t-stats of overlapping multi-day horizons are overstated", index=False)
    return figs


_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1150px;margin:auto;padding:0 16px;color:#222}
h1{font-size:26px;margin:18px 0 8px} h3{font-size:16px;margin:0 0 6px;color:#2a3f5f}
p.note{font-size:14px;color:#444;margin:4px 0}
.banner{background:#b00020;color:#fff;font-weight:bold;font-size:18px;padding:12px 16px;margin:12px 0;border-radius:4px}
.tables{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start;margin:18px 0}
.tbl{flex:0 1 auto;max-width:100%;overflow-x:auto}
table.report{border-collapse:collapse;font-size:13px}
table.report th{background:#dde6f0;padding:5px 10px;text-align:left;border-bottom:1px solid #b8c4d3;white-space:nowrap}
table.report td{padding:4px 10px;border-bottom:1px solid #eceff3}
table.report th.num,table.report td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.report tr:nth-child(even) td{background:#f7f9fb}
"""


def _is_table(fig: go.Figure) -> bool:
    return len(fig.data) == 1 and fig.data[0].type == "table"


def _table_html(fig: go.Figure) -> str:
    """A table figure (``plots.table``) as an HTML table: it sizes to its content and its text can be copied."""
    trace = fig.data[0]
    header = [str(h) for h in trace.header.values]
    columns = [[str(v) for v in col] for col in trace.cells.values]
    aligns = trace.cells.align if isinstance(trace.cells.align, list | tuple) else [trace.cells.align] * len(header)
    cls = [" class='num'" if a == "right" else "" for a in aligns]
    title = fig.layout.title.text or ""
    rows = ["<tr>" + "".join(f"<th{c}>{html.escape(h)}</th>" for c, h in zip(cls, header, strict=True)) + "</tr>"]
    for i in range(len(columns[0]) if columns else 0):
        rows.append("<tr>" + "".join(f"<td{c}>{html.escape(col[i])}</td>" for c, col in zip(cls, columns, strict=True))
                    + "</tr>")
    return (f"<div class='tbl'>{f'<h3>{html.escape(title)}</h3>' if title else ''}"
            f"<table class='report'>{''.join(rows)}</table></div>")


def write_html(figures: dict[str, go.Figure], path: str | Path, title: str, notes: Sequence[str] = (),
               synthetic: bool = False) -> Path:
    """Write the figures into one self-contained HTML file (plotly.js inlined once, so it renders offline).

    Table figures (one ``go.Table`` trace, e.g. ``plots.table``) are written as HTML tables, consecutive ones side
    by side. ``synthetic``: a red banner at the top says the data are SYNTHETIC (simulator), not real markets."""
    path = Path(path)
    full_title = f"SYNTHETIC - {title}" if synthetic and "SYNTHETIC" not in title else title
    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(full_title)}</title><style>{_CSS}</style></head>"
             "<body>"]
    if synthetic:
        parts.append(f"<div class='banner' id='synthetic-banner'>{html.escape(SYNTHETIC_LABEL)}: every price, headline "
                     "and signal here was generated by llmos_quant.data.simulate; no number in this report describes a "
                     "real security.</div>")
    parts.append(f"<h1>{html.escape(title)}</h1>")
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in notes]
    plotly_js_done, open_tables = False, False
    for fig in figures.values():
        if _is_table(fig):
            if not open_tables:
                parts.append("<div class='tables'>")
                open_tables = True
            parts.append(_table_html(fig))
            continue
        if open_tables:
            parts.append("</div>")
            open_tables = False
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False if plotly_js_done else "inline",
                                 config={"displaylogo": False}))
        plotly_js_done = True
    if open_tables:
        parts.append("</div>")
    parts.append("</body></html>")
    from ..paths import write_atomic

    return write_atomic(path, lambda tmp: tmp.write_text("\n".join(parts), encoding="utf-8"), "the report")


def write_pngs(figures: dict[str, go.Figure], folder: str | Path) -> list[Path]:
    """PNG exports via kaleido + Chromium when both are installed; otherwise an empty list (logged)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        log.info("kaleido is not installed: PNG export skipped (HTML report written)")
        return []
    out = []
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        try:
            p = folder / f"{name}.png"
            fig.write_image(str(p))
            out.append(p)
        except Exception as exc:  # kaleido needs a Chromium it can start
            log.info("PNG export failed (%s); HTML report still written", exc)
            return out
    return out


def tear_sheet(factor: pd.Series, prices: pd.DataFrame, path: str | Path = "tear_sheet.html",
               title: str = "Factor tear sheet", pngs: bool = False, max_loss: float = 0.35,
               synthetic: bool | None = None, **kwargs: object) -> FactorReport:
    """Evaluate ``factor`` against ``prices`` and write the HTML tear sheet to ``path``; returns the report.

    ``synthetic``: True puts the SYNTHETIC banner on the page; None (default) does when every asset is one of the
    simulator's invented tickers (``llmos_quant.reporting.looks_simulated``); False never.
    ``max_loss`` and ``kwargs`` go to ``evaluate_factor``."""
    synthetic = resolve_synthetic(synthetic, prices, factor)
    report = evaluate_factor(factor, prices, max_loss=max_loss, **kwargs)  # type: ignore[arg-type]
    figs = report_figures(report)
    d = report.data.index.get_level_values("date")
    notes = [f"{len(report.data):,} (date, asset) rows, {d.nunique()} dates {d.min().date()} .. {d.max().date()}; "
             f"signal dated D trades at D+1's {report.params['price_field']}; costs {report.cost_bps:g} bps per side."]
    if report.row_counts is not None:
        c = report.row_counts
        notes.append(f"factor rows: {c.rows_in:,} in, {c.no_factor_value:,} without a value, {c.dropped:,} dropped "
                     f"({c.dropped_fraction:.1%} of {c.with_factor:,}: {c.no_price:,} no price, {c.no_forward_return:,} "
                     f"no forward return, {c.binning:,} no quantile, {c.no_group:,} no group), {c.kept:,} kept"
                     + (f", {c.kept_with_filled_price:,} of them with a forward-filled entry or exit price (the asset "
                        "had no price that session; its last earlier one is carried, as alphalens does)."
                        if c.kept_with_filled_price else "."))
    write_html(figs, path, title, notes, synthetic=synthetic)
    if pngs:
        write_pngs(figs, Path(path).with_suffix(""))
    log.info("tear sheet written to %s", path)
    return report
