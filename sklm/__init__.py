"""sklm: scikit-learn-compatible language models, from n-gram counts to LSTMs."""

from .generation import generate
from .io import load, save
from .mixture import InterpolatedLM
from .ngram import NGramLM  # noqa: F401
from .preprocessing import Tokenizer

__version__ = "0.1.0"

_NEURAL = {"RNNLM", "LSTMLM", "GRULM"}


def __getattr__(name):
    # The neural models import torch; keep `import sklm` and every n-gram
    # feature free of it until one of them is asked for.
    if name in _NEURAL:
        from . import neural

        return getattr(neural, name)
    raise AttributeError(f"module 'sklm' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_NEURAL))


__all__ = [
    "GRULM",
    "InterpolatedLM",
    "LSTMLM",
    "NGramLM",
    "RNNLM",
    "Tokenizer",
    "generate",
    "load",
    "save",
]
