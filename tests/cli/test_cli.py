from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd
import pytest

from llmos_quant.cli.main import main


def test_exit_codes_are_distinct_per_error_class():
    from llmos_quant import errors as E

    classes = [E.LLMOSQuantError, E.UsageError, E.ValidationError, E.DataNotFoundError, E.FetchError, E.ModelLoadError,
               E.StoreError, E.StrategyNotFoundError]
    assert [c.exit_code for c in classes] == list(range(1, 9))


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _files(tmp: Path) -> dict[str, str]:
    """Bad inputs for the table below, made on the fly."""
    import shutil

    from llmos_quant.encoders.sentiment import DEFAULT_ADAPTER

    (tmp / "empty.csv").write_text("")
    (tmp / "header_only.csv").write_text("headline\n")
    (tmp / "latin1.csv").write_bytes("headline\nCaf\u00e9 profits rise\n".encode("latin-1"))
    (tmp / "naive.csv").write_text("published_at,asset,headline\n2016-03-04 17:30:00,AAPL,Apple late news\n")
    broken = tmp / "truncated_model"
    shutil.copytree(DEFAULT_ADAPTER, broken)
    data = (broken / "adapter_model.safetensors").read_bytes()
    (broken / "adapter_model.safetensors").write_bytes(data[: len(data) // 3])
    (tmp / "not_a_dir").write_text("x")
    sig = tmp / "sig.csv"
    pd.DataFrame({"date": ["2021-01-04"], "asset": ["ZACM"], "sentiment": [0.1], "news_count": [1],
                  "surprise": [0.0]}).to_csv(sig, index=False)
    pd.DataFrame({"date": ["1999-01-04", "1999-01-05"], "asset": ["ZACM", "ZACM"], "sentiment": [0.1, -0.2],
                  "news_count": [1, 1], "surprise": [0.0, 0.0]}).to_csv(tmp / "old_sig.csv", index=False)
    pd.DataFrame({"date": ["1999-01-04", "1999-01-05"], "asset": ["ZACM", "ZACM"], "open": [10.0, 10.5],
                  "high": [11.0, 11.0], "low": [9.5, 10.0], "close": [10.5, 10.8], "volume": [1e5, 1e5]}).to_csv(
        tmp / "old_prices.csv", index=False)
    (tmp / "strats").mkdir()
    (tmp / "strats" / "crashes.py").write_text(
        "from llmos_quant.backtest.base import SignalStrategy\n\n\nclass Crashes(SignalStrategy):\n"
        "    interface_version = 1\n\n    def target_weights(self, snapshot):\n        return {'ZACM': 1 / 0}\n")
    (tmp / "not_a_store.duckdb").write_text("plain text")
    (tmp / "adir.csv").mkdir(exist_ok=True)
    (tmp / "bad_dates.csv").write_text("ticker,company,date,title\n" + "".join(
        f"AAPL,Apple Inc,2016-13-{i:02d},Apple headline {i}\n" for i in range(1, 30)))
    (tmp / "empty.rss").write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>quiet</title>'
                                   "<link>http://example.com</link><description>none</description></channel></rss>")
    wrong_base = tmp / "wrong_base_model"
    shutil.copytree(DEFAULT_ADAPTER, wrong_base)
    cfg = json.loads((wrong_base / "llmos_config.json").read_text())
    cfg["extra"]["base_fingerprint"] = "0" * 16
    (wrong_base / "llmos_config.json").write_text(json.dumps(cfg))
    return {"tmp": str(tmp), "sig": str(sig), "port": str(_closed_port())}


DAILY = ["signals", "daily", "--date", "2021-03-01", "--backend", "lm", "--quiet"]
CASES = [
    # (id, argv, exit code, text the one-line message must contain)
    ("ok", ["score", "--backend", "vader", "great results"], 0, ""),
    ("unexpected error in a user strategy", ["backtest", "--strategy", "crashes", "--strategy-path", "{tmp}/strats",
                                             "--signals", "{sig}", "--prices", "synthetic", "--out", "{tmp}/bt.html"], 1,
     "ZeroDivisionError"),
    ("no arguments", [], 2, ""),
    ("unknown option", [*DAILY, "--source", "synthetic", "--bogus", "1"], 2, "No such option"),
    ("missing option", ["signals", "daily", "--source", "synthetic"], 2, "Missing option"),
    ("non-integer batch size", [*DAILY, "--source", "synthetic", "--batch-size", "abc"], 2, "Invalid value for '--batch-size'"),
    ("bad date", ["signals", "daily", "--date", "2021-13-45", "--source", "synthetic"], 2, "is not a date"),
    ("date not written YYYY-MM-DD", ["signals", "daily", "--date", "05/06/2021", "--source", "synthetic"], 2,
     "YYYY-MM-DD"),
    ("backfill date not written YYYY-MM-DD", ["signals", "backfill", "--start", "20210301", "--end", "2021-03-05",
                                              "--source", "synthetic"], 2, "YYYY-MM-DD"),
    ("session still to come", ["signals", "daily", "--date", "2099-01-05", "--source", "synthetic", "--backend", "lm",
                               "--store", "{tmp}/s.duckdb"], 2, "still to come"),
    ("half-life nan", [*DAILY, "--source", "synthetic", "--half-life", "nan"], 2, "--half-life nan"),
    ("path-like ticker", [*DAILY, "--source", "synthetic", "--universe", "../../X"], 2, "not a valid symbol"),
    ("unknown ticker", [*DAILY, "--source", "synthetic", "--universe", "ZACMX"], 2, "ZACM"),
    ("empty universe", [*DAILY, "--source", "synthetic", "--universe", ""], 2, "names no ticker"),
    ("model path for a dictionary backend", [*DAILY, "--source", "synthetic", "--model-path", "{tmp}"], 2, "--model-path"),
    ("unknown news zone", [*DAILY, "--source", "synthetic", "--news-tz", "Mars/Base"], 2, "Mars/Base"),
    ("unknown strategy parameter", ["backtest", "--strategy", "long_short", "--signals", "{sig}", "--prices", "synthetic",
                                    "--param", "nosuch=1", "--out", "{tmp}/bt.html"], 2, "quantiles"),
    ("non-numeric strategy parameter", ["backtest", "--strategy", "long_short", "--signals", "{sig}", "--prices",
                                        "synthetic", "--param", "quantiles=abc", "--out", "{tmp}/bt.html"], 2, "abc"),
    ("bad backtest date", ["backtest", "--strategy", "long_short", "--signals", "{sig}", "--start", "2021-13-01"], 2,
     "2021-13-01"),
    ("nan commission", ["backtest", "--strategy", "long_short", "--signals", "{sig}", "--prices", "synthetic",
                        "--commission-bps", "nan", "--out", "{tmp}/bt.html"], 2, "finite"),
    ("nan cost in the tear sheet", ["factors", "tearsheet", "--signals", "{sig}", "--prices", "synthetic", "--cost-bps",
                                    "nan", "--out", "{tmp}/ts.html"], 2, "--cost-bps nan"),
    ("backtest max-loss above 1", ["backtest", "--strategy", "long_short", "--signals", "{sig}", "--prices",
                                   "synthetic", "--max-loss", "1.5", "--out", "{tmp}/bt.html"], 2, "--max-loss 1.5"),
    ("backtest dropping every signal row", ["backtest", "--strategy", "long_short", "--signals", "{tmp}/old_sig.csv",
                                            "--prices", "synthetic", "--out", "{tmp}/bt.html"], 3,
     "would drop 2 of the 2 signal rows"),
    ("pretraining batch of one", ["pretrain", "--batch-size", "1", "--out", "{tmp}/p"], 2, "InfoNCE needs negatives"),
    ("zero-byte news file", [*DAILY, "--source", "table:{tmp}/empty.csv", "--store", "{tmp}/s.duckdb"], 3, "0 bytes"),
    ("zone-less timestamps", [*DAILY, "--source", "table:{tmp}/naive.csv", "--store", "{tmp}/s.duckdb"], 3, "--news-tz"),
    ("every news row rejected", [*DAILY, "--source", "reuters:{tmp}/bad_dates.csv", "--store", "{tmp}/s.duckdb"], 3,
     "every row was rejected (29 rows: bad date"),
    ("missing news file", [*DAILY, "--source", "reuters:{tmp}/nope.csv", "--store", "{tmp}/s.duckdb"], 4, "nope.csv"),
    ("news file is a folder", [*DAILY, "--source", "reuters:{tmp}/adir.csv", "--store", "{tmp}/s.duckdb"], 4,
     "is a folder, not a file"),
    ("a feed with no entries, with a universe", [*DAILY, "--source", "rss:{tmp}/empty.rss", "--universe", "AAPL",
                                                 "--store", "{tmp}/s.duckdb"], 4, "has no news between"),
    ("missing universe file", [*DAILY, "--source", "synthetic", "--universe", "{tmp}/tickers.txt"], 4, "tickers.txt"),
    ("missing file to score", ["score", "--file", "{tmp}/nope.csv", "--backend", "vader"], 4, "nope.csv"),
    ("zero-byte file to score", ["score", "--file", "{tmp}/empty.csv", "--backend", "vader"], 3, "0 bytes"),
    ("file to score without the column", ["score", "--file", "{sig}", "--backend", "vader"], 3,
     "has no column 'headline'"),
    ("header-only file to score", ["score", "--file", "{tmp}/header_only.csv", "--backend", "vader"], 3, "no rows"),
    ("non-UTF-8 file to score", ["score", "--file", "{tmp}/latin1.csv", "--backend", "vader"], 3, "save it as UTF-8"),
    ("directory to score", ["score", "--file", "{tmp}", "--backend", "vader"], 4, "is a directory"),
    ("no news at all in the window", ["signals", "daily", "--date", "2026-06-01", "--source", "synthetic", "--backend",
                                      "lm", "--store", "{tmp}/s.duckdb"], 4, "has no news between"),
    ("tear sheet of signals before the price history", ["factors", "tearsheet", "--signals", "{tmp}/old_sig.csv",
                                                        "--prices", "synthetic", "--out", "{tmp}/ts.html"], 4,
     "has no session in its start..1999-02-04"),
    ("backtest on prices without a session in the signals' window",
     ["backtest", "--strategy", "long_short", "--signals", "{sig}", "--prices", "{tmp}/old_prices.csv", "--out",
      "{tmp}/bt.html"], 4, "has no session in 2021-01-04..2021-01-04 for these assets; it covers 1999-01-04..1999-01-05"),
    ("tear sheet on prices without a session in the signals' window",
     ["factors", "tearsheet", "--signals", "{sig}", "--prices", "{tmp}/old_prices.csv", "--out", "{tmp}/ts.html"], 4,
     "it covers 1999-01-04..1999-01-05"),
    ("study max-loss above 1", ["study", "--max-loss", "2", "--out", "{tmp}/s.md", "--out-dir", "{tmp}/st"], 2,
     "--max-loss 2.0"),
    ("missing signals", ["backtest", "--strategy", "long_short", "--signals", "{tmp}/none.duckdb"], 4, "none.duckdb"),
    ("network down", [*DAILY, "--source", "rss:http://127.0.0.1:{port}/feed", "--universe", "AAPL",
                      "--store", "{tmp}/s.duckdb"], 5, "127.0.0.1:{port}"),
    ("missing model folder", [*DAILY[:-3], "--source", "synthetic", "--model-path", "{tmp}/no_model", "--quiet",
                              "--store", "{tmp}/s.duckdb"], 6, "no_model"),
    ("model path is a file", [*DAILY[:-3], "--source", "synthetic", "--model-path", "{tmp}/empty.csv", "--quiet",
                              "--store", "{tmp}/s.duckdb"], 6, "is a file, not a folder"),
    ("base weights differ from the recorded ones", ["score", "--model-path", "{tmp}/wrong_base_model", "profit rose"], 6,
     "fingerprint 0000000000000000"),
    ("truncated safetensors", [*DAILY[:-3], "--source", "synthetic", "--model-path", "{tmp}/truncated_model", "--quiet",
                               "--store", "{tmp}/s.duckdb"], 6, "truncated_model"),
    ("tear sheet to a folder", ["factors", "tearsheet", "--signals", "{sig}", "--prices", "synthetic", "--out", "{tmp}"],
     7, "is a folder"),
    ("backtest report to a folder", ["backtest", "--strategy", "long_short", "--signals", "{sig}", "--prices",
                                     "synthetic", "--out", "{tmp}"], 7, "is a folder"),
    ("scores to a folder", ["score", "--backend", "vader", "--out", "{tmp}", "profit rose"], 7, "is a folder"),
    ("strategy folder that does not exist", ["backtest", "--strategy", "long_short", "--strategy-path", "{tmp}/nope",
                                             "--signals", "{sig}", "--prices", "synthetic", "--out", "{tmp}/bt.html"],
     8, "is not a folder (it does not exist)"),
    ("output parent is a file", [*DAILY, "--source", "synthetic", "--store", "{tmp}/s.duckdb", "--output",
                                 "{tmp}/not_a_dir/out.csv"], 7, "is a file"),
    ("store parent is a file", [*DAILY, "--source", "synthetic", "--store", "{tmp}/not_a_dir/s.duckdb"], 7, "not_a_dir"),
    ("not a store", ["backtest", "--strategy", "long_short", "--signals", "{tmp}/not_a_store.duckdb"], 7, "DuckDB"),
    ("unknown strategy", ["backtest", "--strategy", "nope", "--signals", "{sig}", "--prices", "synthetic",
                          "--out", "{tmp}/bt.html"], 8, "Searched"),
]


@pytest.mark.parametrize(("name", "argv", "code", "text"), CASES, ids=[c[0] for c in CASES])
def test_exit_code_contract(tmp_path, capsys, monkeypatch, name, argv, code, text):
    monkeypatch.setenv("LLMOS_QUANT_CACHE", str(tmp_path / "cache"))
    f = _files(tmp_path)
    got = main([a.format(**f) for a in argv])
    captured = capsys.readouterr()
    assert got == code, captured.err
    assert text.format(**f) in captured.err + captured.out
    assert "Traceback" not in captured.err


def test_debug_flag_shows_the_traceback(tmp_path, capsys):
    assert main(["--debug", "signals", "daily", "--date", "2021-03-01", "--source", "synthetic", "--backend", "lm",
                 "--half-life", "0", "--store", str(tmp_path / "s.duckdb")]) == 2
    assert "Traceback" in capsys.readouterr().err


@contextlib.contextmanager
def _tmpfs(mnt: Path, options: str, what: str):
    """A small tmpfs mounted at ``mnt`` for the test's duration; the test skips (naming ``what``) where it cannot."""
    import shutil
    import subprocess

    mnt.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
                                                       capture_output=True).returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here (needs root); {what} is not exercised")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_disk_full_is_a_store_error_naming_the_cause(tmp_path, capsys):
    with _tmpfs(tmp_path / "full", "size=600k", "the disk-full path") as mnt:
        code = main(["signals", "backfill", "--start", "2021-01-05", "--end", "2021-06-30", "--source", "synthetic",
                     "--backend", "lm", "--store", str(mnt / "s.duckdb"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 7, err
        assert "No space left" in err or "disk" in err.lower()
        assert "Traceback" not in err


def test_score_keeps_every_row_of_the_file(tmp_path, capsys):
    """Blank lines and headlines that read like missing values ("NA", "null") are rows too: counted in = out."""
    src = tmp_path / "h.csv"
    src.write_text("headline\nProfit rose\n   \nNA\nnull\n\nLoss widened\n")
    out = tmp_path / "scores.csv"
    assert main(["score", "--file", str(src), "--backend", "vader", "--out", str(out)]) == 0
    got = pd.read_csv(out, keep_default_na=False)
    assert got["text"].tolist() == ["Profit rose", "   ", "NA", "null", "", "Loss widened"]
    assert got["valid"].tolist() == [True, False, True, True, False, True]
    assert "6 rows written" in capsys.readouterr().out


def test_a_backtest_without_dates_covers_the_signals_window(tmp_path):
    """Without --start/--end the statistics and the benchmark cover the sessions the signals span (to the session
    after the last one), not the whole price history."""
    from llmos_quant.jobs.research import BacktestJobConfig, run_backtest_job

    store = tmp_path / "s.duckdb"
    assert main(["signals", "backfill", "--start", "2021-02-01", "--end", "2021-03-31", "--source", "synthetic",
                 "--backend", "lm", "--store", str(store), "--quiet"]) == 0
    res = run_backtest_job(BacktestJobConfig(strategy="long_short", signals=str(store), prices="synthetic",
                                             out=tmp_path / "bt.html")).result
    days = res.returns.index
    assert days.min() >= pd.Timestamp("2021-02-01") and days.max() <= pd.Timestamp("2021-04-01"), (days.min(),
                                                                                                    days.max())


def test_an_output_on_a_read_only_file_system_is_refused_before_any_work(tmp_path, capsys):
    from llmos_quant.signals.store import SignalStore

    store = tmp_path / "s.duckdb"
    with _tmpfs(tmp_path / "ro", "ro,size=100k", "the unwritable-output path") as mnt:
        code = main(["signals", "daily", "--date", "2021-03-01", "--source", "synthetic", "--backend", "lm", "--store",
                     str(store), "--output", str(mnt / "out.csv"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 7 and "--output" in err and "cannot create files" in err, err
        assert not store.exists()  # refused up front: no run is recorded as ok with its file missing
        code = main(["signals", "daily", "--date", "2021-03-01", "--source", "synthetic", "--backend", "lm", "--store",
                     str(mnt / "s.duckdb"), "--quiet"])
        assert code == 7 and "--store" in capsys.readouterr().err
    assert main(["signals", "daily", "--date", "2021-03-01", "--source", "synthetic", "--backend", "lm", "--store",
                 str(store), "--quiet"]) == 0
    with SignalStore(store, read_only=True) as st:
        assert len(st.runs()) == 1


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
    # the summary names the store it wrote (what `signals runs --store` and `backtest --signals` read)
    assert "signal store" in out and (tmp_path / "signals.duckdb").is_file()


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


@pytest.mark.parametrize(("args", "message"), [
    (["sentiment", "--counterfactuals", "--counterfactual-rules", "bogus"], "--counterfactual-rules 'bogus' is not valid"),
    (["sentiment", "--counterfactual-rules", "wide"], "has no effect without --counterfactuals"),
    (["distill", "--transfer-sources", "tweets"], "--transfer-sources 'tweets' is not valid (unknown: tweets)"),
    (["distill", "--transfer-sources", "reuters_title,reuters_title"], "(empty or repeated)"),
    (["distill", "--transfer-sources", ""], "e.g. --transfer-sources reuters_title,reuters_lede,stocknet_tweet"),
    (["distill", "--counterfactuals", "--counterfactual-rules", ","], "e.g. --counterfactual-rules wide"),
    (["distill", "--epochs", "0"], "Invalid value for '--epochs'"),
    (["ner", "--holdout-document", "6"], "--holdout-document"),
    (["ner", "--entity-swaps", "-1"], "--entity-swaps"),
    (["ner", "--clean-swap-names"], "but --entity-swaps is 0; add --entity-swaps N"),
    (["ner", "--lr", "0"], "Invalid value for '--lr': must be a finite number > 0, got 0.0"),
    (["ner", "--lr", "-1"], "Invalid value for '--lr'"),
    (["ner", "--lora-r", "0"], "Invalid value for '--lora-r'"),
    (["events", "--lr", "nan"], "Invalid value for '--lr': must be a finite number > 0, got nan"),
    (["events", "--epochs", "0"], "Invalid value for '--epochs'"),
    (["sentiment", "--lr", "0"], "Invalid value for '--lr'"),
    (["sentiment", "--epochs", "0"], "Invalid value for '--epochs'"),
    (["sentiment", "--lora-r", "0"], "Invalid value for '--lora-r'"),
    (["distill", "--head-lr", "0"], "Invalid value for '--head-lr'"),
    (["domain", "--lr", "-1e-4"], "Invalid value for '--lr'"),
])
def test_bad_training_options_are_usage_errors_before_any_training(args, message, tmp_path, capsys):
    """Exit 2 (usage) as the README's table says, naming the flag and the fix; nothing is trained or written."""
    code = main(["train", *args, "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.replace("\n", " ")
    assert code == 2 and message in err
    assert not (tmp_path / "out").exists()


def test_train_ner_passes_the_recipe_flags_through(tmp_path, monkeypatch):
    """The CLI only parses: the ablation's --clean-swap-names reaches train_ner, and the default is the shipped
    (raw) pools."""
    import llmos_quant.encoders.ner as ner

    seen: list[dict] = []
    monkeypatch.setattr(ner, "train_ner", lambda out, **kw: seen.append(kw) or {"reference": "stub"})
    assert main(["train", "ner", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["train", "ner", "--entity-swaps", "2", "--clean-swap-names", "--holdout-document", "1",
                 "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert seen[0]["clean_swap_names"] is False and seen[0]["entity_swap_copies"] == 0
    assert seen[1]["clean_swap_names"] is True and seen[1]["entity_swap_copies"] == 2
    assert seen[1]["holdout_document"] == 1


def test_another_recipe_written_over_a_shipped_model_is_refused_without_force(tmp_path, monkeypatch, capsys):
    """`train ner` with no options would replace the shipped tagger (--case-features --entity-swaps 2) by another
    recipe: exit 2 before any training, naming the options that differ, where the rebuild command is and the fix;
    with --force it only warns. The shipped recipe and other folders pass quietly. The training function is a stub
    here, so nothing is written."""
    import llmos_quant.encoders.ner as ner
    from llmos_quant.cli.train import guard_shipped
    from llmos_quant.encoders.train import SentimentTrainConfig
    from llmos_quant.errors import UsageError

    calls: list[Path] = []
    monkeypatch.setattr(ner, "train_ner", lambda out, **kw: calls.append(out) or {"reference": "stub"})
    shipped = Path(__file__).resolve().parents[2] / "llmos_quant" / "encoders" / "weights" / "finner-minilm"
    assert main(["train", "ner", "--out", str(shipped), "--quiet"]) == 2 and not calls
    err = " ".join(capsys.readouterr().err.split())
    assert "case_features False (shipped: True)" in err and "entity_swap_copies 0 (shipped: 2)" in err
    assert "docs/news_parser.md" in err and "--force" in err and "--out elsewhere" in err
    assert main(["train", "ner", "--out", str(shipped), "--force", "--quiet"]) == 0 and calls == [shipped]
    assert "warning:" in capsys.readouterr().out
    assert main(["train", "ner", "--case-features", "--entity-swaps", "2", "--out", str(shipped), "--quiet"]) == 0
    assert main(["train", "ner", "--out", str(tmp_path / "mine"), "--quiet"]) == 0 and len(calls) == 3
    assert "warning:" not in capsys.readouterr().out
    # the shipped student was distilled: a `train sentiment` fine-tune written there is another recipe
    from dataclasses import asdict

    student = shipped.parent / "finsent-minilm"
    with pytest.raises(UsageError, match="ensemble distillation"):
        guard_shipped(student, "finsent-minilm", asdict(SentimentTrainConfig()), section="train_config")
    assert not guard_shipped(tmp_path, "finsent-minilm", {}, section="train_config")


def test_train_linker_guards_the_shipped_model_and_checks_its_options(tmp_path, monkeypatch, capsys):
    """`train linker` with another C over the shipped link model is exit 2 before any fit; a bad C or keep is exit 2
    naming the option; elsewhere it fits (a stub here) and prints the development figures."""
    import llmos_quant.encoders.link_model as lm

    calls: list[Path] = []
    meta = {"dev_rows": 3000, "min_score": -0.5, "train_rows": 10, "fit_seconds": 1, "dev_top1": 0.66,
            "dev_rules_top1": 0.62}
    monkeypatch.setattr(lm, "train_link_model", lambda out, **kw: calls.append(out) or meta)
    shipped = Path(__file__).resolve().parents[2] / "llmos_quant" / "encoders" / "weights" / "link-reuters"
    if (shipped / "metrics.json").is_file():
        assert main(["train", "linker", "--out", str(shipped), "--c", "0.5"]) == 2 and not calls
        assert "c 0.5 (shipped: 0.2)" in " ".join(capsys.readouterr().err.split())
    assert main(["train", "linker", "--c", "0", "--out", str(tmp_path)]) == 2
    assert "--c" in capsys.readouterr().err
    assert main(["train", "linker", "--keep", "0", "--out", str(tmp_path)]) == 2 and not calls
    (tmp_path / "afile").write_text("x")  # an --out that is a file: refused before the fit
    assert main(["train", "linker", "--out", str(tmp_path / "afile")]) == 7 and not calls
    assert "is a file; the link model is a folder" in " ".join(capsys.readouterr().err.split())
    assert main(["train", "linker", "--out", str(tmp_path / "afile" / "lm")]) == 7 and not calls
    assert main(["train", "linker", "--out", str(tmp_path / "mine")]) == 0 and calls == [tmp_path / "mine"]
    out = capsys.readouterr().out
    assert "dev_top1" in out and "0.66" in out


def test_strategies_list_and_new(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["strategies", "list"]) == 0
    out = capsys.readouterr().out
    assert "long_short" in out and "quantiles=5" in out and "strategies" in out
    assert main(["strategies", "new", "my_rule"]) == 0
    text = (tmp_path / "strategies" / "my_rule.py").read_text()
    assert "class MyRule(SignalStrategy)" in text and "Template" not in text
    from llmos_quant.backtest.resolver import resolve_strategy

    assert resolve_strategy("my_rule").__name__ == "MyRule"  # found in ./strategies of the working directory
    assert main(["strategies", "new", "my_rule"]) == 2  # exists already


def test_strategies_new_refuses_a_built_in_name_unless_told_to_override(tmp_path, capsys, monkeypatch, caplog):
    """A user file named like a built-in would replace it silently in every backtest run from that folder."""
    from llmos_quant.backtest.resolver import BUILTIN_DIR, resolve_strategy

    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    for name in ("long_short", "sentiment_threshold"):  # a built-in's file stem; its class name SentimentThreshold
        assert main(["strategies", "new", name]) == 2
        err = capsys.readouterr().err
        assert f"is the built-in '{name}'" in err and "--override" in err and f"my_{name}" in err
    assert not (tmp_path / "strategies").exists()
    assert resolve_strategy("long_short").__module__.endswith("long_short")
    assert main(["strategies", "new", "long_short", "--override"]) == 0
    assert "overrides the built-in 'long_short'" in capsys.readouterr().out
    with caplog.at_level("WARNING", logger="llmos_quant.backtest.resolver"):
        cls = resolve_strategy("long_short")
    assert cls.__name__ == "LongShort" and "overrides the built-in" in caplog.text
    assert main(["strategies", "list"]) == 0
    out = capsys.readouterr().out
    assert "overrides the built-in of this name" in out and str(BUILTIN_DIR) in out


def test_a_store_with_several_models_asks_for_model(tmp_path, capsys):
    store = str(tmp_path / "s.duckdb")
    for backend in ("lm", "vader"):
        assert main(["signals", "daily", "--date", "2021-03-01", "--source", "synthetic", "--backend", backend,
                     "--store", store, "--quiet"]) == 0
    capsys.readouterr()
    argv = ["factors", "tearsheet", "--signals", store, "--prices", "synthetic", "--out", str(tmp_path / "t.html")]
    assert main(argv) == 2
    assert "--model" in capsys.readouterr().err

