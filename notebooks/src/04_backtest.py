# %% [markdown]
# # 04 - Backtest
# The shipped strategies (`llmos_quant/strategies/`; yours go in `strategies/`) run on Backtrader through the
# project's runner; results come back as pandas and plotly figures.

# %%
from llmos_quant.notebook_helpers import setup_notebook

setup_notebook()  # plotly figures that render in JupyterLab, nbconvert HTML and static viewers; tqdm widgets

# %% tags=["parameters"]
use_shared_data = False  # True: real data from ../shared/data (S&P 500 prices, Reuters headlines)
n_assets = 12            # synthetic market size (offline default)
n_sessions = 120
seed = 0
commission_bps = 10.0

# %%
from llmos_quant.notebook_helpers import load_market

market = load_market(use_shared_data, n_assets=n_assets, n_sessions=n_sessions, seed=seed)
prices, news = market.prices, market.news
print(market.description)

# %%
signals = market.signals()  # shipped model -> point-in-time signals (see signals.pipeline)

# %%
import pandas as pd

from llmos_quant.backtest.runner import BacktestConfig, run_backtest

results = {name: run_backtest(prices, signals, name, BacktestConfig(commission_bps=commission_bps))
           for name in ['long_short', 'sentiment_threshold', 'sentiment_momentum']}
pd.DataFrame({k: r.stats() for k, r in results.items()}).T

# %%
from llmos_quant.backtest import report as R

R.equity_curve(results['long_short'])

# %%
R.drawdown_chart(results['long_short'])

# %%
R.monthly_heatmap(results['long_short'])

# %%
R.trades_on_price(results['sentiment_threshold'], prices, signals)

# %% [markdown]
# ## Choosing parameters without fooling yourself
# A sweep picks the best parameters in hindsight. Walk-forward picks them on each rolling in-sample window and
# applies them to the next window only; the stitched out-of-sample equity is the honest one. The deflated Sharpe
# ratio (Bailey and López de Prado) discounts the best in-sample Sharpe for the number of combinations tried.

# %%
from llmos_quant.backtest.runner import sweep_with_returns
from llmos_quant.backtest.walkforward import walk_forward

sweep = sweep_with_returns(prices, signals, 'sentiment_threshold', {'threshold': [0.05, 0.1, 0.2, 0.4]},
                           BacktestConfig(commission_bps=commission_bps), workers=1)
in_sample, out_sample = max(20, n_sessions // 4), max(5, n_sessions // 8)
wf = walk_forward(sweep.returns, in_sample, out_sample, sweep.params)
pd.Series(wf.summary, name='value').to_frame()

# %%
wf.folds

# %%
import plotly.graph_objects as go

fig = go.Figure()
fig.add_scatter(x=wf.oos_returns.index, y=(1 + wf.oos_returns).cumprod(), name='walk-forward (out of sample)')
fig.update_layout(title='Stitched out-of-sample equity', xaxis_title='session', yaxis_title='growth of 1',
                  template='plotly_white')
fig
