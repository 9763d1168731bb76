"""Writes the notebooks of this folder from the cell sources below (outputs stripped).

Run `python notebooks/_build.py` after editing; the tests execute every notebook with papermill.
Each notebook is thin: imports and calls into llmos_quant, with markdown explaining the research step.
The parameter cell (tagged ``parameters``) switches between the offline SYNTHETIC default and
../shared/data (``use_shared_data = True``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent

COMMON_PARAMS = '''use_shared_data = False  # True: real data from ../shared/data (S&P 500 prices, Reuters headlines)
n_assets = 12            # synthetic market size (offline default)
n_sessions = 120
seed = 0'''

LOAD = '''from llmos_quant.notebook_helpers import load_market
market = load_market(use_shared_data, n_assets=n_assets, n_sessions=n_sessions, seed=seed)
prices, news = market.prices, market.news
print(market.description)'''

NOTEBOOKS = {
    "01_data_pull": [
        ("md", "# 01 - Data pull\nPrices and news in the project's long `(date, asset)` shape. Offline, the default is the "
               "**SYNTHETIC** simulator (invented tickers, a planted sentiment effect); set `use_shared_data = True` "
               "for the S&P 500 prices and Reuters headlines in `../shared/data`, or use `YFinancePrices` when online."),
        ("params", COMMON_PARAMS + "\nuse_yfinance = False  # needs network"),
        ("code", LOAD),
        ("md", "## Prices\nValidated `(date, asset)` OHLCV; the same validator guards every entry point."),
        ("code", "from llmos_quant.data.prices import describe\ndescribe(prices)"),
        ("code", "import plotly.express as px\nclose = prices['close'].unstack('asset')\n"
                 "px.line(close / close.iloc[0], title='Normalised closes').update_layout(showlegend=False)"),
        ("code", "if use_yfinance:\n    from llmos_quant.data.prices import YFinancePrices\n"
                 "    live = YFinancePrices().get(['AAPL', 'MSFT'], '2024-01-02', '2024-03-28')\n    display(live.tail())"),
        ("md", "## News\nOne normalised frame: UTC `published_at`, `asset`, `headline`, `source`, stable `id`; repeats "
               "collapsed by `dedupe`. The point-in-time session is the first session whose 16:00 New York cutoff "
               "comes after the news."),
        ("code", "from llmos_quant.data.news import dedupe\nfrom llmos_quant.signals.aggregate import attach_sessions\n"
                 "news = attach_sessions(dedupe(news))\nnews[['published_at', 'date', 'asset', 'headline']].head(10)"),
        ("code", "per_day = news.groupby('date').size()\npx.bar(x=per_day.index, y=per_day.values, "
                 "title='News items per session', labels={'x': 'session', 'y': 'items'})"),
    ],
    "02_sentiment_inference": [
        ("md", "# 02 - Sentiment inference\nThe shipped LLMOS sentiment model (all-MiniLM-L6-v2 weights + a LoRA "
               "adapter trained on Financial PhraseBank) scores headlines in sorted, dynamically padded batches. "
               "On a GPU it runs in bf16 autocast; on the CPU in fp32."),
        ("params", COMMON_PARAMS + "\nbatch_size = 64"),
        ("code", LOAD),
        ("code", "import torch\nfrom llmos_quant.encoders import SentimentEncoder\n"
                 "encoder = SentimentEncoder.create('llmos', batch_size=batch_size, progress=True)\n"
                 "print('device:', encoder.backend.device, '| cuda available:', torch.cuda.is_available())"),
        ("code", "scores = encoder.score(news['headline'])\n"
                 "print(f'{len(scores)} headlines, {encoder.last_throughput:.0f} texts/s')\n"
                 "scored = news.join(scores)\nscored[['asset', 'headline', 'score', 'label']].head(12)"),
        ("md", "Bad input is never dropped: empty or missing texts get a neutral row with `valid = False`."),
        ("code", "encoder.score(['Profit rose 30 pct, beating forecasts', '', None, 'Company cuts outlook as sales slump'])"),
        ("code", "import plotly.express as px\npx.histogram(scored, x='score', color='label', nbins=40, "
                 "title='Score distribution')"),
        ("md", "## Parsed headlines\nThe news parser links tickers (names, cashtags, RICs), labels event types and "
               "extracts numeric facts and entities."),
        ("code", "from llmos_quant.encoders.news_parser import NewsParser, TickerLinker\n"
                 "parser = NewsParser(linker=TickerLinker(market.universe_table()))\n"
                 "parsed = parser.parse(scored.head(8))\nparsed[['headline', 'score', 'tickers', 'events', 'numbers']]"),
    ],
    "03_factor_research": [
        ("md", "# 03 - Factor research\nDaily point-in-time sentiment signals -> IC, quantile returns, decay, "
               "long-short returns and turnover, in one call. A signal dated D trades at D+1's open."),
        ("params", COMMON_PARAMS + "\nhalf_life = 5.0\ncost_bps = 10.0"),
        ("code", LOAD),
        ("code", "import tempfile, pathlib\nfrom llmos_quant.encoders import SentimentEncoder\n"
                 "from llmos_quant.signals.pipeline import run_signals\nfrom llmos_quant.signals.store import SignalStore\n"
                 "sessions = prices.index.get_level_values('date').unique()\n"
                 "store = SignalStore(pathlib.Path(tempfile.mkdtemp()) / 'signals.duckdb')\n"
                 "summary = run_signals(news, SentimentEncoder.create('llmos', progress=False), store, sessions[0], "
                 "sessions[-3], universe=market.universe_tickers, half_life=half_life)\nsignals = store.signals()\n"
                 "signals.head()"),
        ("code", "from llmos_quant.factors import evaluate_factor\n"
                 "report = evaluate_factor(signals['sentiment'], prices, cost_bps=cost_bps)\nreport.summary()"),
        ("code", "from llmos_quant.factors.tearsheet import report_figures\nfigs = report_figures(report)\n"
                 "figs['ic_timeseries']"),
        ("code", "figs['quantile_returns']"),
        ("code", "figs['decay']"),
        ("code", "figs['cumulative']"),
        ("md", "## By event type\nWhen the news parser's event labels are available, `evaluate_factor(..., events=...)` "
               "reports the rank IC of sentiment restricted to each event type (`report.by_event`)."),
        ("code", "report.coverage.describe()"),
    ],
    "04_backtest": [
        ("md", "# 04 - Backtest\nThe shipped strategies (`llmos_quant/strategies/`; yours go in `strategies/`) run on Backtrader through the project's "
               "runner; results come back as pandas and plotly figures."),
        ("params", COMMON_PARAMS + "\ncommission_bps = 10.0"),
        ("code", LOAD),
        ("code", "import tempfile, pathlib\nfrom llmos_quant.encoders import SentimentEncoder\n"
                 "from llmos_quant.signals.pipeline import run_signals\nfrom llmos_quant.signals.store import SignalStore\n"
                 "sessions = prices.index.get_level_values('date').unique()\n"
                 "store = SignalStore(pathlib.Path(tempfile.mkdtemp()) / 'signals.duckdb')\n"
                 "run_signals(news, SentimentEncoder.create('llmos', progress=False), store, sessions[0], sessions[-3], "
                 "universe=market.universe_tickers)\nsignals = store.signals()"),
        ("code", "import pandas as pd\nfrom llmos_quant.backtest.runner import BacktestConfig, run_backtest\n"
                 "results = {name: run_backtest(prices, signals, name, BacktestConfig(commission_bps=commission_bps))\n"
                 "           for name in ['long_short', 'sentiment_threshold', 'sentiment_momentum']}\n"
                 "pd.DataFrame({k: r.stats() for k, r in results.items()}).T"),
        ("code", "from llmos_quant.backtest import report as R\nR.equity_curve(results['long_short'])"),
        ("code", "R.drawdown_chart(results['long_short'])"),
        ("code", "R.monthly_heatmap(results['long_short'])"),
        ("code", "R.trades_on_price(results['sentiment_threshold'], prices, signals)"),
    ],
    "daily_signals": [
        ("md", "# Daily signals\nThe daily CLI job (`llmos-quant signals daily`) as a papermill-parameterised notebook:\n"
               "`papermill notebooks/daily_signals.ipynb out.ipynb -p date 2016-06-01 -p source reuters "
               "-p universe AAPL,MSFT`."),
        ("params", "date = ''            # session YYYY-MM-DD; '' = the simulator's last full session\n"
                   "source = 'synthetic'  # reuters | benzinga | table:<file> | synthetic | yfinance | rss:<url>\n"
                   "universe = ''        # 'AAPL,MSFT'; '' = every ticker in the source\n"
                   "backend = 'llmos'\nstore_path = ''      # '' = a temporary store"),
        ("code", "import tempfile, pathlib\nfrom llmos_quant.jobs import SignalJobConfig, resolve_session, run_signal_job\n"
                 "from llmos_quant.signals.store import SignalStore\n"
                 "if not date:\n    from llmos_quant.data.simulate import simulate_market\n"
                 "    date = str(simulate_market().prices.index.get_level_values('date').unique()[-3].date())\n"
                 "session = resolve_session(date)\n"
                 "store_path = store_path or pathlib.Path(tempfile.mkdtemp()) / 'signals.duckdb'\n"
                 "config = SignalJobConfig('daily', session, session, source, store_path,\n"
                 "                         tuple(universe.split(',')) if universe else None, backend, progress=False)\n"
                 "result = run_signal_job(config)\nresult.rows()"),
        ("code", "with SignalStore(store_path, read_only=True) as store:\n    today = store.signals(start=date, end=date)\n"
                 "today.sort_values('sentiment', ascending=False)[['sentiment', 'news_count', 'surprise', 'days_since_news']]"),
        ("code", "import plotly.express as px\nranked = today.reset_index().dropna(subset=['sentiment'])"
                 ".sort_values('sentiment')\npx.bar(ranked, x='asset', y='sentiment', color='news_count', "
                 "title=f'Sentiment signal for {date} ({source})')"),
    ],
}


def build() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbf.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        for k, (kind, src) in enumerate(cells):
            cell_id = f"{name[:20]}-{k:02d}"  # stable ids: a rebuild does not rewrite unchanged notebooks
            if kind == "md":
                nb.cells.append(nbf.v4.new_markdown_cell(src, id=cell_id))
            else:
                cell = nbf.v4.new_code_cell(src, id=cell_id)
                if kind == "params":
                    cell.metadata["tags"] = ["parameters"]
                nb.cells.append(cell)
        nbf.write(nb, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    build()
