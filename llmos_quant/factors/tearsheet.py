"""One call from a signal frame to a self-contained HTML tear sheet (plus PNGs where kaleido can render)."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from . import plots
from .evaluate import FactorReport, evaluate_factor

log = logging.getLogger(__name__)


def report_figures(report: FactorReport) -> dict[str, go.Figure]:
    first = report.rank_ic.columns[0]
    figs = {
        "summary": plots.table(report.summary(), "Summary by horizon"),
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
    return figs


def write_html(figures: dict[str, go.Figure], path: str | Path, title: str, notes: Sequence[str] = ()) -> Path:
    """Write the figures into one self-contained HTML file (plotly.js inlined once)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
             "<body style='font-family:sans-serif;max-width:1100px;margin:auto'>",
             f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    for i, fig in enumerate(figures.values()):
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


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
               **kwargs: object) -> FactorReport:
    """Evaluate ``factor`` against ``prices`` and write the HTML tear sheet to ``path``; returns the report.

    ``max_loss`` and ``kwargs`` go to ``evaluate_factor``."""
    report = evaluate_factor(factor, prices, max_loss=max_loss, **kwargs)  # type: ignore[arg-type]
    figs = report_figures(report)
    d = report.data.index.get_level_values("date")
    notes = [f"{len(report.data):,} (date, asset) rows, {d.nunique()} dates {d.min().date()} .. {d.max().date()}; "
             f"signal dated D trades at D+1's {report.params['price_field']}; costs {report.cost_bps:g} bps per side."]
    if report.row_counts is not None:
        c = report.row_counts
        notes.append(f"factor rows: {c.rows_in:,} in, {c.no_factor_value:,} without a value, {c.dropped:,} dropped "
                     f"({c.dropped_fraction:.1%} of {c.with_factor:,}: {c.no_price:,} no price, {c.no_forward_return:,} "
                     f"no forward return, {c.binning:,} no quantile, {c.no_group:,} no group), {c.kept:,} kept.")
    write_html(figs, path, title, notes)
    if pngs:
        write_pngs(figs, Path(path).with_suffix(""))
    log.info("tear sheet written to %s", path)
    return report
