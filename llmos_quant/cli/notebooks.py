"""``llmos-quant notebooks render``: execute every notebook into self-contained HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import parse_params, print_table

app = typer.Typer(no_args_is_help=True, help="The research notebooks.")


def render(
    notebooks: Annotated[Path | None, typer.Option(help="Folder of .ipynb files \\[default: the checkout's notebooks/]")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder for executed .ipynb and .html \\[default: data/notebooks]")]
    = None,
    name: Annotated[list[str] | None, typer.Option(help="Only these notebooks (file stems, repeatable)")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Papermill parameter k=v for every notebook that has it, e.g. "
                                                         "n_sessions=80 or use_shared_data=true")] = None,
) -> None:
    """Execute the notebooks (offline SYNTHETIC defaults) and export each to HTML with its figures embedded."""
    from ..jobs.notebooks import RenderConfig, render_notebooks

    kwargs = {k: v for k, v in (("notebooks", notebooks), ("out", out)) if v is not None}
    done = render_notebooks(RenderConfig(**kwargs, names=tuple(name or ()), parameters=parse_params(param)))
    print_table("rendered notebooks", {r.name: f"{r.html} ({r.figures} figures, {r.seconds:.0f}s)" for r in done})


app.command("render")(render)
