"""Where the vocabulary lived before 0.2: kept so that older pickles load."""

from ..base import Encoded, Vocabulary  # noqa: F401
