"""Corpora: the built-in default, downloaders of public benchmarks, and text files."""

from ._builtin import load_pydoc
from ._fetch import (
    clear_data_home,
    fetch_ptb,
    fetch_tiny_shakespeare,
    fetch_wikitext2,
    get_data_home,
)
from ._lines import TextFiles, load_lines

__all__ = [
    "TextFiles",
    "clear_data_home",
    "fetch_ptb",
    "fetch_tiny_shakespeare",
    "fetch_wikitext2",
    "get_data_home",
    "load_lines",
    "load_pydoc",
]
