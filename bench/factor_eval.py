"""Full factor evaluation: llmos_quant.factors vs alphalens-reloaded on the same data, same run.

Data: S&P 500 daily prices from ../shared/data, 2013-02-08 .. 2016-12-30 (the research window; ~980
sessions x ~500 assets), factor = 5-day price momentum (real), periods 1/5/10, 5 quantiles.
"Full evaluation" = clean factor + forward returns, rank IC per date, mean return by quantile (pooled and
by date), factor-weighted long-short returns. Each side runs in its own process (own peak RSS).

    python bench/factor_eval.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import isolated, machine, write  # noqa: E402

START, END = "2013-02-08", "2016-12-30"


def inputs():
    from llmos_quant.data.prices import read_sp500_csvs

    prices = read_sp500_csvs(start=START, end=END)
    close = prices["close"].unstack("asset")
    factor = (close / close.shift(5) - 1).stack().rename("momentum_5d")
    factor.index = factor.index.set_names(["date", "asset"])
    return prices, factor.dropna().sort_index()


def run_ours() -> dict:
    from llmos_quant.factors import evaluate as ev

    prices, factor = inputs()
    t0 = time.perf_counter()
    data = ev.clean_factor_data(factor, prices, periods=(1, 5, 10), n_quantiles=5)
    ic = ev.information_coefficient(data)
    q, se = ev.mean_return_by_quantile(data)
    qd, _ = ev.mean_return_by_quantile(data, by_date=True)
    fr = ev.factor_returns(data)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "rows": len(data), "assets": int(data.index.get_level_values(1).nunique()),
            "dates": int(data.index.get_level_values(0).nunique()),
            "ic": ic.to_numpy().tolist(), "q": q.to_numpy().tolist(), "se": se.to_numpy().tolist(),
            "qd": qd.to_numpy().tolist(), "fr": fr.to_numpy().tolist()}


def run_alphalens() -> dict:
    import alphalens as al

    from llmos_quant.factors.evaluate import entry_prices

    prices, factor = inputs()
    t0 = time.perf_counter()
    px = entry_prices(prices)  # same convention: trade at the next session's open
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fd = al.utils.get_clean_factor_and_forward_returns(factor, px, quantiles=5, periods=(1, 5, 10),
                                                           filter_zscore=None, max_loss=1.0)
        ic = al.performance.factor_information_coefficient(fd)
        q, se = al.performance.mean_return_by_quantile(fd)
        qd, _ = al.performance.mean_return_by_quantile(fd, by_date=True)
        fr = al.performance.factor_returns(fd)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "rows": len(fd), "ic": ic.to_numpy().tolist(), "q": q.to_numpy().tolist(),
            "se": se.to_numpy().tolist(), "qd": qd.to_numpy().tolist(), "fr": fr.to_numpy().tolist()}


def main() -> None:
    import numpy as np

    ours = isolated(run_ours)
    ref = isolated(run_alphalens)
    diffs = {k: float(np.nanmax(np.abs(np.array(ours[k]) - np.array(ref[k])))) for k in ("ic", "q", "se", "qd", "fr")}
    rows = [{"impl": "alphalens-reloaded", "seconds": round(ref["seconds"], 2), "peak_rss_mb": round(ref["peak_rss_mb"])},
            {"impl": "llmos_quant.factors", "seconds": round(ours["seconds"], 2), "peak_rss_mb": round(ours["peak_rss_mb"])}]
    speedup = ref["seconds"] / ours["seconds"]
    print(f"data: {ours['assets']} assets x {ours['dates']} dates, {ours['rows']:,} rows ({START}..{END})")
    print(f"{'impl':22s} {'seconds':>9s} {'peak RSS MB':>12s}")
    for r in rows:
        print(f"{r['impl']:22s} {r['seconds']:9.2f} {r['peak_rss_mb']:12.0f}")
    print(f"speed-up: {speedup:.1f}x; rows equal: {ours['rows'] == ref['rows']}; max |diff|: {diffs}")
    print("written", write("factor_eval", {"machine": machine(), "window": [START, END], "assets": ours["assets"],
                                            "dates": ours["dates"], "rows": ours["rows"], "table": rows,
                                            "speedup": speedup, "max_abs_diff": diffs}))


if __name__ == "__main__":
    main()
