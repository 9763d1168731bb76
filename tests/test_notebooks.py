"""Every notebook is built from its checked source, executes (offline SYNTHETIC default), and keeps its figures in
every export: the executed notebook carries each figure for JupyterLab (plotly mimetype) and as HTML with
plotly.js embedded, so nbconvert HTML and static viewers draw it with no kernel and no network."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def test_notebooks_are_built_from_their_sources_and_stripped():
    sys.path.insert(0, str(ROOT / "notebooks"))
    import _build

    assert _build.build(check=True) == [], "run `python notebooks/_build.py` after editing notebooks/src/"
    names = {p.stem for p in NOTEBOOKS}
    assert {"01_data_pull", "02_sentiment_inference", "03_factor_research", "04_backtest", "daily_signals"} <= names
    assert names == {p.stem for p in (ROOT / "notebooks" / "src").glob("*.py")}
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name} has outputs"
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), f"{path.name} lacks a parameters cell"
        assert all(re.fullmatch(rf"{path.stem[:20]}-\d\d", c.id) for c in nb.cells), "cell ids are stable"


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.stem for p in NOTEBOOKS])
def test_notebook_executes_and_its_figures_survive_export(name, rendered_notebooks):
    r = rendered_notebooks[name]
    nb = nbformat.read(r.executed, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    stderr = [o["text"] for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert not stderr, stderr  # e.g. tqdm's "IProgress not found" (ipywidgets missing)
    figures = [o for o in outputs if PLOTLY_MIME in o.get("data", {})]
    assert len(figures) == r.figures >= 1
    assert all("text/html" in o["data"] for o in figures), "each figure also as HTML for kernel-less viewers"
    html = r.html.read_text(encoding="utf-8")
    assert html.count("Plotly.newPlot(") >= len(figures)  # nbconvert HTML draws every figure
    assert "plotly.js v" in html  # plotly.js itself is in the page ...
    assert not re.search(r"<script[^>]+src=[\"'][^\"']*plot(ly|\.ly)", html)  # ... not loaded from a CDN


def test_factor_notebook_computes_the_event_type_table(rendered_notebooks):
    nb = nbformat.read(rendered_notebooks["03_factor_research"].executed, as_version=4)
    text = "".join(str(o.get("data", {}).get("text/plain", "")) for c in nb.cells for o in c.get("outputs", []))
    assert "sentiment_earnings" in text and "rows" in text


@pytest.mark.data
@pytest.mark.slow
def test_factor_notebook_on_shared_data(tmp_path, shared_data):
    import papermill as pm

    path = next(p for p in NOTEBOOKS if p.stem == "03_factor_research")
    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), parameters={"use_shared_data": True}, kernel_name="python3",
                        cwd=str(path.parent), progress_bar=False)
    text = out.read_text()
    assert "S&P 500 prices + Reuters headlines" in text
