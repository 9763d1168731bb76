# %% [markdown]
# # 01 - Data pull
# Prices and news in the project's long `(date, asset)` shape. Offline, the default is the **SYNTHETIC** simulator
# (invented tickers, a planted sentiment effect); set `use_shared_data = True` for the S&P 500 prices and Reuters
# headlines in `../shared/data`, or use `YFinancePrices` when online.

# %%
from llmos_quant.notebook_helpers import setup_notebook

setup_notebook()  # plotly figures that render in JupyterLab, nbconvert HTML and static viewers; tqdm widgets

# %% tags=["parameters"]
use_shared_data = False  # True: real data from ../shared/data (S&P 500 prices, Reuters headlines)
n_assets = 12            # synthetic market size (offline default)
n_sessions = 120
seed = 0
use_yfinance = False  # needs network

# %%
from llmos_quant.notebook_helpers import load_market

market = load_market(use_shared_data, n_assets=n_assets, n_sessions=n_sessions, seed=seed)
prices, news = market.prices, market.news
print(market.description)

# %% [markdown]
# ## Prices
# Validated `(date, asset)` OHLCV; the same validator guards every entry point.

# %%
from llmos_quant.data.prices import describe

describe(prices)

# %%
import plotly.express as px

close = prices['close'].unstack('asset')
px.line(close / close.iloc[0], title='Normalised closes').update_layout(showlegend=False)

# %%
if use_yfinance:
    from llmos_quant.data.prices import YFinancePrices
    live = YFinancePrices().get(['AAPL', 'MSFT'], '2024-01-02', '2024-03-28')
    from IPython.display import display

    display(live.tail())

# %% [markdown]
# ## News
# One normalised frame: UTC `published_at`, `asset`, `headline`, `source`, stable `id`; repeats collapsed by
# `dedupe`. The point-in-time session is the first session whose 16:00 New York cutoff comes after the news.

# %%
from llmos_quant.data.news import dedupe
from llmos_quant.signals.aggregate import attach_sessions

news = attach_sessions(dedupe(news))
news[['published_at', 'date', 'asset', 'headline']].head(10)

# %%
per_day = news.groupby('date').size()
px.bar(x=per_day.index, y=per_day.values, title='News items per session', labels={'x': 'session', 'y': 'items'})
