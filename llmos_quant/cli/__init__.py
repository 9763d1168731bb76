"""The ``llmos-quant`` command line."""
