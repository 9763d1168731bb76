"""Exception hierarchy; each class carries the CLI exit code it maps to."""

from __future__ import annotations


class LLMOSQuantError(Exception):
    """Base class of every error this library raises on purpose."""

    exit_code = 1


class UsageError(LLMOSQuantError, ValueError):
    """A bad argument or option value (the message names the value, what was expected and the fix)."""

    exit_code = 2


class ValidationError(LLMOSQuantError, ValueError):
    """A frame or file that does not have the expected shape, index, columns or dtypes."""

    exit_code = 3


class DataNotFoundError(LLMOSQuantError, FileNotFoundError):
    """Input data (a file, a folder, a ticker's prices) that does not exist and cannot be fetched."""

    exit_code = 4


class FetchError(LLMOSQuantError):
    """A network source (yfinance, an RSS feed, the model hub) failed after retries."""

    exit_code = 5


class ModelLoadError(LLMOSQuantError):
    """A model folder or checkpoint that cannot be loaded."""

    exit_code = 6


class StoreError(LLMOSQuantError):
    """The signal store could not be read or written."""

    exit_code = 7


class StrategyNotFoundError(LLMOSQuantError, LookupError):
    """A strategy name that the resolver cannot find or import."""

    exit_code = 8


class LookaheadBiasError(ValidationError):
    """A signal changed when news or prices after its session's cutoff were removed (it looked ahead)."""


class MaxLossExceededError(ValidationError):
    """Factor evaluation or a backtest would drop more of the signal rows (no price, no forward return, not a
    session) than ``max_loss``."""


class NoCompleteEventsError(ValidationError):
    """An event study found no event with an abnormal return at every offset of its window (exit 3)."""


class StrategyRuntimeError(LLMOSQuantError):
    """A strategy raised while running (exit 1): the message names the strategy, its params and the cause."""
