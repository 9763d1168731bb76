"""``llmos-quant score``: sentiment of texts given on the command line or in a CSV column."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from ..errors import UsageError
from .common import console


def score(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to score")] = None,
    file: Annotated[Path | None, typer.Option(help="CSV file to score")] = None,
    column: str = "headline",
    out: Annotated[Path | None, typer.Option(help="Write scores to this CSV")] = None,
    backend: str = "llmos", model_path: str | None = None, batch_size: int = 64, quantize: bool = False,
) -> None:
    """Score texts with a sentiment backend (llmos default, hf, lm, vader)."""
    from ..encoders.sentiment import SentimentEncoder

    if file is not None:
        from ..errors import DataNotFoundError, ValidationError

        if not file.is_file():
            raise DataNotFoundError(f"--file {file} does not exist; pass a CSV with a {column!r} column")
        if file.stat().st_size == 0:
            raise ValidationError(f"--file {file} is empty (0 bytes); expected a CSV with a header row")
        try:
            frame = pd.read_csv(file)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ValidationError(f"--file {file} is not a readable CSV ({type(exc).__name__}: {exc})") from exc
        if column not in frame:
            raise UsageError(f"column {column!r} not in {file} (columns: {list(frame.columns)}); pass --column")
        series = frame[column]
    elif texts:
        series = pd.Series(texts)
    else:
        raise UsageError("give texts as arguments or --file some.csv --column headline")
    kwargs = {"batch_size": batch_size, "quantize": quantize} if backend in ("llmos", "hf") else {}
    enc = SentimentEncoder.create(backend, model_path, **kwargs)
    scored = enc.score(series)
    result = pd.concat([series.rename("text"), scored], axis=1)
    if out:
        result.to_csv(out, index=False)
        console.print(f"{len(result)} rows written to {out}")
    else:
        console.print(result.to_string(max_colwidth=70))
