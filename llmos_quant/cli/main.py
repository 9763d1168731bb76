"""``llmos-quant`` entry point: one Typer app, one module per subcommand, errors mapped to exit codes.

Exit codes: 0 ok, 1 other library error (or an unexpected failure), 2 usage (including bad or missing options),
3 validation, 4 data not found, 5 fetch (network), 6 model load, 7 store, 8 strategy not found.
Expected errors print one line (what was received, what was expected, the fix); ``--debug`` (or
``LLMOS_QUANT_DEBUG=1``) adds the traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import traceback
from typing import Any

import typer
from rich.console import Console
from typer._click import exceptions as click_exc  # typer bundles its own click: catch its classes, not click's

from ..errors import LLMOSQuantError, StoreError
from . import backtest, demo, factors, notebooks, pretrain, score, signals, strategies, study, train
from .common import plain_metavars

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="LLMOS financial sentiment encoders, daily signals, factor research and backtests. "
                       "Exit codes: 0 ok, 1 other, 2 usage, 3 validation, 4 data not found, 5 fetch, 6 model load, "
                       "7 store, 8 strategy not found. Add --debug (or LLMOS_QUANT_DEBUG=1) anywhere for tracebacks.")
app.command("demo")(demo.demo)
app.command("score")(score.score)
app.command("pretrain")(pretrain.pretrain)
app.command("backtest")(backtest.backtest)
app.command("study")(study.study)
app.add_typer(signals.app, name="signals")
app.add_typer(train.app, name="train")
app.add_typer(factors.app, name="factors")
app.add_typer(strategies.app, name="strategies")
app.add_typer(notebooks.app, name="notebooks")

err = Console(stderr=True, soft_wrap=True)


def command() -> Any:
    """The click command of ``app`` with plain metavars on its help screens (``common.plain_metavars``)."""
    return plain_metavars(typer.main.get_command(app))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("LLMOS_QUANT_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    logging.basicConfig(level=os.environ.get("LLMOS_QUANT_LOG", "DEBUG" if debug else "WARNING"),
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        command()(args=args, standalone_mode=False, prog_name="llmos-quant")
    except LLMOSQuantError as exc:
        return _fail(exc, exc.exit_code, debug)
    except click_exc.NoArgsIsHelpError as exc:  # `llmos-quant` or a group alone: help on stdout, usage code
        exc.show()
        return 2
    except click_exc.ClickException as exc:  # missing/unknown option, bad value type: usage
        exc.show()
        return 2 if isinstance(exc, click_exc.UsageError) else 1
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        return 130
    except BrokenPipeError:  # `llmos-quant ... | head`: the reader left; not an error of ours
        with __import__("contextlib").suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep the interpreter's final flush quiet
        return 141
    except OSError as exc:  # disk full, permissions outside the store: say the real cause
        code = StoreError.exit_code if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) else 1
        return _fail(exc, code, debug)
    except Exception as exc:  # a bug: one line and where to look
        return _fail(exc, 1, debug, hint="unexpected error; rerun with --debug for the traceback and report it")
    return 0


def _fail(exc: BaseException, code: int, debug: bool, hint: str = "") -> int:
    if debug:
        err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    text = " ".join(str(exc).split())  # one line, whatever the library below wrote
    msg = f"error ({type(exc).__name__}, exit {code}): {text}" + (f" ({hint})" if hint else "")
    err.print(msg, markup=False, highlight=False)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
