"""``llmos-quant score``: sentiment of texts given on the command line or in a CSV column."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from ..errors import UsageError
from .common import console
from .train import source_defaults

_C = source_defaults("encoders.sentiment", "SentimentEncoder.create")  # defaults of the library's own entry points
_B = source_defaults("encoders.sentiment", "TransformerBackend.__init__")


def score(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to score, one argument each (quote them); ignored "
                                                           "with --file")] = None,
    file: Annotated[Path | None, typer.Option(help="CSV file with a header row; its --column is scored")] = None,
    column: Annotated[str, typer.Option(help="Text column of --file")] = "headline",
    out: Annotated[Path | None, typer.Option(help="Write text, p_negative, p_neutral, p_positive, score (= p_positive - "
                                                  "p_negative, -1..1), label, valid to this CSV \\[default: print a "
                                                  "table]")] = None,
    backend: Annotated[str, typer.Option(help="Sentiment backend: llmos (shipped model) | llmos-int8 (the same, "
                                              "dynamic int8, CPU) | llmos-mpnet (the larger 110M MPNet model; needs "
                                              "pip install 'llmos-quant\\[teacher]') | hf (--model-path) | lm "
                                              "(Loughran-McDonald) | vader")] = _C["backend"],
    model_path: Annotated[str | None, typer.Option(help="Model folder, llmos/hf only: for llmos an adapter folder or a "
                                                        "saved LLMOS classifier, for hf a Hugging Face "
                                                        "sequence-classification folder \\[default: llmos: the shipped "
                                                        "adapter; hf: required]")] = None,
    batch_size: Annotated[int, typer.Option(help="Texts per model batch, llmos/hf only (>= 1)")] = _B["batch_size"],
    quantize: Annotated[bool, typer.Option(help="Dynamic int8 quantization of the Linear layers, llmos/hf only; CPU "
                                                "only, so an error where CUDA is available")] = _B["quantize"],
) -> None:
    """Score texts with a sentiment backend (llmos default, llmos-int8, llmos-mpnet, hf, lm, vader)."""
    from ..encoders.sentiment import SentimentEncoder

    if file is not None:
        from ..errors import DataNotFoundError, ValidationError

        if file.is_dir():
            raise DataNotFoundError(f"--file {file} is a directory, not a file; pass a CSV with a {column!r} column")
        if not file.is_file():
            raise DataNotFoundError(f"--file {file} does not exist; pass a CSV with a {column!r} column")
        if file.stat().st_size == 0:
            raise ValidationError(f"--file {file} is empty (0 bytes); expected a CSV with a header row")
        try:  # every row is a text: blank lines and "NA"/"null" headlines are kept (and reported as not valid)
            frame = pd.read_csv(file, dtype=str, keep_default_na=False, skip_blank_lines=False)
        except UnicodeDecodeError as exc:
            raise ValidationError(f"--file {file} is not UTF-8 text ({exc.reason}); save it as UTF-8, "
                                  f"e.g. iconv -f latin1 -t utf-8 {file} > {file.stem}.utf8.csv") from exc
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValidationError(f"--file {file} is not a readable CSV ({type(exc).__name__}: {exc}); expected a "
                                  "header row, then one row per text") from exc
        if column not in frame:
            raise ValidationError(f"--file {file} has no column {column!r} (columns: {list(frame.columns)}); pass "
                                  "--column NAME")
        if frame.empty:
            raise ValidationError(f"--file {file} has a header row but no rows to score; expected one row per text")
        series = frame[column]
    elif texts:
        series = pd.Series(texts)
    else:
        raise UsageError("give texts as arguments or --file some.csv --column headline")
    kwargs: dict = {}
    if backend in ("llmos", "llmos-mpnet", "hf"):
        kwargs = {"batch_size": batch_size, "quantize": quantize}
    elif backend == "llmos-int8":  # int8 by name; --quantize is implied
        kwargs = {"batch_size": batch_size}
    if out:
        from ..paths import check_output_file

        check_output_file(out, "--out", example="scores.csv")
    enc = SentimentEncoder.create(backend, model_path, **kwargs)
    scored = enc.score(series)
    result = pd.concat([series.rename("text"), scored], axis=1)
    if out:
        from ..paths import write_atomic

        write_atomic(out, lambda tmp: result.to_csv(tmp, index=False), "the scores file")
        console.print(f"{len(result)} rows written to {out}")
    else:
        console.print(result.to_string(max_colwidth=70))
