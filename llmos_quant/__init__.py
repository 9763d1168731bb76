"""llmos_quant: financial sentiment and news encoders on LLMOS, daily signals, factor research and backtests."""

__version__ = "0.1.0"
