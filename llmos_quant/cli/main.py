"""``llmos-quant`` entry point: one Typer app, one module per subcommand, errors mapped to exit codes."""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console

from ..errors import LLMOSQuantError
from . import backtest, demo, factors, pretrain, score, signals, study, train

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="LLMOS financial sentiment encoders, daily signals, factor research and backtests.")
app.command("demo")(demo.demo)
app.command("score")(score.score)
app.command("pretrain")(pretrain.pretrain)
app.command("backtest")(backtest.backtest)
app.command("study")(study.study)
app.add_typer(signals.app, name="signals")
app.add_typer(train.app, name="train")
app.add_typer(factors.app, name="factors")

err = Console(stderr=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("LLMOS_QUANT_LOG", "WARNING"),
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app(args=argv, standalone_mode=False)
    except LLMOSQuantError as exc:
        err.print(f"[bold red]error ({type(exc).__name__}, exit {exc.exit_code}):[/] {exc}")
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err.print("aborted")
        return 130
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
