"""Small report helpers: markdown tables (CLI, benchmarks, study) and the number formatting of the HTML reports."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def markdown_table(frame: pd.DataFrame, digits: int = 4, index: bool = True) -> str:
    """A GitHub-flavoured markdown table of ``frame`` (floats rounded to ``digits``)."""
    shown = frame.reset_index() if index else frame

    def fmt(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    head = "| " + " | ".join(str(c) for c in shown.columns) + " |"
    sep = "|" + "|".join("---" for _ in shown.columns) + "|"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


# ---- number formatting for the HTML reports (tear sheet, backtest report) ----------------------------------
SYNTHETIC_LABEL = "SYNTHETIC data (simulator), not real markets"

_PCT_STRONG = {"fraction", "share", "pct", "percent", "rate", "weight"}
_COUNT = {"rows", "row", "count", "counts", "bars", "trades", "orders", "assets", "positions", "kept", "dropped",
          "sessions", "dates", "days", "n", "headlines"}
_PCT = {"return", "returns", "drawdown", "vol", "volatility", "turnover", "exposure"}
_RATIO = {"sharpe", "sortino", "calmar", "ratio", "icir", "ir", "t", "tstat", "beta", "leverage", "skew", "kurtosis",
          "omega"}
_KINDS = ("pct", "ratio", "int", "num", "plain", "text")


def _tokens(label: object) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", str(label).lower())) - {""}


def value_kind(*labels: object) -> str | None:
    """The display kind a row/column label asks for: ``pct``, ``ratio``, ``int`` (counts) or None (no rule).

    Rules, first match wins over all labels: a share/fraction/rate is a percentage; a count (rows, trades,
    orders, dropped, kept ...) an integer; a return, drawdown, volatility or turnover a percentage; a Sharpe,
    t-stat, IR or other ratio 2 decimals."""
    toks = [_tokens(label) for label in labels]
    for group, kind in ((_PCT_STRONG, "pct"), (_COUNT, "int"), (_PCT, "pct"), (_RATIO, "ratio")):
        if any(t & group for t in toks):
            return kind
    return None


def format_value(value: object, kind: str | None = None, digits: int = 4) -> str:
    """One table cell as a researcher reads it.

    ``kind``: ``pct`` (``12.49%``), ``ratio`` (``1.23``), ``int`` / ``num`` / None (integers and integral floats
    as integers ``1,234``, other floats with ``digits`` decimals), ``plain`` (as ``num`` but floats to 6 significant
    digits, for settings), ``text`` (``str``).
    Missing values print as an empty cell; dates without a time as ``YYYY-MM-DD``; text is left as is."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() and value.tz is None else str(value)
    if kind == "text" or not isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    v = float(value)
    if not np.isfinite(v):
        return str(v)
    if kind == "pct":
        return f"{v:.2%}"
    if kind == "ratio":
        return f"{v:.2f}"
    if isinstance(value, int | np.integer) or (v.is_integer() and abs(v) < 1e15):
        return f"{int(value) if isinstance(value, int | np.integer) else int(v):,}"
    return f"{v:.6g}" if kind == "plain" else f"{v:.{digits}f}"


def format_frame(frame: pd.DataFrame, kinds: Mapping[object, str] | str | None = None, digits: int = 4,
                 index: bool = True) -> pd.DataFrame:
    """``frame`` as strings (index reset into columns when ``index``), each cell formatted by ``format_value``.

    A cell's kind is ``kinds`` when a string (the whole table), else ``kinds[row label]`` or ``kinds[column]``
    when given, else what ``value_kind`` reads from the row label then the column label."""
    if isinstance(kinds, str) and kinds not in _KINDS:
        raise ValueError(f"kinds={kinds!r}: expected one of {_KINDS} or a mapping of labels to them")
    labels = [" ".join(map(str, k)) if isinstance(k, tuple) else k for k in frame.index]
    out = {}
    for col in frame.columns:
        cells = []
        for row, v in zip(labels, frame[col].tolist(), strict=True):
            if isinstance(kinds, str):
                kind: str | None = kinds
            elif kinds and (row in kinds or col in kinds):
                kind = kinds.get(row, kinds.get(col))
            else:
                kind = value_kind(row, col)
            cells.append(format_value(v, kind, digits))
        out[str(col)] = cells
    shown = pd.DataFrame(out, index=frame.index)
    if not index:
        return shown.reset_index(drop=True)
    names = [n if n is not None else ("" if frame.index.nlevels == 1 else f"level_{i}")
             for i, n in enumerate(frame.index.names)]
    idx_frame = frame.index.set_names(names).to_frame(index=False)
    for c in idx_frame.columns:
        idx_frame[c] = [str(v) if isinstance(v, int | np.integer) else format_value(v) for v in idx_frame[c]]  # labels: 2021
    shown = shown.reset_index(drop=True)
    dup = [c for c in idx_frame.columns if c in shown.columns]
    idx_frame = idx_frame.rename(columns={c: f"{c} " for c in dup})
    return pd.concat([idx_frame, shown], axis=1)


def flatten_mapping(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings flattened to dotted keys: ``{"params": {"quantiles": 5}}`` -> ``{"params.quantiles": 5}``.
    Lists and tuples are joined with ", "; an empty mapping stays as one key with an empty value."""
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_mapping(v, f"{key}.") if v else {key: ""})
        elif isinstance(v, list | tuple):
            out[key] = ", ".join(map(str, v))
        else:
            out[key] = v
    return out


def simulator_tickers() -> frozenset[str]:
    """The invented tickers of ``llmos_quant.data.simulate`` (all start with ``Z``)."""
    from .data.simulate import _NAMES

    return frozenset(t for t, _ in _NAMES)


def looks_simulated(*frames: pd.DataFrame | pd.Series | None) -> bool:
    """True when every asset of the (date, asset) ``frames`` is one of the simulator's invented tickers
    (and there are at least two): the fallback of ``synthetic=None`` in the reports. The simulator plants no
    marker in its frames, so this is a heuristic; callers that know pass ``synthetic=True/False``."""
    assets: set[str] = set()
    for f in frames:
        if f is not None and isinstance(f.index, pd.MultiIndex) and "asset" in f.index.names:
            assets |= set(map(str, f.index.get_level_values("asset").unique()))
    return len(assets) >= 2 and assets <= simulator_tickers()


def resolve_synthetic(synthetic: bool | None, *frames: pd.DataFrame | pd.Series | None) -> bool:
    """``synthetic`` when given, else ``looks_simulated(*frames)`` (logged when it says yes)."""
    if synthetic is not None:
        return bool(synthetic)
    found = looks_simulated(*frames)
    if found:
        log.info("every asset is a simulator ticker: the report is labelled SYNTHETIC (pass synthetic=False to drop it)")
    return found


def chromium_path() -> str | None:
    """A system Chromium (Debian's ``chromium``) for headless rendering, or None."""
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def figures_to_png(figures: Mapping[str, Any], folder: Any, width: int = 1000, height: int = 560) -> list[Any]:
    """PNG screenshots of plotly figures rendered in headless Chromium (Playwright + a system Chromium), one file
    per figure named after its key; an empty list (logged) when either is missing. The HTML is self-contained
    (plotly.js inlined), so nothing is fetched."""
    import tempfile
    from pathlib import Path

    exe = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        log.info("playwright is not installed (pip install 'llmos-quant[dev]'): PNG figures skipped")
        return []
    if exe is None:
        log.info("no Chromium found (apt-get install chromium): PNG figures skipped")
        return []
    out_dir = Path(folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            for name, fig in figures.items():
                fig_height = int(fig.layout.height or height - 20)
                page.set_viewport_size({"width": width, "height": fig_height + 20})
                html = Path(tmp) / f"{name}.html"
                fig.write_html(str(html), include_plotlyjs=True, full_html=True, default_width=f"{width - 20}px",
                               default_height=f"{fig_height}px", config={"displayModeBar": False})
                page.goto(html.as_uri())
                page.wait_for_selector(".main-svg", timeout=15_000)
                target = out_dir / f"{name}.png"
                page.screenshot(path=str(target), full_page=False)
                written.append(target)
        finally:
            browser.close()
    return written
