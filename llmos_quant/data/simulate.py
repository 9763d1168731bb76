"""SYNTHETIC market-and-news simulator: the offline default for the demo, notebooks and tests only.

Nothing here is real data. Companies and tickers are invented (every ticker starts with ``Z`` and the
source is ``synthetic``). The simulator plants a known sentiment effect so that the pipeline can be
checked end to end:

1. Each session and asset, news arrives with probability ``news_rate``. An event has a true polarity
   (-1, 0, +1) and a headline drawn from a vocabulary of real-looking event templates of that polarity.
   Publication times are spread over the day (pre-market, intraday, after the 16:00 close) and weekends.
2. The point-in-time session D of each headline follows ``assign_sessions`` (cutoff 16:00 New York).
3. Open-to-open log returns: market factor + idiosyncratic noise, plus ``effect_bps`` x (mean true
   polarity of the news assigned to D) on the return from D+1's open to D+2's open, i.e. exactly the
   return a signal dated D can trade. So a correct, point-in-time sentiment signal has positive IC at the
   1-day horizon, and a look-ahead bug would show up as a wrong-horizon effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .calendar import assign_sessions, trading_sessions
from .news import NEWS_COLUMNS, _finish

POSITIVE = [
    "{co} beats quarterly profit estimates as sales jump",
    "{co} raises full-year revenue guidance",
    "{co} shares surge after record quarterly results",
    "Analysts upgrade {co} to buy, citing strong demand",
    "{co} wins $2 billion contract from federal agency",
    "{co} announces $1 billion share buyback and raises dividend",
    "{co} profit rises 25 pct, beating forecasts",
    "{co} posts strong growth in subscribers, lifts outlook",
    "{co} receives regulatory approval for flagship product",
]
NEGATIVE = [
    "{co} misses revenue estimates, shares fall",
    "{co} cuts full-year outlook as demand weakens",
    "{co} faces federal probe over accounting practices",
    "{co} shares slump after profit warning",
    "Analysts downgrade {co} to sell on margin pressure",
    "{co} recalls products after safety complaints",
    "{co} quarterly loss widens as costs rise",
    "{co} to cut 3,000 jobs amid falling sales",
    "{co} loses patent lawsuit, faces $500 million damages",
]
NEUTRAL = [
    "{co} to present at industry conference next week",
    "{co} names new chief financial officer",
    "{co} schedules third-quarter earnings call",
    "{co} to hold annual shareholder meeting in May",
    "{co} completes previously announced debt offering",
    "{co} opens new office in Chicago",
    "{co} appoints two directors to its board",
]
_NAMES = [
    ("ZACM", "Acme Robotics"), ("ZBLU", "Bluewater Energy"), ("ZCRX", "Corex Pharmaceuticals"),
    ("ZDLT", "Delta Freight"), ("ZELM", "Elmwood Bancorp"), ("ZFRN", "Fernhill Foods"),
    ("ZGLX", "Galaxis Semiconductor"), ("ZHRB", "Harbor Retail"), ("ZION", "Ionic Materials"),
    ("ZJET", "Jetstream Airlines"), ("ZKEY", "Keystone Insurance"), ("ZLUM", "Lumen Software"),
    ("ZMAP", "Maple Telecom"), ("ZNOV", "Nova Biotech"), ("ZORB", "Orbital Systems"),
    ("ZPIN", "Pinecrest Homes"), ("ZQNT", "Quantex Networks"), ("ZRDG", "Ridgeline Mining"),
    ("ZSOL", "Solaris Power"), ("ZTRN", "Terran Logistics"), ("ZUNI", "Unity Health"),
    ("ZVRT", "Vertex Apparel"), ("ZWLD", "Wildflower Cosmetics"), ("ZXEN", "Xenon Motors"),
    ("ZYLD", "Yieldstone Capital"), ("ZZEP", "Zephyr Media"), ("ZAUR", "Aurora Chemicals"),
    ("ZBRK", "Brookfield Steel"), ("ZCDR", "Cedar Water"), ("ZDUN", "Dune Gaming"),
    ("ZEMB", "Ember Restaurants"), ("ZFAL", "Falcon Aerospace"), ("ZGRN", "Greenfield Agri"),
    ("ZHEX", "Hexagon Data"), ("ZIRS", "Iris Optics"), ("ZJAD", "Jade Hotels"),
    ("ZKIN", "Kinetic Devices"), ("ZLYN", "Lynx Security"), ("ZMER", "Meridian Rail"),
    ("ZNRT", "Northstar Paper"),
]


@dataclass(frozen=True)
class SimulatedMarket:
    """Output of ``simulate_market``: prices (date, asset), news (news frame), truth (date, asset)."""

    prices: pd.DataFrame
    news: pd.DataFrame
    truth: pd.DataFrame  # true mean polarity per session D and the planted return it drives
    universe: pd.DataFrame  # ticker, company
    params: dict


def simulate_market(n_assets: int = 30, start: str = "2021-01-04", n_sessions: int = 250, news_rate: float = 0.15,
                    effect_bps: float = 80.0, vol_bps: float = 150.0, seed: int = 0) -> SimulatedMarket:
    """Simulate a SYNTHETIC market with a planted next-session sentiment effect (see module docstring)."""
    if not 1 <= n_assets <= len(_NAMES):
        raise ValueError(f"n_assets must be in [1, {len(_NAMES)}], got {n_assets}")
    if n_sessions < 10:
        raise ValueError(f"n_sessions must be >= 10, got {n_sessions}")
    rng = np.random.default_rng(seed)
    sessions = trading_sessions(start, pd.Timestamp(start) + pd.Timedelta(days=int(n_sessions * 1.6) + 30))[:n_sessions + 2]
    tickers, companies = zip(*_NAMES[:n_assets], strict=True)
    # --- news: calendar days from the day before the first session to the last session --------------
    days = pd.date_range(sessions[0] - pd.Timedelta(days=1), sessions[-3], freq="D")
    rows = []
    for day in days:
        for t, co in zip(tickers, companies, strict=True):
            rate = news_rate * (0.3 if day.weekday() >= 5 else 1.0)
            if rng.random() >= rate:
                continue
            polarity = int(rng.choice([-1, 0, 1], p=[0.3, 0.35, 0.35]))
            pool = {1: POSITIVE, -1: NEGATIVE, 0: NEUTRAL}[polarity]
            minute = int(rng.choice([rng.integers(6 * 60, 9 * 60 + 30), rng.integers(9 * 60 + 30, 16 * 60),
                                     rng.integers(16 * 60, 22 * 60)], p=[0.35, 0.4, 0.25]))
            local = day + pd.Timedelta(minutes=minute)
            rows.append({"published_at": local.tz_localize("America/New_York").tz_convert("UTC"),
                         "date_only": False, "asset": t, "headline": pool[rng.integers(len(pool))].format(co=co),
                         "body": "", "url": "", "source": "synthetic", "polarity": polarity})
    raw = pd.DataFrame(rows)
    raw["session"] = assign_sessions(raw["published_at"])
    polarity = raw[["published_at", "asset", "polarity", "session"]]
    news = _finish(raw.drop(columns=["polarity", "session"]), [], "synthetic").frame
    # --- truth: mean polarity per (session, asset) -----------------------------------------------------
    truth = polarity.groupby(["session", "asset"])["polarity"].mean().rename("true_polarity").to_frame()
    truth.index = truth.index.set_names(["date", "asset"])
    pol = truth["true_polarity"].unstack("asset").reindex(index=sessions, columns=list(tickers)).fillna(0.0)
    # --- prices: open-to-open returns with the planted effect ----------------------------------------
    n, k = len(sessions), len(tickers)
    market = rng.normal(0.0003, vol_bps / 2e4, size=n)
    r = market[:, None] + rng.normal(0, vol_bps / 1e4, size=(n, k))
    # return from open[D+1] to open[D+2] sits at row D+2 (r[t] = log(open[t] / open[t-1]))
    r[2:] += effect_bps / 1e4 * pol.to_numpy()[:-2]
    r[0] = 0.0
    open_ = 50.0 * np.exp(np.cumsum(r, axis=0)) * rng.uniform(0.5, 3.0, size=k)
    close = open_ * np.exp(rng.normal(0, vol_bps / 3e4, size=(n, k)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol_bps / 4e4, size=(n, k))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol_bps / 4e4, size=(n, k))))
    volume = rng.integers(200_000, 5_000_000, size=(n, k)).astype(float)
    idx = pd.MultiIndex.from_product([sessions, list(tickers)], names=["date", "asset"])
    prices = pd.DataFrame({"open": open_.ravel(), "high": high.ravel(), "low": low.ravel(),
                           "close": close.ravel(), "volume": volume.ravel()}, index=idx).sort_index()
    truth = truth[truth.index.get_level_values("date").isin(sessions)]
    universe = pd.DataFrame({"ticker": tickers, "company": companies})
    params = dict(n_assets=n_assets, start=start, n_sessions=n_sessions, news_rate=news_rate,
                  effect_bps=effect_bps, vol_bps=vol_bps, seed=seed, synthetic=True)
    assert list(news.columns) == NEWS_COLUMNS
    return SimulatedMarket(prices=prices, news=news, truth=truth, universe=universe, params=params)
