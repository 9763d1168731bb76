"""Ticker symbols: the one check every ticker passes before it is used as a key or becomes part of a file name."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import UsageError

# Letters, digits and the punctuation real symbols use (BRK.B, BF-B, ^GSPC, EURUSD=X); no path separators.
_TICKER = re.compile(r"^\^?[A-Z0-9][A-Z0-9.\-=]{0,19}$")


def validate_ticker(ticker: object) -> str:
    """The upper-cased ticker, or ``UsageError`` naming the value (``../../X``, ``a/b``, '' are refused)."""
    t = str(ticker).strip().upper().lstrip("$")
    if not _TICKER.match(t) or ".." in t:
        raise UsageError(f"ticker {ticker!r} is not a valid symbol; expected 1-20 letters/digits with . - = "
                         "(e.g. AAPL, BRK.B, ^GSPC) and no path separators")
    return t


def validate_tickers(tickers: Iterable[object]) -> list[str]:
    """Sorted unique validated tickers."""
    return sorted({validate_ticker(t) for t in tickers})
