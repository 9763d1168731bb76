"""Writes the notebooks of this folder from their sources in ``notebooks/src/`` (jupytext percent files).

Edit ``notebooks/src/<name>.py`` (plain Python that ruff checks; ``# %%`` starts a cell, ``# %% [markdown]`` a
markdown cell, ``tags=["parameters"]`` marks papermill's parameter cell), then run ``python notebooks/_build.py``.
Cell ids are stable (``<name>-<index>``), so a rebuild does not rewrite unchanged notebooks. The tests execute every
notebook with papermill and check that the committed ones match their sources.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def notebook_from_source(path: Path) -> nbformat.NotebookNode:
    nb = jupytext.read(path, fmt="py:percent")
    clean = nbformat.v4.new_notebook()
    clean.metadata["kernelspec"] = KERNELSPEC
    for k, cell in enumerate(nb.cells):
        cell_id = f"{path.stem[:20]}-{k:02d}"
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, id=cell_id)
        else:
            new = nbformat.v4.new_code_cell(cell.source, id=cell_id)
            if tags:
                new.metadata["tags"] = list(tags)
        clean.cells.append(new)
    return clean


def build(check: bool = False) -> list[str]:
    """Write every notebook (``check=True``: only report which ones differ from their source)."""
    stale = []
    for src in sorted(SOURCES.glob("*.py")):
        target = HERE / f"{src.stem}.ipynb"
        text = nbformat.writes(notebook_from_source(src)) + "\n"
        if not target.is_file() or target.read_text() != text:
            stale.append(target.name)
            if not check:
                target.write_text(text)
    return stale


if __name__ == "__main__":
    print("\n".join(f"wrote {n}" for n in build()) or "notebooks up to date")
