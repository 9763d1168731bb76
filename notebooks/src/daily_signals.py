# %% [markdown]
# # Daily signals
# The daily CLI job (`llmos-quant signals daily`) as a papermill-parameterised notebook:
# `papermill notebooks/daily_signals.ipynb out.ipynb -p date 2016-06-01 -p source reuters -p universe AAPL,MSFT`.

# %%
from llmos_quant.notebook_helpers import setup_notebook

setup_notebook()  # plotly figures that render in JupyterLab, nbconvert HTML and static viewers; tqdm widgets

# %% tags=["parameters"]
date = ''            # session YYYY-MM-DD; '' = the simulator's last full session
source = 'synthetic'  # reuters | benzinga | table:<file> | synthetic | yfinance | rss:<url>
universe = ''        # 'AAPL,MSFT'; '' = every ticker in the source
backend = 'llmos'
store_path = ''      # '' = a temporary store

# %%
import pathlib
import tempfile

from llmos_quant.jobs import SignalJobConfig, resolve_session, run_signal_job
from llmos_quant.signals.store import SignalStore

if not date:
    from llmos_quant.data.simulate import simulate_market
    date = str(simulate_market().prices.index.get_level_values('date').unique()[-3].date())
session = resolve_session(date)
store_path = store_path or pathlib.Path(tempfile.mkdtemp()) / 'signals.duckdb'
config = SignalJobConfig('daily', session, session, source, store_path,
                         tuple(universe.split(',')) if universe else None, backend, progress=False)
result = run_signal_job(config)
result.rows()

# %%
with SignalStore(store_path, read_only=True) as store:
    today = store.signals(start=date, end=date)
today.sort_values('sentiment', ascending=False)[['sentiment', 'news_count', 'surprise', 'days_since_news']]

# %%
import plotly.express as px

ranked = today.reset_index().dropna(subset=['sentiment']).sort_values('sentiment')
px.bar(ranked, x='asset', y='sentiment', color='news_count', title=f'Sentiment signal for {date} ({source})')
