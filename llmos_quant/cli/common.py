"""Helpers shared by the subcommands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from ..errors import UsageError

console = Console(width=None if sys.stdout.isatty() else 160)  # cron logs and pipes get wide tables, not 80 cols


def parse_universe(universe: str | None) -> tuple[str, ...] | None:
    """'AAPL,MSFT' or a path to a file with one ticker per line (or a 'ticker' column); each ticker validated."""
    from ..data.tickers import validate_tickers

    if universe is None:
        return None
    if not universe.strip():
        raise UsageError("--universe '' names no ticker; pass e.g. AAPL,MSFT or a file, or leave the option out")
    path = Path(universe)
    if path.is_file():
        if path.stat().st_size == 0:
            raise UsageError(f"--universe file {path} is empty; expected one ticker per line")
        if path.suffix == ".csv":
            frame = pd.read_csv(path)
            col = "ticker" if "ticker" in frame else frame.columns[0]
            raw = [str(t) for t in frame[col]]
        else:
            raw = [t.split("#")[0] for t in path.read_text().splitlines() if t.split("#")[0].strip()]
    elif path.suffix in (".txt", ".csv"):
        from ..errors import DataNotFoundError

        raise DataNotFoundError(f"--universe file {universe} does not exist; pass tickers (AAPL,MSFT) or an existing file")
    else:
        raw = [t for t in universe.split(",") if t.strip()]
    if not raw:
        raise UsageError(f"--universe {universe!r} names no ticker; pass e.g. AAPL,MSFT or a file")
    return tuple(validate_tickers(raw))


def print_table(title: str, rows: dict | pd.DataFrame, no_wrap: tuple[str, ...] = ()) -> None:
    """A rich table of a frame (its index as the first column) or of key-value pairs; ``no_wrap``: columns kept on
    one line (identifiers a user copies)."""
    t = Table(title=title)
    if isinstance(rows, pd.DataFrame):
        frame = rows.reset_index()
        for c in frame.columns:
            t.add_column(str(c), overflow="fold", no_wrap=str(c) in no_wrap)
        for _, r in frame.iterrows():
            t.add_row(*[_fmt(v, strip=False) for v in r])  # a column keeps its decimals aligned
    else:
        t.add_column("item", overflow="fold")
        t.add_column("value", overflow="fold")
        for k, v in rows.items():
            t.add_row(str(k), _fmt(v))
    console.print(t)


def _fmt(v: object, strip: bool = True) -> str:
    """Integers (also integral floats) as integers, other floats to 4 decimals (in a key-value table without
    trailing zeros: 6.7, not 6.7000), the rest as text."""
    import math

    if isinstance(v, float):
        if math.isfinite(v) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        text = f"{v:.4f}"
        if not strip:
            return text
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return f"{v:.2e}" if text in ("0", "-0") else text  # 1e-05 stays visible
    return str(v)


def parse_params(params: list[str] | None) -> dict:
    """--param k=v (repeatable): numbers become int/float, true/false booleans, else strings."""
    out = {}
    for item in params or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {item!r}: expected key=value, e.g. --param threshold=0.2")
        out[key] = _coerce(value)
    return out


def _coerce(value: str):  # type: ignore[no-untyped-def]
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _example(param: typer.CallbackParam) -> str:
    default = param.default
    return f"; e.g. {param.opts[-1]} {default}" if default is not None and not callable(default) else ""


def positive(param: typer.CallbackParam, value: float) -> float:
    """Option callback: a learning rate must be a finite number > 0 (a usage error, exit 2, before anything loads);
    the message gives the value received and the option's default as an example."""
    import math

    if not (value > 0 and math.isfinite(value)):
        raise typer.BadParameter(f"must be a finite number > 0, got {value!r}{_example(param)}")
    return value


def fraction(param: typer.CallbackParam, value: float) -> float:
    """Option callback: a share in [0, 1) (a usage error, exit 2, before anything loads)."""
    if not 0.0 <= value < 1.0:
        raise typer.BadParameter(f"must be a fraction in [0, 1), got {value!r}{_example(param)}")
    return value


def at_least(low: int, why: str = "") -> Any:
    """Option callback for a whole number >= ``low``: exit 2 naming the value received, the bound (and ``why``) and
    the option's default as an example."""

    def check(param: typer.CallbackParam, value: int) -> int:
        if value < low:
            reason = f" ({why})" if why else ""
            raise typer.BadParameter(f"must be >= {low}{reason}, got {value}{_example(param)}")
        return value

    return check


GE0, GE1, GE2 = at_least(0), at_least(1), at_least(2, "InfoNCE needs negatives")  # the usual bounds


def plain_metavars(command: Any) -> Any:
    """Help screens in the usual CLI words instead of Python type names: a date option reads ``YYYY-MM-DD``, other
    values ``TEXT`` / ``INTEGER`` / ``FLOAT`` / ``PATH``, and a flag (``--quiet``, ``--help``) shows no value at all.
    Typer 0.29 prints ``<str>``, ``<float>`` and ``<bool>`` (also after ``--help``, which takes no value). Only
    options without a metavar of their own are changed; an argument keeps its name and gets the same words in its
    type column (``TEXT...`` for one that takes several values). Walks the command and its subcommands; returns it."""
    from typing import get_args

    words = {str: "TEXT", int: "INTEGER", float: "FLOAT", Path: "PATH"}

    def word(p: Any) -> str | None:
        desc = getattr(p, "type_descriptor", None)
        if getattr(p, "is_flag", False) or getattr(p, "is_bool_flag", False):
            return ""
        if desc is None or getattr(desc, "is_choice", False):
            return None
        ann = desc.annotation
        if getattr(desc, "is_list", False):
            ann = (get_args(ann) or (str,))[0]
        if ann is bool:
            return ""
        if ann is str and (p.name or "") in ("start", "end", "date"):
            return "YYYY-MM-DD"
        return words.get(ann)

    def visit(cmd: Any) -> None:
        params = list(getattr(cmd, "params", []))
        ctx_cls = getattr(cmd, "context_class", None)
        if ctx_cls is not None:
            help_opt = cmd.get_help_option(ctx_cls(cmd, info_name=cmd.name))
            if help_opt is not None:
                params.append(help_opt)
        for p in params:
            kind = getattr(p, "param_type_name", "")
            if kind == "option" and p.metavar is None and (w := word(p)) is not None:
                p.metavar = w
            elif kind == "argument" and hasattr(p, "display_type_rich") and (w := word(p)):
                # an argument's metavar is its display name in Typer: only the type column is reworded
                shown = w + ("..." if p.nargs != 1 else "")
                p.display_type_rich = lambda ctx, shown=shown: shown
        for sub in getattr(cmd, "commands", {}).values():
            visit(sub)

    visit(command)
    return command
