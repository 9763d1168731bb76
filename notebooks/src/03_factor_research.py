# %% [markdown]
# # 03 - Factor research
# Daily point-in-time sentiment signals -> IC, quantile returns, decay, long-short returns and turnover, in one
# call. A signal dated D trades at D+1's open.

# %%
from llmos_quant.notebook_helpers import setup_notebook

setup_notebook()  # plotly figures that render in JupyterLab, nbconvert HTML and static viewers; tqdm widgets

# %% tags=["parameters"]
use_shared_data = False  # True: real data from ../shared/data (S&P 500 prices, Reuters headlines)
n_assets = 12            # synthetic market size (offline default)
n_sessions = 120
seed = 0
half_life = 5.0
cost_bps = 10.0

# %%
from llmos_quant.notebook_helpers import load_market

market = load_market(use_shared_data, n_assets=n_assets, n_sessions=n_sessions, seed=seed)
prices, news = market.prices, market.news
print(market.description)

# %%
signals = market.signals(half_life=half_life)  # shipped model -> point-in-time signals (see signals.pipeline)
signals.head()

# %%
from llmos_quant.factors import evaluate_factor

report = evaluate_factor(signals['sentiment'], prices, cost_bps=cost_bps)
report.summary()

# %%
from llmos_quant.factors.tearsheet import report_figures

figs = report_figures(report)
figs['ic_timeseries']

# %%
figs['quantile_returns']

# %%
figs['decay']

# %%
figs['cumulative']

# %% [markdown]
# ## By event type
# The news parser's keyword rules label each headline's event types (earnings, guidance, analyst actions, ...).
# The pipeline then also stores `sentiment_<event>`: the mean score of that day's news of that type. Below, the
# rank IC of each, next to the headline count that carries it: where is the signal, and how thin is it?

# %%
from llmos_quant.factors.plots import by_event_bar

ev_signals = market.signals(half_life=half_life, events='rules')
event_cols = [c for c in ev_signals.columns if c.startswith('sentiment_') and c != 'sentiment_mean']
ev_report = evaluate_factor(ev_signals['sentiment'], prices, cost_bps=cost_bps, events=ev_signals[event_cols])
if ev_report.by_event is None:
    print('no event type has news on 3+ assets on any day in this window; widen the window or the universe')
ev_report.by_event  # mean rank IC per horizon of each sentiment_<event>, with the rows that carry it

# %%
by_event_bar(ev_report.by_event) if ev_report.by_event is not None else None

# %% [markdown]
# Every (event type, horizon) test, listed: with many event types and horizons some will look significant by
# chance. `bh_q` is the Benjamini-Hochberg adjusted p-value over the whole table; `survives_bh` marks q <= 0.10.

# %%
ev_report.event_tests if ev_report.event_tests is not None else None
