"""``llmos-quant strategies list|new``: the resolver's search path and names, and a template to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import LLMOSQuantError, UsageError
from .common import console, print_table

app = typer.Typer(no_args_is_help=True, help="Strategies: built-ins, your strategies/ folder and --strategy-path.")
StrategyPath = Annotated[list[str] | None, typer.Option(help="Extra strategy folders, searched first (repeatable)")]


def list_(strategy_path: StrategyPath = None) -> None:
    """The folders searched (in order) and every strategy name found (first folder wins)."""
    from ..backtest.runner import strategy_params
    from ..jobs.registry import list_strategies, resolve_strategy

    searched, found = list_strategies(strategy_path or ())
    print_table("folders searched (in order)", {str(i + 1): p for i, p in enumerate(searched)})
    rows = {}
    for name, path in sorted(found.items()):
        try:
            params = ", ".join(f"{k}={v!r}" for k, v in strategy_params(resolve_strategy(name, strategy_path or ())).items())
        except LLMOSQuantError as exc:  # a broken file is listed with its error, not fatal for the listing
            params = f"cannot load: {exc}"
        rows[name] = f"{path}\n  params: {params or '-'}"
    print_table("strategies found (--param k=v sets a parameter)", rows)


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
    cls = "".join(part.capitalize() for part in name.split("_")) or "MyStrategy"
    text = TEMPLATE.read_text(encoding="utf-8").replace("class MyStrategy(", f"class {cls}(")
    text = text.replace('"""Template: copy to strategies/<your_name>.py, rename the class, implement target_weights.',
                        f'"""{name}: made from the template; implement target_weights.')
    target.write_text(text.replace("<your_name>", name), encoding="utf-8")
    console.print(f"wrote {target}; rename the class, implement target_weights, then "
                  f"`llmos-quant backtest --strategy {name} --signals ...`")


app.command("list")(list_)
app.command("new")(new)
