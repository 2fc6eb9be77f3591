"""N-gram language models."""

NGramLM = None  # replaced by the n-gram package
