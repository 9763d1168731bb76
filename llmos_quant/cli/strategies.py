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
    from ..backtest.resolver import BUILTIN_DIR, builtin_names
    from ..backtest.runner import strategy_params
    from ..jobs.registry import list_strategies, resolve_strategy

    searched, found = list_strategies(strategy_path or ())
    builtins = builtin_names()
    print_table("folders searched (in order)", {str(i + 1): p for i, p in enumerate(searched)})
    rows = {}
    for name, path in sorted(found.items()):
        try:
            params = ", ".join(f"{k}={v!r}" for k, v in strategy_params(resolve_strategy(name, strategy_path or ())).items())
        except LLMOSQuantError as exc:  # a broken file is listed with its error, not fatal for the listing
            params = f"cannot load: {exc}"
        shadow = ("\n  overrides the built-in of this name" if name in builtins and Path(path).resolve().parent
                  != BUILTIN_DIR.resolve() else "")
        rows[name] = f"{path}\n  params: {params or '-'}{shadow}"
    print_table("strategies found (--param k=v sets a parameter)", rows)


def new(
    name: Annotated[str, typer.Argument(help="New strategy file stem, e.g. my_rule")],
    folder: Annotated[Path, typer.Option(help="Folder to write it in")] = Path("strategies"),
    override: Annotated[bool, typer.Option("--override", help="Allow a name a built-in uses: your file then "
                                                              "replaces the built-in wherever it is searched first")] = False,
) -> None:
    """Copy the strategy template to FOLDER/NAME.py."""
    from ..backtest.resolver import TEMPLATE, builtin_names

    if not name.isidentifier():
        raise UsageError(f"strategy name {name!r} must be a Python identifier such as my_rule")
    cls = "".join(part.capitalize() for part in name.split("_")) or "MyStrategy"
    builtins = builtin_names()
    taken = sorted({name, cls} & set(builtins))
    if taken and not override:
        raise UsageError(f"strategy name {name!r} is the built-in {builtins[taken[0]]!r}: a file of that name in {folder} "
                         "would silently replace it in every backtest run from here. Pick another name (e.g. "
                         f"my_{name}), or pass --override to replace the built-in on purpose")
    target = folder / f"{name}.py"
    if target.exists():
        raise UsageError(f"{target} already exists; pick another name or edit it")
    folder.mkdir(parents=True, exist_ok=True)
    text = TEMPLATE.read_text(encoding="utf-8").replace("class MyStrategy(", f"class {cls}(")
    text = text.replace('"""Template: copy to strategies/<your_name>.py, rename the class, implement target_weights.',
                        f'"""{name}: made from the template; implement target_weights.')
    target.write_text(text.replace("<your_name>", name), encoding="utf-8")
    if taken:
        console.print(f"{target} overrides the built-in {builtins[taken[0]]!r} where {folder} is searched first")
    console.print(f"wrote {target}; rename the class, implement target_weights, then "
                  f"`llmos-quant backtest --strategy {name} --signals ...`")


app.command("list")(list_)
app.command("new")(new)
