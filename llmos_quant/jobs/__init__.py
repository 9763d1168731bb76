"""The application layer: typed job configs and registries that the CLI, notebooks, study, demo and benchmarks call."""

from .registry import NEWS_SOURCES, PRICE_SOURCES, NewsBatch, list_strategies, load_news, load_prices, resolve_strategy
from .signals import (
    LookaheadJobConfig,
    SignalJobConfig,
    SignalJobResult,
    default_store,
    resolve_session,
    run_lookahead_job,
    run_signal_job,
)

__all__ = [
    "NEWS_SOURCES", "PRICE_SOURCES", "LookaheadJobConfig", "NewsBatch", "SignalJobConfig", "SignalJobResult",
    "default_store", "list_strategies", "load_news", "load_prices", "resolve_session", "resolve_strategy",
    "run_lookahead_job", "run_signal_job",
]
