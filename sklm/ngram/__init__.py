"""N-gram language models: counting, smoothing strategies, ARPA read/write."""

from ._model import SMOOTHINGS, NGramLM, load_arpa

__all__ = ["SMOOTHINGS", "NGramLM", "load_arpa"]
