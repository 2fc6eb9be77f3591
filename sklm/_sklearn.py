"""The one place that imports scikit-learn's private API.

scikit-learn moves these names between releases now and then; keeping every
import here makes such a move a one-file fix.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    validate_params,
)
from sklearn.utils.metaestimators import _BaseComposition

__all__ = [
    "HasMethods",
    "Interval",
    "Options",
    "StrOptions",
    "_BaseComposition",
    "_fit_context",
    "validate_params",
]
