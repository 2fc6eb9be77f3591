"""Text preprocessing: the Tokenizer transformer."""

from ._tokenizer import Tokenizer

__all__ = ["Tokenizer"]
