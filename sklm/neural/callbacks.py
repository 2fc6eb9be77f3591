"""Callbacks: code that runs at fixed points of a recurrent model's training.

Pass a list of them as the ``callbacks`` parameter of
:class:`~sklm.RNNLM`, :class:`~sklm.LSTMLM` or :class:`~sklm.GRULM`. Each
hook receives the model being fitted and the :class:`TrainingState` of the
fit in progress::

    on_train_begin(model, state)   once, before the first epoch
    on_batch_end(model, state)     after every optimizer step (state.batch)
    on_epoch_end(model, state)     after every epoch (state.record)
    on_train_end(model, state)     once, when training stops for any reason

A callback stops training by setting ``state.stop = True``. Callbacks are
used as given (their attributes show what they saw after ``fit``) and must
reset what they hold in ``on_train_begin``, since one object may serve many
fits. ``fit`` lists those it used in the fitted attribute ``callbacks_``,
after the built-in ones that the model's parameters ask for: ``History``
(always; ``history_`` is its record), ``EarlyStopping``
(``early_stopping=True``), ``LRScheduler`` (``lr_schedule="plateau"``),
``CosineBudget`` (``lr_schedule="cosine"``) and ``ProgressBar``
(``verbose``). :class:`Checkpoint` callbacks run after every other, so that
what they write is the epoch's final state.
"""

import inspect
import math
import sys
import time

import numpy as np
import torch

from ..io import atomic_write, check_path

__all__ = [
    "Callback",
    "Checkpoint",
    "CosineBudget",
    "EarlyStopping",
    "History",
    "LRScheduler",
    "ProgressBar",
    "TrainingState",
]


class TrainingState:
    """What a fit in progress holds; every callback hook receives it.

    Attributes
    ----------
    module : torch.nn.Module
        The network being trained (a copy with ``warm_start``: the fitted
        model changes only once ``fit`` succeeds).
    optimizer : torch.optim.Optimizer
    device : torch.device
    corpus : Encoded
        The training samples as ids (the held-out ones removed; the current
        shard of a stream).
    valid_corpus : Encoded or None
        The held-out samples (``early_stopping=True``), else None.
    valid_rows : ndarray or None
        Which samples of ``X`` were held out (None when ``X`` is one sample,
        whose last tokens are held out).
    classes : list of str
        The vocabulary the network predicts (``classes_`` once fitted).
    batches : list
        The batches of one epoch; each has ``rows`` (the samples it holds),
        ``windows`` (one optimizer step each) and ``streams`` (True for a
        long sample cut into parallel streams). For a corpus read as a
        stream, those of the current shard.
    stream : object or None
        The corpus read as a stream of shards (a
        :class:`~sklm.datasets.TextFiles` given to ``fit``), else None;
        ``corpus`` and ``batches`` are then those of the current shard.
    tokens_per_epoch, steps_per_epoch : int
        The predicted tokens and the optimizer steps of one epoch (the steps
        estimated for a stream).
    rng : numpy.random.RandomState
        Draws the order of the batches of every epoch.
    history : list of dict
        The records of the epochs so far (kept by :class:`History`).
    config : dict
        The network's configuration (``module.config``).
    callbacks : list
        Every callback of the fit, in the order they are called.
    epoch : int
        The current epoch, counted from 1 over the model's whole history
        (``warm_start`` continues the count).
    first_epoch, last_epoch : int
        The first epoch of this fit, and the one at which it ends at the
        latest (``first_epoch + max_epochs - 1``).
    record : dict
        The current epoch's record (in ``on_epoch_end``).
    batch : dict
        The last step (in ``on_batch_end``): ``rows``, ``window`` (its index
        in the batch), ``loss`` (a tensor: converting it to a float waits for
        the device), ``grad_norm`` (a tensor), ``tokens``,
        ``epoch_tokens`` (tokens of the epoch so far) and ``seconds``
        (since the epoch began).
    hidden : tensor, tuple of tensors or None
        The recurrent state carried between the windows of a batch.
    started : float
        When training began (:func:`time.perf_counter`); ``max_time``
        counts from it.
    stop : bool
        Set it to True to end training after the current step.
    """

    def __init__(self, **attributes):
        self.history = []
        self.record = None
        self.batch = None
        self.hidden = None
        self.stop = False
        self.__dict__.update(attributes)


class Callback:
    """Base class of callbacks: every hook does nothing.

    Subclass it and override the hooks you need; see
    :mod:`sklm.neural.callbacks` for when each runs.
    """

    def on_train_begin(self, model, state):
        """Called once, before the first epoch."""

    def on_batch_end(self, model, state):
        """Called after every optimizer step; ``state.batch`` describes it."""

    def on_epoch_end(self, model, state):
        """Called after every epoch; ``state.record`` is its record."""

    def on_train_end(self, model, state):
        """Called once when training stops (its end, a stop, an interruption)."""

    def __repr__(self):
        names = inspect.signature(type(self).__init__).parameters
        params = ", ".join(
            f"{k}={v!r}" for k, v in vars(self).items() if k in names and k != "kwargs"
        )
        kwargs = getattr(self, "kwargs", None) if "kwargs" in names else None
        if kwargs:
            params = ", ".join([params] + [f"{k}={v!r}" for k, v in kwargs.items()])
        return f"{type(self).__name__}({params})"


def monitored(record, monitor=None):
    """The figure a record is judged by: lower is better.

    ``monitor`` names a key of the record; None picks ``valid_perplexity``
    when the epoch was validated, else ``train_loss``.
    """
    if monitor is None:
        monitor = "valid_perplexity" if record.get("valid_perplexity") is not None else "train_loss"
    value = record.get(monitor)
    if value is None:
        raise ValueError(
            f"the epoch record has no {monitor!r} (validated epochs have "
            "'valid_perplexity' only with early_stopping=True); records hold "
            f"{sorted(record)}."
        )
    return float(value)


class History(Callback):
    """Keeps one record per epoch; the model's ``history_`` is its ``records``.

    With ``warm_start`` the records of the earlier fits come first.

    Attributes
    ----------
    records : list of dict
    """

    def __init__(self):
        self.records = []

    def on_train_begin(self, model, state):
        self.records = list(state.history)
        state.history = self.records

    def on_epoch_end(self, model, state):
        self.records.append(dict(state.record))


class EarlyStopping(Callback):
    """Stop after ``patience`` epochs without improvement; keep the best weights.

    Parameters
    ----------
    patience : int, default=2
        Epochs without improvement before training stops.
    monitor : str or None, default=None
        The record's figure to minimise; None: the validation perplexity
        when there is a validation split (``early_stopping=True``), else the
        training loss.
    restore_best : bool, default=True
        When training ends (also by an interruption), load the weights of
        the best epoch. They are kept only for validated epochs (the training
        loss of an epoch is measured while its weights change).

    Attributes
    ----------
    best_ : float
        The best monitored figure.
    best_epoch_ : int or None
    """

    def __init__(self, patience=2, *, monitor=None, restore_best=True):
        self.patience = patience
        self.monitor = monitor
        self.restore_best = restore_best

    def on_train_begin(self, model, state):
        self.best_, self.best_epoch_, self.wait_ = math.inf, None, 0
        self._best_weights = None

    def on_epoch_end(self, model, state):
        metric = monitored(state.record, self.monitor)
        if metric < self.best_:
            self.best_, self.best_epoch_, self.wait_ = metric, state.epoch, 0
            if self.restore_best and state.record.get("valid_perplexity") is not None:
                self._best_weights = {
                    k: v.detach().clone() for k, v in state.module.state_dict().items()
                }
        else:
            self.wait_ += 1
            if self.wait_ >= self.patience:
                state.stop = True

    @property
    def keeps_best_weights(self):
        """Whether training will end with the best epoch's weights."""
        return getattr(self, "_best_weights", None) is not None

    def on_train_end(self, model, state):
        if self.keeps_best_weights:
            state.module.load_state_dict(self._best_weights)
        self._best_weights = None

    def state_dict(self):
        weights = getattr(self, "_best_weights", None)
        return {
            "best": self.best_,
            "best_epoch": self.best_epoch_,
            "wait": self.wait_,
            "weights": weights if weights is not None else {},
        }

    def load_state_dict(self, saved):
        self.best_, self.best_epoch_, self.wait_ = saved["best"], saved["best_epoch"], saved["wait"]
        self._best_weights = saved["weights"] or None

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_best_weights", None)
        return state


class LRScheduler(Callback):
    """A learning-rate schedule: any :mod:`torch.optim.lr_scheduler` class.

    Parameters
    ----------
    scheduler : type
        A scheduler class, e.g. :class:`torch.optim.lr_scheduler.StepLR` or
        :class:`~torch.optim.lr_scheduler.ReduceLROnPlateau`.
    step_every : {"epoch", "batch"}, default="epoch"
        When to call the scheduler's ``step``. ``ReduceLROnPlateau`` steps
        after every epoch with the monitored figure.
    monitor : str or None, default=None
        The figure ``ReduceLROnPlateau`` watches (see :class:`EarlyStopping`).
    **kwargs
        Arguments of the scheduler class (the optimizer excepted).

    Attributes
    ----------
    scheduler_ : object
        The scheduler during training (None once training ended).

    Examples
    --------
    >>> from torch.optim.lr_scheduler import StepLR
    >>> from sklm import LSTMLM
    >>> from sklm.neural.callbacks import LRScheduler
    >>> lm = LSTMLM(lr_schedule=None, callbacks=[LRScheduler(StepLR, step_size=2, gamma=0.5)])
    """

    def __init__(self, scheduler, *, step_every="epoch", monitor=None, **kwargs):
        self.scheduler = scheduler
        self.step_every = step_every
        self.monitor = monitor
        self.kwargs = kwargs

    def _plateau(self):
        return issubclass(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    def on_train_begin(self, model, state):
        if not isinstance(self.scheduler, type):
            raise TypeError(
                f"LRScheduler needs a scheduler class (from torch.optim.lr_scheduler); "
                f"got {self.scheduler!r}."
            )
        if self.step_every not in ("epoch", "batch"):
            raise ValueError(f"step_every must be 'epoch' or 'batch'; got {self.step_every!r}.")
        try:
            self.scheduler_ = self.scheduler(state.optimizer, **self.kwargs)
        except TypeError as error:
            raise TypeError(f"{self.scheduler.__name__}(**{self.kwargs}): {error}") from None

    def on_batch_end(self, model, state):
        if self.step_every == "batch" and not self._plateau():
            self.scheduler_.step()

    def on_epoch_end(self, model, state):
        if self._plateau():
            self.scheduler_.step(monitored(state.record, self.monitor))
        elif self.step_every == "epoch":
            self.scheduler_.step()

    def on_train_end(self, model, state):
        self.scheduler_ = None  # it holds the optimizer, hence the network

    def state_dict(self):
        return self.scheduler_.state_dict()

    def load_state_dict(self, saved):
        self.scheduler_.load_state_dict(saved)


def plateau(factor=0.25):
    """The schedule of ``lr_schedule="plateau"``: the learning rate is divided
    by 4 after every epoch that does not improve the monitored figure."""
    return LRScheduler(
        torch.optim.lr_scheduler.ReduceLROnPlateau,
        mode="min",
        factor=factor,
        patience=0,
        threshold=0.0,
        eps=0.0,
    )


class CosineBudget(Callback):
    """The schedule of ``lr_schedule="cosine"``: the learning rate falls
    along a half cosine from its initial value to zero over the fit's budget.

    After every optimizer step the rate is ``lr0 * (1 + cos(pi * f)) / 2``,
    where ``f`` is the fraction of the budget used: the larger of the steps
    taken over the steps of ``max_epochs`` epochs (estimated for a corpus
    read as a stream, from its tokens), and (with ``max_time``)
    the seconds elapsed over ``max_time``. So a fit stopped by ``max_time``
    ends at a rate near zero whatever the speed of the machine, as one
    stopped by ``max_epochs`` does. The budget is that of the current fit: a
    fit resumed from a :class:`Checkpoint` starts the cosine again.

    Attributes
    ----------
    fraction_ : float
        The fraction of the budget used at the last step.
    """

    def on_train_begin(self, model, state):
        self.initial_ = [group["lr"] for group in state.optimizer.param_groups]
        epochs = state.last_epoch - state.first_epoch + 1
        self.total_steps_ = max(1, epochs * state.steps_per_epoch)
        self.steps_ = 0
        self.fraction_ = 0.0

    def on_batch_end(self, model, state):
        self.steps_ += 1
        fraction = self.steps_ / self.total_steps_
        if model.max_time is not None:
            fraction = max(fraction, (time.perf_counter() - state.started) / model.max_time)
        self.fraction_ = min(fraction, 1.0)
        factor = 0.5 * (1.0 + math.cos(math.pi * self.fraction_))
        for group, initial in zip(state.optimizer.param_groups, self.initial_):
            group["lr"] = initial * factor


class ProgressBar(Callback):
    """A live progress bar (:mod:`tqdm.auto`: a widget in notebooks) and one
    line per epoch.

    ``verbose=1`` adds one. The bar counts the epoch's tokens and shows the
    loss; it is drawn only on a terminal or in a notebook, while the line
    that ends each epoch (loss, validation perplexity, gradient norm,
    tokens/s) is always written.

    Parameters
    ----------
    stream : file-like or None, default=None
        Where to write; None: ``sys.stderr`` at the time of writing.
    """

    def __init__(self, stream=None):
        self.stream = stream

    def _stream(self):
        return self.stream if self.stream is not None else sys.stderr

    def on_train_begin(self, model, state):
        self.bar_ = None
        self._epoch_tokens = max(int(state.tokens_per_epoch), 1)
        self._last = 0.0

    def _new_bar(self, state):
        from tqdm import autonotebook, std
        from tqdm.auto import tqdm

        stream = self._stream()
        isatty = getattr(stream, "isatty", None)
        notebook = autonotebook.tqdm is not std.tqdm
        live = notebook or bool(isatty is not None and isatty())
        return tqdm(
            total=self._epoch_tokens,
            desc=f"epoch {state.epoch}/{state.last_epoch}",
            unit="tok",
            unit_scale=True,
            leave=False,
            file=stream,
            disable=not live,
            dynamic_ncols=True,
        )

    def on_batch_end(self, model, state):
        if self.bar_ is None:
            self.bar_ = self._new_bar(state)
        self.bar_.update(state.batch["tokens"])
        now = time.perf_counter()
        if not self.bar_.disable and now - self._last >= 0.5:
            self._last = now
            self.bar_.set_postfix_str(f"loss {float(state.batch['loss']):.4f}", refresh=False)

    def on_epoch_end(self, model, state):
        self._close()
        r = state.record
        valid = r.get("valid_perplexity")
        valid = "" if valid is None else f" valid perplexity {valid:.3f}"
        stream = self._stream()
        stream.write(
            f"epoch {r['epoch']}/{state.last_epoch} train loss {r['train_loss']:.4f}{valid} "
            f"grad norm {r['grad_norm']:.3f} {r['tokens_per_s']:,.0f} tokens/s "
            f"{r['seconds']:.1f}s\n"
        )
        stream.flush()

    def _close(self):
        if getattr(self, "bar_", None) is not None:
            self.bar_.close()
        self.bar_ = None

    def on_train_end(self, model, state):
        self._close()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["bar_"] = None
        if state.get("stream") in (sys.stderr, sys.stdout):
            state["stream"] = None
        return state


class Checkpoint(Callback):
    """Write the training state to ``path`` after every epoch; resume from it.

    The file holds the network's weights and configuration, the optimizer's
    state, the history, the random generators and the state of every
    callback that has one (early stopping, schedules); it is written
    atomically (:func:`sklm.io.atomic_write`): an interrupted write leaves
    the previous checkpoint whole.

    To resume an interrupted fit, run the same ``fit`` again (same
    parameters, same ``X``) with the same checkpoint path: training
    continues after the last saved epoch with the saved optimizer and
    random state, and the result is the model the uninterrupted fit would
    have given (on the CPU, bit for bit). ``max_epochs`` counts the epochs
    of the whole fit, resumed ones included. A checkpoint of another
    network or vocabulary is refused with a ``ValueError``; delete the file
    (or pass ``resume=False``) to start anew.

    Parameters
    ----------
    path : str or path-like
        The checkpoint file (PyTorch's format, read back with
        ``torch.load(weights_only=True)``, which runs no code).
    resume : bool, default=True
        Continue from ``path`` when it exists at the start of ``fit``.

    Attributes
    ----------
    resumed_from_ : int or None
        The epoch a fit resumed after, else None.
    """

    def __init__(self, path, *, resume=True):
        self.path = path
        self.resume = resume

    def on_train_begin(self, model, state):
        path = check_path(self.path, name="Checkpoint path")
        self.resumed_from_ = None
        if self.resume and path.exists():
            self._restore(path, state)

    def on_epoch_end(self, model, state):
        saved = {
            "format": "sklm.neural.checkpoint/1",
            "config": dict(state.module.config),
            "classes": list(map(str, state.classes)),
            "module": state.module.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "history": [dict(r) for r in state.history],
            "epoch": state.epoch,
            "first_epoch": state.first_epoch,
            "numpy_rng": _numpy_rng_state(state.rng),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": (
                torch.cuda.get_rng_state(state.device) if state.device.type == "cuda" else None
            ),
            "callbacks": {
                str(i): cb.state_dict()
                for i, cb in enumerate(state.callbacks)
                if hasattr(cb, "state_dict")
            },
        }
        with atomic_write(self.path, "wb") as handle:
            torch.save(saved, handle)

    def _restore(self, path, state):
        try:
            saved = torch.load(path, map_location=state.device, weights_only=True)
        except Exception as error:  # torch raises many types for a bad file
            raise ValueError(f"checkpoint {str(path)!r} cannot be read: {error}") from None
        if not isinstance(saved, dict) or saved.get("format") != "sklm.neural.checkpoint/1":
            raise ValueError(f"{str(path)!r} is not a checkpoint written by Checkpoint.")
        ours = {k: v for k, v in state.module.config.items() if k != "dropout"}
        theirs = {k: v for k, v in saved["config"].items() if k != "dropout"}
        classes = list(map(str, state.classes))
        if ours != theirs or saved["classes"] != classes:
            raise ValueError(
                f"checkpoint {str(path)!r} holds another network or vocabulary than this "
                "fit builds; delete it, or use Checkpoint(path, resume=False) to overwrite it."
            )
        if saved["first_epoch"] != state.first_epoch:
            raise ValueError(
                f"checkpoint {str(path)!r} was written by a fit that began at epoch "
                f"{saved['first_epoch']}; this one begins at epoch {state.first_epoch}."
            )
        state.module.load_state_dict(saved["module"])
        state.optimizer.load_state_dict(saved["optimizer"])
        state.history[:] = saved["history"]
        state.epoch = saved["epoch"]
        _set_numpy_rng_state(state.rng, saved["numpy_rng"])
        torch.set_rng_state(saved["torch_rng"].cpu())
        if saved["cuda_rng"] is not None and state.device.type == "cuda":
            torch.cuda.set_rng_state(saved["cuda_rng"].cpu(), state.device)
        for key, value in saved["callbacks"].items():
            i = int(key)
            if i < len(state.callbacks) and hasattr(state.callbacks[i], "load_state_dict"):
                state.callbacks[i].load_state_dict(value)
        self.resumed_from_ = saved["epoch"]


def _numpy_rng_state(rng):
    name, keys, pos, has_gauss, gauss = rng.get_state()
    return {
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "gauss": float(gauss),
    }


def _set_numpy_rng_state(rng, saved):
    rng.set_state(
        (
            "MT19937",
            saved["keys"].cpu().numpy().astype(np.uint32),
            saved["pos"],
            saved["has_gauss"],
            saved["gauss"],
        )
    )
