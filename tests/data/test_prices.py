from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmos_quant.data.prices import (
    YFinancePrices,
    normalise_yfinance,
    read_sp500_csvs,
    read_stocknet_csvs,
    validate_prices,
)
from llmos_quant.errors import DataNotFoundError, UsageError, ValidationError


def fake_yf_frame(tickers, start, end):
    dates = pd.bdate_range(start, pd.Timestamp(end) - pd.Timedelta(days=1))
    cols = pd.MultiIndex.from_product([["Close", "High", "Low", "Open", "Volume"], tickers], names=["Price", "Ticker"])
    data = np.arange(len(dates) * len(cols), dtype=float).reshape(len(dates), len(cols)) + 1
    return pd.DataFrame(data, index=pd.DatetimeIndex(dates, name="Date"), columns=cols)


class FakeDownloader:
    def __init__(self, fail_times=0):
        self.calls = []
        self.fail_times = fail_times

    def __call__(self, tickers, start, end, **kwargs):
        self.calls.append((tuple(tickers), start, end, kwargs))
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("Too Many Requests")
        return fake_yf_frame(tickers, start, end)


def test_normalise_yfinance_frame():
    out = normalise_yfinance(fake_yf_frame(["AAPL", "MSFT"], "2024-01-02", "2024-01-06"))
    assert list(out.index.names) == ["date", "asset"] and list(out.columns[:5]) == ["open", "high", "low", "close", "volume"]
    assert len(out) == 8 and out.index.get_level_values("date").tz is None


def test_explicit_yfinance_settings_cache_and_incremental_refresh(tmp_path):
    dl = FakeDownloader()
    src = YFinancePrices(cache=tmp_path, downloader=dl, sleep=lambda s: None)
    a = src.get(["aapl"], "2024-01-02", "2024-01-10")
    assert a.index.get_level_values("asset").unique().tolist() == ["AAPL"]
    kw = dl.calls[0][3]
    assert kw["auto_adjust"] is True and kw["multi_level_index"] is True and kw["actions"] is False
    # fully cached: no new download for a sub-range
    src.get(["AAPL"], "2024-01-03", "2024-01-05", refresh=False)
    assert len(dl.calls) == 1
    # extension: only the missing tail is fetched
    src.get(["AAPL"], "2024-01-02", "2024-01-20")
    assert dl.calls[1][1] == "2024-01-11"
    assert (tmp_path / "AAPL_adj.parquet").is_file()


def test_retries_with_backoff_then_clear_error(tmp_path):
    waits = []
    src = YFinancePrices(cache=tmp_path, downloader=FakeDownloader(fail_times=2), retries=3, backoff=0.5,
                         sleep=waits.append)
    assert len(src.get(["MSFT"], "2024-01-02", "2024-01-05")) > 0
    assert waits == [0.5, 1.0]
    src2 = YFinancePrices(cache=tmp_path / "empty", downloader=FakeDownloader(fail_times=9), retries=2,
                          sleep=lambda s: None)
    with pytest.raises(DataNotFoundError, match=r"no prices for \['ZZZZ'\].*Too Many Requests"):
        src2.get(["ZZZZ"], "2024-01-02", "2024-01-05")


def test_cached_prices_served_when_network_fails(tmp_path):
    src = YFinancePrices(cache=tmp_path, downloader=FakeDownloader(), sleep=lambda s: None)
    src.get(["AAPL"], "2024-01-02", "2024-01-10")
    offline = YFinancePrices(cache=tmp_path, downloader=FakeDownloader(fail_times=99), retries=1, sleep=lambda s: None)
    out = offline.get(["AAPL"], "2024-01-02", "2024-01-12")
    assert out.index.get_level_values("date").max() == pd.Timestamp("2024-01-10")


def test_local_csv_formats(tmp_path):
    sp = tmp_path / "sp"
    sp.mkdir()
    (sp / "AAA_data.csv").write_text("date,open,high,low,close,volume,Name\n2013-02-08,1,2,0.5,1.5,100,AAA\n"
                                     "2013-02-11,1.5,2,1,1.8,200,AAA\n")
    out = read_sp500_csvs(sp)
    assert out.loc[(pd.Timestamp("2013-02-11"), "AAA"), "close"] == 1.8
    with pytest.raises(DataNotFoundError, match="BBB"):
        read_sp500_csvs(sp, assets=["BBB"])
    sn = tmp_path / "sn"
    sn.mkdir()
    (sn / "AAA.csv").write_text("Date,Open,High,Low,Close,Adj Close,Volume\n2012-09-04,1,2,0.5,1.5,1.4,100\n")
    out = read_stocknet_csvs(sn)
    assert out["adj_close"].iloc[0] == 1.4


def test_validator_messages():
    df = pd.DataFrame({"open": [1.0]}, index=pd.MultiIndex.from_tuples([(pd.Timestamp("2020-01-01"), "A")],
                                                                       names=["day", "asset"]))
    with pytest.raises(ValidationError, match="MultiIndex"):
        validate_prices(df)
    df.index = df.index.set_names(["date", "asset"])
    with pytest.raises(ValidationError, match="lacks columns"):
        validate_prices(df)


@pytest.mark.data
def test_real_price_files(shared_data):
    sp = read_sp500_csvs(assets=["AAPL", "MSFT"], end="2013-12-31")
    assert sp.index.get_level_values("date").min() == pd.Timestamp("2013-02-08")
    sn = read_stocknet_csvs(assets=["AAPL"])
    assert len(sn) > 1000


@pytest.mark.network
def test_real_yfinance(tmp_path):
    out = YFinancePrices(cache=tmp_path).get(["AAPL"], "2024-01-02", "2024-01-31")
    assert len(out) > 15


SP_HEADER = "date,open,high,low,close,volume,Name\n"


def write_sp(tmp_path, rows: str, ticker: str = "AAA"):
    folder = tmp_path / "sp"
    folder.mkdir(exist_ok=True)
    (folder / f"{ticker}_data.csv").write_text(SP_HEADER + rows)
    return folder


def test_conflicting_duplicate_rows_are_refused_with_ticker_date_and_values(tmp_path):
    folder = write_sp(tmp_path, "2013-02-08,1,2,0.5,1.5,100,AAA\n2013-02-08,1,2,0.5,999.0,100,AAA\n"
                                "2013-02-11,1.5,2,1,1.8,200,AAA\n")
    with pytest.raises(ValidationError, match=r"AAA on 2013-02-08: close 1\.5 vs 999\.0") as err:
        read_sp500_csvs(folder)
    assert "conflicting" in str(err.value) and "Remove the wrong row" in str(err.value)


def test_exact_duplicate_rows_collapse_with_a_logged_count(tmp_path, caplog):
    folder = write_sp(tmp_path, "2013-02-08,1,2,0.5,1.5,100,AAA\n2013-02-08,1,2,0.5,1.5,100,AAA\n"
                                "2013-02-11,1.5,2,1,1.8,200,AAA\n")
    with caplog.at_level("WARNING", logger="llmos_quant.data.prices"):
        out = read_sp500_csvs(folder)
    assert len(out) == 2 and out["close"].tolist() == [1.5, 1.8]
    assert "collapsed 1 exact duplicate" in caplog.text


@pytest.mark.parametrize("bad", ["0", "-3.5"])
def test_non_positive_prices_are_refused(tmp_path, bad):
    folder = write_sp(tmp_path, f"2013-02-08,1,2,0.5,1.5,100,AAA\n2013-02-11,1.5,2,1,{bad},200,AAA\n")
    with pytest.raises(ValidationError, match=r"zero, negative or infinite.*AAA on 2013-02-11 \(close="):
        read_sp500_csvs(folder)
    px = make_frame([1.0, 0.0])
    with pytest.raises(ValidationError, match="AAA on 2020-01-02"):
        validate_prices(px)


def test_non_numeric_prices_are_refused_with_column_and_value(tmp_path):
    folder = write_sp(tmp_path, "2013-02-08,1,2,0.5,1.5,100,AAA\n2013-02-11,1.5,2,1,abc,200,AAA\n")
    with pytest.raises(ValidationError, match=r"column 'close'.*AAA on 2013-02-11 \(close='abc'\)"):
        read_sp500_csvs(folder)
    px = make_frame([1.0, 2.0]).astype({"open": object})
    px.iloc[1, px.columns.get_loc("open")] = "n.a.x"
    with pytest.raises(ValidationError, match=r"column 'open'.*'n\.a\.x'"):
        validate_prices(px)


def test_missing_closes_are_kept_logged_and_never_filled(tmp_path, caplog):
    folder = write_sp(tmp_path, "2013-02-08,1,2,0.5,1.5,100,AAA\n2013-02-11,1.5,2,1,,200,AAA\n"
                                "2013-02-12,1.5,2,1,1.7,200,AAA\n")
    with caplog.at_level("WARNING", logger="llmos_quant.data.prices"):
        out = read_sp500_csvs(folder)
    assert len(out) == 3 and np.isnan(out.loc[(pd.Timestamp("2013-02-11"), "AAA"), "close"])
    assert "1 row(s) have no close" in caplog.text and "AAA on 2013-02-11" in caplog.text
    px = make_frame([1.0, np.nan, 3.0])
    checked = validate_prices(px)
    assert np.isnan(checked["close"].iloc[1]) and len(checked) == 3  # not forward-filled, not dropped


def make_frame(closes):
    dates = pd.date_range("2020-01-01", periods=len(closes))
    idx = pd.MultiIndex.from_arrays([dates, ["AAA"] * len(closes)], names=["date", "asset"])
    c = np.asarray(closes, dtype=float)
    return pd.DataFrame({"open": np.where(np.isnan(c), 1.0, c), "high": 5.0, "low": 0.5, "close": c,
                         "volume": 10.0}, index=idx)


def test_cache_path_refuses_non_ticker_names(tmp_path):
    cache = tmp_path / "cache" / "prices"
    dl = FakeDownloader()
    src = YFinancePrices(cache=cache, downloader=dl, sleep=lambda s: None)
    with pytest.raises(UsageError, match=r"'\.\./\.\./X' is not a valid symbol"):
        src._path("../../X")
    with pytest.raises(UsageError, match="not a valid symbol"):
        src.get(["AAPL", "../../X"], "2024-01-02", "2024-01-05")
    assert dl.calls == []  # refused before any download
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == [] and sorted(p.name for p in tmp_path.iterdir()) == ["cache"]
    assert src._path("brk.b").name == "BRK.B_adj.parquet"


def test_price_dates_with_daylight_saving_offsets_are_the_dates_as_written(tmp_path):
    """A New York-zoned export (yfinance, pandas) writes -05:00 in winter and -04:00 after the switch: each row is
    the session written, not a crash over mixed offsets; unreadable dates are a ValidationError naming one."""
    from llmos_quant.jobs.registry import load_prices

    rows = ["date,asset,open,high,low,close,volume"]
    for day, off in (("2021-03-12", "-05:00"), ("2021-03-15", "-04:00"), ("2021-03-16", "-04:00")):
        rows.append(f"{day} 00:00:00{off},AAA,1,2,0.5,1.5,100")
    path = tmp_path / "ny.csv"
    path.write_text("\n".join(rows) + "\n")
    got = load_prices(str(path))
    assert got.index.get_level_values("date").tolist() == list(pd.to_datetime(["2021-03-12", "2021-03-15",
                                                                                 "2021-03-16"]))
    bad = tmp_path / "bad.csv"
    bad.write_text("date,asset,open,high,low,close,volume\n2021-03-12,AAA,1,2,0.5,1.5,100\nsoon,AAA,1,2,0.5,1.5,1\n")
    with pytest.raises(ValidationError, match="'soon' are not dates"):
        load_prices(str(bad))
