"""``llmos-quant demo``: the main job end to end, offline, on the SYNTHETIC simulator (see ``jobs.research``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..jobs.research import DemoConfig
from .common import console, print_table

_D = DemoConfig.__dataclass_fields__


def demo(
    out: Annotated[Path | None, typer.Option(help="Output folder \\[default: data/demo]")] = None,
    n_assets: Annotated[int, typer.Option(help="Invented tickers to simulate (>= 5)")] = _D["n_assets"].default,
    n_sessions: Annotated[int, typer.Option(help="Trading sessions to simulate (>= 40)")] = _D["n_sessions"].default,
    seed: Annotated[int, typer.Option(help="Simulator seed")] = _D["seed"].default,
    backend: Annotated[str, typer.Option(
        help="Sentiment backend: llmos | llmos-int8 | llmos-mpnet | hf | lm | vader")] = _D["backend"].default,
    model_path: Annotated[str | None, typer.Option(help="Sentiment model folder (default: the shipped adapter)")] = None,
) -> None:
    """Run the whole pipeline on the synthetic market (offline; about 10 s on 2 cores)."""
    from ..jobs.research import run_demo

    console.rule("[bold]llmos-quant demo on SYNTHETIC data (simulator, not real markets)")
    result = run_demo(DemoConfig(out, n_assets, n_sessions, seed, backend, model_path))
    print_table("examples (SYNTHETIC headlines)", result.examples.set_index("headline"))
    print_table("demo summary (SYNTHETIC data)", result.rows)
