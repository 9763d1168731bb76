"""Encoders built on LLMOS: financial sentiment (and, later, news parsing)."""

from .sentiment import SentimentEncoder

__all__ = ["SentimentEncoder"]
