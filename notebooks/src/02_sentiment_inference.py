# %% [markdown]
# # 02 - Sentiment inference
# The shipped LLMOS sentiment model (all-MiniLM-L6-v2 weights + a LoRA adapter trained on Financial PhraseBank)
# scores headlines in sorted, dynamically padded batches. On a GPU it runs in bf16 autocast; on the CPU in fp32.

# %%
from llmos_quant.notebook_helpers import setup_notebook

setup_notebook()  # plotly figures that render in JupyterLab, nbconvert HTML and static viewers; tqdm widgets

# %% tags=["parameters"]
use_shared_data = False  # True: real data from ../shared/data (S&P 500 prices, Reuters headlines)
n_assets = 12            # synthetic market size (offline default)
n_sessions = 120
seed = 0
batch_size = 64

# %%
from llmos_quant.notebook_helpers import load_market

market = load_market(use_shared_data, n_assets=n_assets, n_sessions=n_sessions, seed=seed)
prices, news = market.prices, market.news
print(market.description)

# %%
import torch

from llmos_quant.encoders import SentimentEncoder

encoder = SentimentEncoder.create('llmos', batch_size=batch_size, progress=True)
print('device:', encoder.backend.device, '| cuda available:', torch.cuda.is_available())

# %%
scores = encoder.score(news['headline'])
print(f'{len(scores)} headlines, {encoder.last_throughput:.0f} texts/s')
scored = news.join(scores)
scored[['asset', 'headline', 'score', 'label']].head(12)

# %% [markdown]
# Bad input is never dropped: empty or missing texts get a neutral row with `valid = False`.

# %%
encoder.score(['Profit rose 30 pct, beating forecasts', '', None, 'Company cuts outlook as sales slump'])

# %%
import plotly.express as px

px.histogram(scored, x='score', color='label', nbins=40, title='Score distribution')

# %% [markdown]
# ## Parsed headlines
# The news parser links tickers (names, cashtags, RICs; for the real tickers it was fitted on, the learned link model
# also links stories that name a company only through its products or people), labels event types and extracts
# numeric facts and entities.

# %%
from llmos_quant.encoders.link_model import LinkModel
from llmos_quant.encoders.news_parser import NewsParser, TickerLinker

parser = NewsParser(linker=TickerLinker(market.universe_table(), model=LinkModel.default()))
parsed = parser.parse(scored.head(8))
parsed[['headline', 'score', 'tickers', 'events', 'numbers']]
