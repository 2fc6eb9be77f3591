"""Plots of training histories (needs matplotlib, imported only when called)."""

import numpy as np
from sklearn.pipeline import Pipeline

_LABELS = {
    "train_loss": "training loss (nats/token)",
    "valid_perplexity": "validation perplexity",
    "grad_norm": "gradient norm before clipping (mean)",
    "grad_norm_max": "gradient norm before clipping (max)",
    "learning_rate": "learning rate",
    "tokens_per_s": "tokens/s",
    "seconds": "seconds per epoch",
}
_DEFAULT_METRICS = ("train_loss", "valid_perplexity", "grad_norm")
# Norms and learning rates span orders of magnitude when training goes wrong
# (or when a schedule divides the rate), which a linear axis flattens.
_LOG_SCALE = {"grad_norm", "grad_norm_max", "learning_rate"}


def _records(history):
    """The list of per-epoch dicts behind ``history``."""
    if isinstance(history, Pipeline):
        history = history[-1]
    if hasattr(history, "get_params"):
        if not hasattr(history, "history_") and hasattr(history, "classes_"):
            raise ValueError(
                f"{type(history).__name__} records no training history: only the "
                "recurrent models (RNNLM, LSTMLM, GRULM) have a history_."
            )
        if not hasattr(history, "history_"):
            raise ValueError(
                f"{type(history).__name__} has no history_: fit it first (only the "
                "recurrent models, RNNLM, LSTMLM and GRULM, record one)."
            )
        history = history.history_
    if isinstance(history, dict) or isinstance(history, (str, bytes)):
        raise TypeError(
            "history must be a fitted recurrent model, a pipeline ending in one, or "
            f"its history_ (a list of dicts, one per epoch); got {type(history).__name__}."
        )
    try:
        records = list(history)
    except TypeError:
        raise TypeError(
            "history must be a fitted recurrent model, a pipeline ending in one, or "
            f"its history_ (a list of dicts); got {type(history).__name__}."
        ) from None
    if not records:
        raise ValueError("history is empty: there is no epoch to plot.")
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise TypeError(f"history[{i}] must be a dict; got {type(record).__name__}.")
    return records


def _series(records, key):
    values = [r.get(key) for r in records]
    return np.array([np.nan if v is None else float(v) for v in values])


def plot_history(
    history, *, metrics=None, x="epoch", axes=None, label=None, log_scale=None, **line_kw
):
    """Plot a recurrent model's training history, one panel per metric.

    Parameters
    ----------
    history : fitted RNNLM, LSTMLM or GRULM, Pipeline ending in one, or list of dict
        The model, or its ``history_``: one dict per epoch.
    metrics : sequence of str, default=None
        Keys of the history to plot, one panel each. ``None`` plots
        ``"train_loss"``, ``"valid_perplexity"`` (when recorded, i.e. with
        ``early_stopping=True``) and ``"grad_norm"``. A key that the history
        does not hold raises a ``ValueError``.
    x : {"epoch", "time"}, default="epoch"
        The horizontal axis: the epoch number, or the cumulative training
        time in seconds (to compare models that run at different speeds).
    axes : array-like of matplotlib Axes, default=None
        Panels to draw into, one per metric: pass the axes returned by an
        earlier call to draw several models on the same panels. ``None``
        makes a new figure.
    label : str, default=None
        Legend label of the lines (shown when given).
    log_scale : bool or None, default=None
        Logarithmic vertical axes. ``None``: logarithmic for gradient norms
        and the learning rate only.
    **line_kw
        Passed to :meth:`matplotlib.axes.Axes.plot` (``color``,
        ``linestyle``, ...).

    Returns
    -------
    axes : ndarray of matplotlib Axes
        One panel per metric.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklm.plotting import plot_history
    >>> history = [
    ...     {"epoch": 1, "train_loss": 2.0, "valid_perplexity": None,
    ...      "grad_norm": 1.5, "seconds": 0.5},
    ...     {"epoch": 2, "train_loss": 1.5, "valid_perplexity": None,
    ...      "grad_norm": 0.9, "seconds": 0.5},
    ... ]
    >>> axes = plot_history(history, label="LSTM")
    >>> [ax.get_ylabel() for ax in axes]
    ['training loss (nats/token)', 'gradient norm before clipping (mean)']
    >>> axes[0].lines[0].get_ydata().tolist()
    [2.0, 1.5]
    """
    records = _records(history)
    if x not in ("epoch", "time"):
        raise ValueError(f"x must be 'epoch' or 'time'; got {x!r}.")
    if metrics is None:
        metrics = [m for m in _DEFAULT_METRICS if not np.all(np.isnan(_series(records, m)))]
    else:
        if isinstance(metrics, str):
            metrics = [metrics]
        metrics = list(metrics)
        if not metrics:
            raise ValueError("metrics is empty: name at least one key of the history.")
        known = set().union(*(r.keys() for r in records))
        missing = [m for m in metrics if m not in known]
        if missing:
            raise ValueError(f"metrics {missing} are not in the history; it holds {sorted(known)}.")
    if x == "epoch":
        xs = _series(records, "epoch")
        if np.any(np.isnan(xs)):
            xs = np.arange(1, len(records) + 1, dtype=float)
        xlabel = "epoch"
    else:
        seconds = _series(records, "seconds")
        if np.any(np.isnan(seconds)):
            raise ValueError("x='time' needs the 'seconds' of every epoch in the history.")
        xs = np.cumsum(seconds)
        xlabel = "training time (s)"

    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(
            1,
            len(metrics),
            figsize=(4.2 * len(metrics), 3.4),
            squeeze=False,
            layout="constrained",
        )
    axes = np.asarray(axes, dtype=object).ravel()
    if len(axes) != len(metrics):
        raise ValueError(f"axes has {len(axes)} panels for {len(metrics)} metrics.")
    for ax, metric in zip(axes, metrics):
        ys = _series(records, metric)
        ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, label=label, **line_kw)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(_LABELS.get(metric, metric))
        if log_scale or (log_scale is None and metric in _LOG_SCALE):
            ax.set_yscale("log")
        if label is not None:
            ax.legend()
    return axes


__all__ = ["plot_history"]
