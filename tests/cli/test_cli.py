from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.cli.main import main
from llmos_quant.errors import LLMOSQuantError, StrategyNotFoundError, UsageError, ValidationError


def test_exit_codes_are_distinct_per_error_class():
    codes = {cls.exit_code for cls in (LLMOSQuantError, UsageError, ValidationError, StrategyNotFoundError)}
    assert len(codes) == 4


def test_usage_errors_map_to_exit_code_2(tmp_path, capsys):
    code = main(["signals", "daily", "--date", "2021-13-45", "--source", "synthetic", "--store", str(tmp_path / "s.duckdb")])
    assert code == 2
    assert "--date '2021-13-45' is not a date" in capsys.readouterr().err.replace("\n", " ")
    assert main(["signals", "backfill", "--start", "2021-03-01", "--end", "2021-02-01", "--source", "synthetic",
                 "--store", str(tmp_path / "s.duckdb")]) == 2


def test_unknown_ticker_and_unknown_strategy(tmp_path, capsys):
    code = main(["signals", "daily", "--date", "2021-03-01", "--source", "synthetic", "--universe", "ZACMX",
                 "--backend", "lm", "--store", str(tmp_path / "s.duckdb")])
    assert code == 2 and "ZACM" in capsys.readouterr().err
    sig = tmp_path / "sig.csv"
    pd.DataFrame({"date": ["2021-01-04"], "asset": ["ZACM"], "sentiment": [0.1], "news_count": [1],
                  "surprise": [0.0]}).to_csv(sig, index=False)
    code = main(["backtest", "--strategy", "nope", "--signals", str(sig), "--prices", "synthetic",
                 "--out", str(tmp_path / "bt.html")])
    assert code == 8


def test_signals_daily_backfill_tearsheet_backtest_on_synthetic(tmp_path, capsys):
    store = str(tmp_path / "s.duckdb")
    assert main(["signals", "backfill", "--start", "2021-01-05", "--end", "2021-06-30", "--source", "synthetic",
                 "--backend", "lm", "--store", store, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "signal_rows" in out
    assert main(["signals", "daily", "--date", "2021-06-30", "--source", "synthetic", "--backend", "lm",
                 "--store", store, "--quiet"]) == 0
    html = tmp_path / "ts.html"
    assert main(["factors", "tearsheet", "--signals", store, "--prices", "synthetic", "--out", str(html)]) == 0
    assert html.stat().st_size > 50_000
    bt = tmp_path / "bt.html"
    assert main(["backtest", "--strategy", "long_short", "--signals", store, "--prices", "synthetic",
                 "--param", "quantiles=3", "--out", str(bt)]) == 0
    assert (tmp_path / "bt" / "orders.csv").is_file()
    assert main(["backtest", "--strategy", "sentiment_threshold", "--signals", store, "--prices", "synthetic",
                 "--sweep", "threshold=0.1,0.3", "--out", str(bt)]) == 0
    assert len(pd.read_csv(tmp_path / "bt.sweep.csv")) == 2


def test_score_command(capsys):
    assert main(["score", "--backend", "vader", "great results", "terrible loss"]) == 0
    out = capsys.readouterr().out
    assert "positive" in out and "negative" in out


@pytest.mark.slow
def test_demo_runs_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LLMOS_QUANT_SHARED_DATA", "/nonexistent")
    assert main(["demo", "--out", str(tmp_path), "--n-assets", "10", "--n-sessions", "80"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and (tmp_path / "tear_sheet.html").is_file() and (tmp_path / "backtest.html").is_file()


@pytest.mark.data
def test_signals_daily_on_real_reuters(tmp_path, shared_data):
    store = str(tmp_path / "s.duckdb")
    assert main(["signals", "daily", "--date", "2016-06-01", "--source", "reuters", "--universe", "AAPL,MSFT,GOOG",
                 "--backend", "lm", "--store", store, "--quiet"]) == 0
    from llmos_quant.signals.store import SignalStore

    with SignalStore(store) as st:
        got = st.signals()
    assert sorted(got.index.get_level_values("asset")) == ["AAPL", "GOOG", "MSFT"]


@pytest.mark.data
def test_backtest_cli_on_real_sp500_prices(tmp_path, shared_data):
    store = str(tmp_path / "s.duckdb")
    universe = "AAPL,MSFT,GOOGL,AMZN,JPM,XOM,GE,WMT,INTC,CSCO"
    assert main(["signals", "backfill", "--start", "2016-01-04", "--end", "2016-06-30", "--source", "reuters",
                 "--universe", universe, "--backend", "lm", "--store", store, "--quiet"]) == 0
    out = tmp_path / "bt.html"
    assert main(["backtest", "--strategy", "long_short", "--signals", store, "--prices", "sp500",
                 "--start", "2016-01-04", "--end", "2016-06-30", "--param", "min_assets=4", "--out", str(out)]) == 0
    import json

    stats = json.loads((tmp_path / "bt" / "stats.json").read_text())
    assert stats["stats"]["orders"] > 0


def test_train_distill_without_teachers_exits_4_and_says_how_to_make_them(tmp_path, capsys):
    code = main(["train", "distill", "--teachers", str(tmp_path / "none"), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.replace("\n", " ")
    assert code == 4 and "seed_*.safetensors" in err and "--seeds-dir" in err
