from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmos_quant.backtest.feeds import build_frames, feed_class, make_feeds
from llmos_quant.backtest.resolver import available, resolve_strategy
from llmos_quant.errors import StrategyNotFoundError, ValidationError
from tests.conftest import make_prices


def test_frames_mark_missing_days_and_carry_signals():
    px = make_prices({"A": [10.0, 11.0, 12.0, 13.0], "B": [5.0, 6.0, 7.0, 8.0]})
    px = px.drop((px.index.get_level_values("date").unique()[1], "B"))  # B missing on day 1
    px = px.drop((px.index.get_level_values("date").unique()[0], "A"))  # A not yet listed on day 0
    sig = pd.DataFrame({"sentiment": [0.5], "news_count": [1], "surprise": [np.nan]},
                       index=pd.MultiIndex.from_tuples([(pd.Timestamp("2021-01-05"), "A")], names=["date", "asset"]))
    frames = build_frames(px, sig)
    b = frames["B"]
    assert b["tradable"].tolist() == [1, 0, 1, 1]
    assert b["close"].iloc[1] == 5.0 and b["volume"].iloc[1] == 0  # last close carried, no volume
    a = frames["A"]
    assert a["tradable"].tolist() == [0, 1, 1, 1] and a["close"].iloc[0] == 11.0
    assert a["sentiment"].iloc[1] == 0.5 and np.isnan(a["sentiment"].iloc[0])
    feeds = make_feeds(px, sig)
    assert len(feeds) == 2 and "sentiment" in feeds[0].lines.getlinealiases()
    with pytest.raises(ValidationError, match="identifiers"):
        feed_class(["bad name"])
    with pytest.raises(ValidationError, match="no prices for assets"):
        build_frames(px, sig, assets=["ZZZ"])


def test_resolver_finds_shipped_strategies_by_stem_and_class():
    names = available()
    assert {"long_short", "sentiment_threshold", "sentiment_momentum"} <= set(names)
    assert resolve_strategy("long_short").__name__ == "LongShort"
    assert resolve_strategy("SentimentThreshold").__name__ == "SentimentThreshold"


def test_resolver_errors_list_paths_and_names(tmp_path):
    with pytest.raises(StrategyNotFoundError) as err:
        resolve_strategy("nope", [tmp_path])
    msg = str(err.value)
    assert str(tmp_path) in msg and "long_short" in msg and "Searched" in msg
    (tmp_path / "broken.py").write_text("import not_a_module_xyz\n")
    with pytest.raises(StrategyNotFoundError, match=r"broken.py.*ModuleNotFoundError"):
        resolve_strategy("broken", [tmp_path])
    (tmp_path / "old.py").write_text(
        "from llmos_quant.backtest.base import SignalStrategy\n"
        "class Old(SignalStrategy):\n    interface_version = 0\n    def target_weights(self, s):\n        return {}\n")
    with pytest.raises(StrategyNotFoundError, match="interface_version=0"):
        resolve_strategy("old", [tmp_path])


def test_missing_open_on_a_priced_day_takes_the_close():
    px = make_prices({"A": [10.0, 11.0, 12.0]})
    px.loc[(px.index.get_level_values("date")[1], "A"), "open"] = np.nan
    frame = build_frames(px)["A"]
    assert frame["open"].iloc[1] == 11.0 and frame["tradable"].iloc[1] == 1
