"""Perplexity and scorers for language models."""

from ._perplexity import neg_perplexity_scorer, oov_flags, oov_report, perplexity

__all__ = ["neg_perplexity_scorer", "oov_flags", "oov_report", "perplexity"]
