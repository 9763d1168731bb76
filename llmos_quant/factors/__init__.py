"""Factor pipeline (ops), evaluation (IC, quantiles, long-short, turnover), plotly figures and tear sheets."""

from .evaluate import (
    FactorReport,
    clean_factor_data,
    evaluate_factor,
    factor_returns,
    forward_returns,
    ic_summary,
    information_coefficient,
    mean_return_by_quantile,
)
from .ops import combine, demean, neutralize, quantiles, rank, standard_exposures, winsorize, zscore
from .tearsheet import tear_sheet

__all__ = [
    "FactorReport", "clean_factor_data", "combine", "demean", "evaluate_factor", "factor_returns",
    "forward_returns", "ic_summary", "information_coefficient", "mean_return_by_quantile", "neutralize",
    "quantiles", "rank", "standard_exposures", "tear_sheet", "winsorize", "zscore",
]
