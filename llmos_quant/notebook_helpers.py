"""Small loaders used by the notebooks so that they stay thin."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass
class Market:
    prices: pd.DataFrame
    news: pd.DataFrame
    universe_tickers: list[str]
    description: str
    names: dict[str, str] | None = None

    def signals(self, half_life: float = 5.0, events: str | None = None, backend: str = "llmos") -> pd.DataFrame:
        """Point-in-time daily signals for every session but the last two (their forward returns are unknown),
        scored by ``backend`` into a throw-away in-memory store; ``events='rules'`` adds ``sentiment_<event>``."""
        from .encoders.sentiment import SentimentEncoder
        from .signals.pipeline import run_signals
        from .signals.store import SignalStore

        sessions = self.prices.index.get_level_values("date").unique()
        encoder = SentimentEncoder.create(backend, **({"progress": False} if backend == "llmos" else {}))
        with SignalStore(":memory:") as store:
            run_signals(self.news, encoder, store, sessions[0], sessions[-3], universe=self.universe_tickers,
                        half_life=half_life, events=events, progress=False)
            return store.signals()

    def universe_table(self):  # type: ignore[no-untyped-def]
        """A ``UniverseTable`` for the news parser: the simulator's invented names, or the default real table."""
        from .encoders.news_parser import UniverseTable

        if self.names:
            return UniverseTable.from_pairs(self.names.items())
        return UniverseTable.default()


def load_market(use_shared_data: bool = False, n_assets: int = 12, n_sessions: int = 120, seed: int = 0,
                start: str = "2016-01-04", end: str = "2016-06-30", universe: list[str] | None = None) -> Market:
    """The SYNTHETIC simulator (default, offline) or real S&P 500 prices + Reuters headlines (research window)."""
    if not use_shared_data:
        from .data.simulate import simulate_market

        m = simulate_market(n_assets=n_assets, n_sessions=n_sessions, seed=seed)
        return Market(m.prices, m.news, list(m.universe["ticker"]),
                      f"SYNTHETIC market: {n_assets} invented tickers, {n_sessions} sessions, {len(m.news)} headlines",
                      dict(zip(m.universe["ticker"], m.universe["company"], strict=True)))
    from .data.prices import read_sp500_csvs
    from .jobs.registry import load_news

    universe = universe or ["AAPL", "MSFT", "AMZN", "GOOGL", "JPM", "XOM", "JNJ", "WMT", "BAC", "INTC", "CSCO", "PFE"]
    prices = read_sp500_csvs(assets=universe, start=start, end=end)
    news = load_news("reuters", start, end).frame
    news = news[news["asset"].isin(universe)].reset_index(drop=True)
    return Market(prices, news, universe, f"S&P 500 prices + Reuters headlines {start}..{end}, {len(universe)} tickers")


PLOTLY_RENDERER = "plotly_mimetype+notebook"


def setup_notebook(renderer: str = PLOTLY_RENDERER) -> None:
    """Make figures survive every view of a notebook.

    ``plotly_mimetype`` feeds JupyterLab's plotly renderer (the ``jupyterlab-plotly`` extension shipped with
    plotly); ``notebook`` also writes each figure as HTML with plotly.js embedded once in the notebook (no CDN), so
    nbconvert HTML and static viewers with no kernel draw it too. tqdm's notebook bars need ipywidgets (installed
    with the ``notebooks`` extra)."""
    import plotly.io as pio

    pio.renderers.default = renderer
