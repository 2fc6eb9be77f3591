"""N-gram language models: counting, smoothing strategies, ARPA read/write."""

from ._model import NGramLM, load_arpa

__all__ = ["NGramLM", "load_arpa"]
