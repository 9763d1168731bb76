"""Backtrader glue: feeds, the strategy base class, the resolver, the runner and reports."""
