"""N-gram language models: counting, smoothing strategies, ARPA read/write."""

from . import _model
from ._arpa import ARPAFormatError
from ._model import NGramLM, load_arpa

#: The names that ``NGramLM(smoothing=...)`` accepts, each described in
#: :class:`NGramLM`'s docstring.
SMOOTHINGS = _model.SMOOTHINGS

__all__ = ["ARPAFormatError", "SMOOTHINGS", "NGramLM", "load_arpa"]
