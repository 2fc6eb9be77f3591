"""Recurrent neural language models: RNNLM, LSTMLM and GRULM.

The only package of sklm that imports torch. :mod:`sklm.neural.callbacks`
holds the training callbacks.
"""

from . import callbacks
from ._base import RecurrentLM
from ._models import GRULM, LSTMLM, RNNLM

__all__ = ["GRULM", "LSTMLM", "RNNLM", "RecurrentLM", "callbacks"]
