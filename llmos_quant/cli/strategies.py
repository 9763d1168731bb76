"""``llmos-quant strategies list|new``: the resolver's search path and names, and a template to start from."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from .common import console, print_table

app = typer.Typer(no_args_is_help=True, help="Strategies: built-ins, your strategies/ folder and --strategy-path.")
StrategyPath = Annotated[list[str] | None, typer.Option(help="Extra strategy folders, searched first (repeatable)")]


def list_(strategy_path: StrategyPath = None) -> None:
    """The folders searched (in order) and every strategy name found (first folder wins)."""
    from ..jobs.registry import list_strategies

    searched, found = list_strategies(strategy_path or ())
    print_table("folders searched (in order)", {str(i + 1): p for i, p in enumerate(searched)})
    print_table("strategies found", {name: str(path) for name, path in sorted(found.items())})


def new(
    name: Annotated[str, typer.Argument(help="New strategy file stem, e.g. my_rule")],
    folder: Annotated[Path, typer.Option(help="Folder to write it in")] = Path("strategies"),
) -> None:
    """Copy the strategy template to FOLDER/NAME.py."""
    from ..backtest.resolver import TEMPLATE

    if not name.isidentifier():
        raise UsageError(f"strategy name {name!r} must be a Python identifier such as my_rule")
    target = folder / f"{name}.py"
    if target.exists():
        raise UsageError(f"{target} already exists; pick another name or edit it")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATE, target)
    console.print(f"wrote {target}; rename the class, implement target_weights, then "
                  f"`llmos-quant backtest --strategy {name} --signals ...`")


app.command("list")(list_)
app.command("new")(new)
