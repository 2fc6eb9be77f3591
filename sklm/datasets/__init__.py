"""Corpora: the built-in default and downloaders of public benchmarks."""

from ._builtin import load_pydoc
from ._fetch import (
    clear_data_home,
    fetch_ptb,
    fetch_tiny_shakespeare,
    fetch_wikitext2,
    get_data_home,
)

__all__ = [
    "clear_data_home",
    "fetch_ptb",
    "fetch_tiny_shakespeare",
    "fetch_wikitext2",
    "get_data_home",
    "load_pydoc",
]
