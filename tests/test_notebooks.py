"""Every notebook executes (papermill, offline SYNTHETIC default) and is committed with outputs stripped."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_notebooks_exist_and_are_stripped():
    names = {p.stem for p in NOTEBOOKS}
    assert {"01_data_pull", "02_sentiment_inference", "03_factor_research", "04_backtest", "daily_signals"} <= names
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name} has outputs"
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), f"{path.name} lacks a parameters cell"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path):
    import papermill as pm

    params = {"n_sessions": 80} if path.stem != "daily_signals" else {"backend": "llmos"}
    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), parameters=params, kernel_name="python3", cwd=str(path.parent),
                        progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


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
