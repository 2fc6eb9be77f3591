"""Text preprocessing: the Tokenizer transformer and the LM vocabulary."""

from ._tokenizer import Tokenizer
from ._vocabulary import Encoded, Vocabulary

__all__ = ["Encoded", "Tokenizer", "Vocabulary"]
