"""The shared estimator of the recurrent language models.

:class:`RecurrentLM` holds the parameters (the ``optimizer__<argument>``
ones included) and their checks, ``fit`` and :meth:`~RecurrentLM.partial_fit`
(the vocabulary, the validation split, the random streams), the scoring and
generation hooks and the pickling. The training steps that ``fit`` runs are
inherited from :class:`sklm.neural._loop.TrainingSteps`; the legacy ``.npz``
files of :meth:`~RecurrentLM.save` and :meth:`~RecurrentLM.load` are written
and read by :mod:`sklm.neural._persistence`.
"""

import contextlib
import copy
import inspect
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._sklearn import Interval, StrOptions
from ..base import Encoded, LanguageModel
from . import _distributed, _incremental, _inference, _persistence
from ._batching import EVAL_MAX_POSITIONS, subset
from ._device import check_bfloat16, resolve_device, restore_device
from ._loop import NonFiniteLossError as NonFiniteLossError  # raised by the training steps
from ._loop import TrainingSteps
from ._modules import build_module, count_parameters, default_cutoffs
from ._stream import Stream
from .callbacks import History, TrainingState

_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
_OPTIMIZER_PREFIX = "optimizer__"


class RecurrentLM(TrainingSteps, LanguageModel):
    """Base class of :class:`RNNLM`, :class:`LSTMLM` and :class:`GRULM`.

    The three models share everything here; they differ only in the
    recurrent cell (see ``_cell``). Not meant to be used directly, but meant
    to be subclassed: the training steps (:meth:`initialize`,
    :meth:`initialize_module`, :meth:`initialize_optimizer`,
    :meth:`initialize_callbacks`, :meth:`fit_loop`, :meth:`run_epoch`,
    :meth:`train_step`, :meth:`validate`) are public methods to override.
    """

    #: Scoring reads at most this many (padded) positions at once; a longer
    #: sample is read in windows of this many steps, its state carried.
    max_eval_positions = EVAL_MAX_POSITIONS

    #: Tokens per shard (whole samples, ``</s>`` included) when ``fit`` reads
    #: a :class:`~sklm.datasets.TextFiles` as a stream.
    stream_shard_tokens = 1 << 20

    #: Registry of the concrete models by class name (for :meth:`load`).
    _classes = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("sklm.neural."):
            RecurrentLM._classes[cls.__name__] = cls

    _parameter_constraints = {
        **LanguageModel._parameter_constraints,
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "tie_weights": ["boolean"],
        "optimizer": [StrOptions({"sgd", "adam", "adamw"}), type],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"plateau", "cosine"}), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "bptt": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "clip_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "softmax": [StrOptions({"full", "adaptive"})],
        "cutoffs": [list, tuple, None],
        "device": [str],
        "mixed_precision": ["boolean"],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, tuple, None],
    }

    def __init__(
        self,
        *,
        embedding_dim=64,
        hidden_size=128,
        num_layers=1,
        dropout=0.0,
        tie_weights=False,
        optimizer="adam",
        learning_rate=1e-3,
        lr_schedule="plateau",
        batch_size=20,
        bptt=35,
        max_epochs=10,
        max_time=None,
        clip_grad_norm=0.25,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=2,
        warm_start=False,
        softmax="full",
        cutoffs=None,
        min_count=1,
        max_vocab=None,
        vocabulary=None,
        device="auto",
        mixed_precision=False,
        n_threads=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        **optimizer__kwargs,
    ):
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.tie_weights = tie_weights
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.bptt = bptt
        self.max_epochs = max_epochs
        self.max_time = max_time
        self.clip_grad_norm = clip_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.softmax = softmax
        self.cutoffs = cutoffs
        self.min_count = min_count
        self.max_vocab = max_vocab
        self.vocabulary = vocabulary
        self.device = device
        self.mixed_precision = mixed_precision
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        # The optimizer's own arguments, optimizer__<argument>=value (checked
        # against the optimizer's signature at fit).
        for name, value in optimizer__kwargs.items():
            if not name.startswith(_OPTIMIZER_PREFIX) or name == _OPTIMIZER_PREFIX:
                raise TypeError(
                    f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                    f"{name!r} (only optimizer__<argument> parameters may be added)."
                )
            setattr(self, name, value)

    # optimizer__<argument> parameters (skorch's convention) ---------------

    def get_params(self, deep=True):
        """Get the parameters, the ``optimizer__<argument>`` ones included.

        Parameters
        ----------
        deep : bool, default=True
            Also the parameters of contained estimators (there are none).

        Returns
        -------
        params : dict
        """
        params = super().get_params(deep=deep)
        params.update((k, v) for k, v in vars(self).items() if k.startswith(_OPTIMIZER_PREFIX))
        return params

    def set_params(self, **params):
        """Set parameters; ``optimizer__<argument>`` ones may be new.

        ``optimizer__momentum=0.9`` passes ``momentum=0.9`` to the optimizer,
        so that a grid search can tune it.

        Parameters
        ----------
        **params : dict

        Returns
        -------
        self : estimator instance
        """
        extra = {k: params.pop(k) for k in list(params) if k.startswith(_OPTIMIZER_PREFIX)}
        if params:
            super().set_params(**params)
        for name, value in extra.items():
            if name == _OPTIMIZER_PREFIX:
                raise ValueError("'optimizer__' names no optimizer argument.")
            setattr(self, name, value)
        return self

    def _optimizer_class(self):
        if isinstance(self.optimizer, str):
            return _OPTIMIZERS[self.optimizer]
        if not (
            isinstance(self.optimizer, type) and issubclass(self.optimizer, torch.optim.Optimizer)
        ):
            raise ValueError(
                "optimizer must be 'sgd', 'adam', 'adamw' or a torch.optim.Optimizer "
                f"subclass; got {self.optimizer!r}."
            )
        return self.optimizer

    def _optimizer_kwargs(self, cls):
        kwargs = {
            k[len(_OPTIMIZER_PREFIX) :]: v
            for k, v in vars(self).items()
            if k.startswith(_OPTIMIZER_PREFIX)
        }
        if "lr" in kwargs:
            raise ValueError("optimizer__lr: set the learning rate with learning_rate.")
        if "params" in kwargs:
            raise ValueError("optimizer__params: the network's parameters are passed by fit.")
        signature = inspect.signature(cls.__init__).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in signature.values()):
            unknown = sorted(set(kwargs) - set(signature))
            if unknown:
                accepted = sorted(set(signature) - {"self", "params", "lr"})
                raise ValueError(
                    f"{cls.__name__} takes no argument {', '.join(map(repr, unknown))} "
                    f"(from optimizer__{unknown[0]}); it takes {', '.join(accepted)}."
                )
        return kwargs

    # the one thing the three models differ in --------------------------------

    def _cell(self):
        raise NotImplementedError

    # fit ---------------------------------------------------------------------

    #: True during a partial_fit call, which always continues a fitted network.
    _partial_fitting = False

    def _is_warm(self):
        return (self.warm_start or self._partial_fitting) and hasattr(self, "module_")

    def _keeps_vocabulary(self):
        # warm_start continues the same network, so the output layer (the
        # vocabulary) must stay what it was.
        return self._is_warm()

    def _module_config(self, n_classes):
        if self.tie_weights and self.embedding_dim != self.hidden_size:
            raise ValueError(
                "tie_weights=True needs embedding_dim == hidden_size; got "
                f"embedding_dim={self.embedding_dim}, hidden_size={self.hidden_size}."
            )
        if self.tie_weights and self.softmax != "full":
            raise ValueError("tie_weights=True needs softmax='full'.")
        cutoffs = None
        if self.softmax == "adaptive":
            if self.cutoffs is None:
                cutoffs = default_cutoffs(n_classes)
            else:
                cutoffs = [int(c) for c in self.cutoffs]
                if (
                    not cutoffs
                    or cutoffs != sorted(set(cutoffs))
                    or cutoffs[0] < 1
                    or cutoffs[-1] > n_classes - 1
                ):
                    raise ValueError(
                        "cutoffs must be a non-empty increasing list of distinct ints "
                        f"between 1 and n_classes - 1 = {n_classes - 1} (the vocabulary "
                        f"has {n_classes} classes); got {self.cutoffs!r}."
                    )
        return {
            "n_classes": n_classes,
            "cell": self._cell(),
            # Plain ints: torch rejects NumPy integers (a grid of np.arange values).
            "embedding_dim": int(self.embedding_dim),
            "hidden_size": int(self.hidden_size),
            "num_layers": int(self.num_layers),
            "dropout": float(self.dropout),
            "tie_weights": bool(self.tie_weights),
            "softmax": self.softmax,
            "cutoffs": cutoffs,
        }

    def _split(self, corpus, rng):
        """Training corpus, validation corpus and the held-out rows.

        With one sample (a whole document) the held-out part is the last
        ``validation_fraction`` of its tokens, validated as a sample of its
        own (from ``<s>``); the held-out rows are then None.
        """
        if not self.early_stopping:
            return corpus, None, None
        n = corpus.n_samples
        if n == 1:
            length = int(corpus.lengths[0])
            n_valid = max(1, int(round(self.validation_fraction * length)))
            if length - n_valid < 1:
                raise ValueError(
                    "early_stopping=True needs at least 2 samples, or one sample of at "
                    "least 2 tokens (counting its </s>) whose last validation_fraction="
                    f"{self.validation_fraction} is held out; X has one sample of "
                    f"{length - 1} tokens."
                )
            cut = length - n_valid
            train = Encoded(corpus.ids[:cut], np.array([0, cut], dtype=np.int64))
            valid = Encoded(corpus.ids[cut:], np.array([0, n_valid], dtype=np.int64))
            return train, valid, None
        n_valid = max(1, int(round(self.validation_fraction * n)))
        if n - n_valid < 1:
            raise ValueError(
                f"early_stopping=True needs at least 2 samples (one to train on, one to "
                f"validate on with validation_fraction={self.validation_fraction}); "
                f"X has {n}."
            )
        order = rng.permutation(n)
        valid_rows, train_rows = np.sort(order[:n_valid]), np.sort(order[n_valid:])
        return subset(corpus, train_rows), subset(corpus, valid_rows), valid_rows

    def _fit_sharded(self, X):
        """Train from a :class:`~sklm.datasets.TextFiles` read as a stream of shards.

        Other inputs return None (held in memory as usual). See
        :mod:`sklm.neural._stream`.
        """
        from ..datasets import TextFiles

        if not isinstance(X, TextFiles):
            return None
        if self.early_stopping:
            raise ValueError(
                "early_stopping=True holds samples out of a corpus held in memory; with "
                "TextFiles, keep files of your own apart and score them between fits "
                "(or use partial_fit), or give fit a list of samples."
            )
        vocabulary = self._vocabulary if self._keeps_vocabulary() else self._fixed_vocabulary()
        stream = Stream.learn(
            X,
            vocabulary,
            shard_tokens=self.stream_shard_tokens,
            min_count=self.min_count,
            max_vocab=self.max_vocab,
        )
        return stream.vocabulary, self._fit_encoded(stream, stream.vocabulary)

    def _fit_encoded(self, corpus, vocabulary):
        config = self._module_config(len(vocabulary))
        device = resolve_device(self.device)
        # Launched by torchrun: data-parallel over the processes (see _distributed).
        parallel = _distributed.context(device)
        if parallel is not None:
            device = parallel.device
        if self.mixed_precision:
            check_bfloat16(device)
        self._check_callbacks()
        optimizer_class = self._optimizer_class()
        self._optimizer_kwargs(optimizer_class)
        if self._is_warm():
            old = dict(self.module_.config)
            changed = sorted(k for k in config if k != "dropout" and config[k] != old.get(k))
            if changed:
                raise ValueError(
                    "warm_start=True continues the fitted network, but these settings "
                    f"changed since it was fitted: {', '.join(changed)}. Set "
                    "warm_start=False to train a new network."
                )
        partial = self._partial_fitting
        # What the previous partial_fit call left: its optimizer, schedule and
        # random streams continue (not after fit, which keeps none).
        carried = self.__dict__.get("_partial_carry") if partial and self._is_warm() else None
        if carried is not None:
            rng = copy.deepcopy(carried["rng"])
        else:
            random_state = self.random_state
            if parallel is not None:
                random_state = parallel.shared_random_state(random_state)
            rng = check_random_state(random_state)
            seed = int(rng.randint(np.iinfo(np.int32).max))
        if partial:
            # One pass over the whole chunk: nothing held out (early_stopping ignored).
            train_corpus, valid_corpus, valid_rows = corpus, None, None
        else:
            train_corpus, valid_corpus, valid_rows = self._split(corpus, rng)
        fork = [device.index or 0] if device.type == "cuda" else []
        # Seeding inside fork_rng leaves the caller's global torch RNG as it was.
        with self._torch_threads(), torch.random.fork_rng(devices=fork):
            if carried is not None:
                _incremental.restore_random_streams(carried, device)
            else:
                # Rank 0 draws the initial weights (DDP sends them to the others);
                # each process draws dropout masks of its own.
                torch.manual_seed(seed if parallel is None else seed + parallel.rank)
            state = TrainingState(
                parallel=parallel,
                epochs=1 if partial else int(self.max_epochs),
                config=config,
                device=device,
                corpus=train_corpus,
                valid_corpus=valid_corpus,
                valid_rows=valid_rows,
                classes=list(vocabulary.tokens),
                rng=rng,
                history=list(self.history_) if self._is_warm() else [],
            )
            self.initialize(state)
            carry = _incremental.Carry(carried) if partial else None
            if carry is not None:
                state.callbacks.append(carry)
            self.fit_loop(state)
        history = next(cb for cb in state.callbacks if isinstance(cb, History))
        return {
            "module_": state.module,
            "history_": list(history.records),
            "callbacks_": [cb for cb in state.callbacks if cb is not carry],
            "_partial_carry": None if carry is None else carry.saved,
            "device_": str(device),
            "n_parameters_": count_parameters(state.module),
            "n_threads_": state.n_threads,
        }

    def partial_fit(self, X, y=None):
        """Train one epoch (one pass) over ``X``, continuing from the previous call.

        For corpora that do not fit in memory, or that arrive over time: feed
        them chunk by chunk. The first call learns the vocabulary from its
        chunk (or takes the ``vocabulary`` parameter: pass it when the first
        chunk does not show every word) and builds the network; later calls
        keep both (words unseen at the first call are ``<unk>``) and continue
        the optimizer's state (Adam's moments, momentum), the learning-rate
        schedule, the batch-order generator and the dropout stream where the
        previous call left them. ``k`` calls on the same chunk therefore give
        the network that ``fit`` gives with ``max_epochs=k`` (on the CPU, bit
        for bit). ``max_epochs`` and ``early_stopping`` are ignored (hold out
        your own samples and score them between calls); ``history_`` gains
        one record per call. On a model fitted with :meth:`fit` (or loaded),
        ``partial_fit`` continues its network with a new optimizer.
        :meth:`fit` starts anew, as always.

        Parameters
        ----------
        X : iterable of str or of sequences of str
            The chunk: training samples, as for :meth:`fit`.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The model, trained one more epoch.

        Examples
        --------
        >>> from sklm import LSTMLM
        >>> lm = LSTMLM(hidden_size=8, embedding_dim=8, random_state=0)
        >>> for chunk in (["the cat sat", "the dog sat"], ["a cat ran"]):
        ...     lm = lm.partial_fit(chunk)
        >>> len(lm.history_)
        2
        """
        self._validate_params()
        self._partial_fitting = True
        try:
            vocabulary, corpus = self._learn_vocabulary(X)
            fitted = self._fit_encoded(corpus, vocabulary)
        finally:
            del self._partial_fitting
        # Assigned only now, all at once: a failed call changes nothing.
        self.__dict__.update(fitted)
        self._set_vocabulary(vocabulary)
        return self

    def _check_callbacks(self):
        hooks = ("on_train_begin", "on_batch_end", "on_epoch_end", "on_train_end")
        for i, cb in enumerate(self.callbacks or ()):
            missing = [h for h in hooks if not callable(getattr(cb, h, None))]
            if missing:
                raise TypeError(
                    f"callbacks[{i}] ({cb!r}) lacks {', '.join(missing)}; derive callbacks "
                    "from sklm.neural.callbacks.Callback."
                )

    @contextlib.contextmanager
    def _torch_threads(self):
        """Run torch on ``n_threads`` CPU threads, then give the caller back its setting.

        torch's thread count is global to the process, so it is set only for
        the duration of the call. ``None`` leaves it alone: torch's default,
        or what joblib's workers (``n_jobs``) already limited it to.
        """
        previous = torch.get_num_threads()
        wanted = previous if self.n_threads is None else int(self.n_threads)
        if wanted == previous:
            yield
            return
        torch.set_num_threads(wanted)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    # scoring hooks ---------------------------------------------------------

    @staticmethod
    def _no_nan(values):
        # NaN is never a probability: a network that outputs it (weights that
        # overflow float32, or NaN weights) fails clearly instead.
        if np.isnan(values).any():
            raise ValueError(
                "the network's output is NaN: its weights are not finite or overflow "
                "in float32. Refit with a lower learning_rate or gradient clipping "
                "(clip_grad_norm)."
            )
        return values

    def _log_prob_tokens(self, corpus):
        with self._torch_threads():
            return self._no_nan(
                _inference.log_prob_tokens(
                    self.module_, corpus, torch.device(self.device_), self.max_eval_positions
                )
            )

    def _next_log_proba(self, contexts):
        with self._torch_threads():
            return self._no_nan(
                _inference.next_log_proba(
                    self.module_, contexts, torch.device(self.device_), self.max_eval_positions
                )
            )

    def _generation_start(self, contexts):
        with self._torch_threads():
            state, log_proba = _inference.generation_start(
                self.module_, contexts, torch.device(self.device_), self.max_eval_positions
            )
        return state, self._no_nan(log_proba)

    def _generation_step(self, state, next_ids, active):
        with self._torch_threads():
            state, log_proba = _inference.generation_step(
                self.module_, state, next_ids, active, torch.device(self.device_)
            )
        return state, self._no_nan(log_proba)

    # persistence -----------------------------------------------------------

    def __getstate__(self):
        # A copy: pickling must never change the live model.
        state = dict(super().__getstate__())
        module = state.get("module_")
        if module is not None:
            state["module_"] = {
                "config": dict(module.config),
                "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
            }
        return state

    def __setstate__(self, state):
        state = dict(state)
        packed = state.get("module_")
        if isinstance(packed, dict):
            device = restore_device(state["device_"], where="unpickling")
            state["module_"] = _rebuild(packed["config"], packed["state_dict"], device)
            state["device_"] = str(device)
        super().__setstate__(state)

    def _save_params(self):
        """The parameters for :func:`sklm.save` (see ``_persistence``)."""
        return _persistence.save_params(self)

    @classmethod
    def _load_params(cls, params):
        """The parameters read by :func:`sklm.load` (see ``_persistence``)."""
        return _persistence.load_params(params)

    def _save_state(self):
        """The fitted state for :func:`sklm.save` (see ``_persistence``)."""
        return _persistence.save_state(self)

    def _load_state(self, meta, arrays, *, verify=True):
        """Set the fitted state read by :func:`sklm.load`, checked (see ``_persistence``)."""
        _persistence.load_state(self, meta, arrays)

    def save(self, path):
        """Write the fitted model to ``path`` in a format safe to share.

        Kept for the files it wrote; :func:`sklm.save` is the format of
        every estimator and pipeline.

        One NumPy ``.npz`` file holding a JSON document (parameters,
        vocabulary, network configuration, training history) and the weights
        as plain arrays. Unlike a pickle, loading it with :meth:`load` runs
        no code from the file.

        Parameters
        ----------
        path : str or path-like
            Where to write; ``.npz`` is appended by NumPy when missing.

        Returns
        -------
        path : pathlib.Path
            The file written.
        """
        return _persistence.save_npz(self, path)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`.

        The file is read with ``allow_pickle=False``: nothing in it can run
        code. The model is loaded on the device it was trained on when that
        is available here, else on the CPU with a warning.

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        model : RNNLM, LSTMLM or GRULM
            The fitted model (of the class that was saved; calling ``load`` on
            another model class raises a ``ValueError``).

        Raises
        ------
        sklm.io.ModelFileError
            If the file is not such a model or is inconsistent: the checks
            of :func:`sklm.load` (shapes against the vocabulary and the
            parameters before allocating, finite weights).
        """
        return _persistence.load_npz(cls, path)


def _rebuild(config, state_dict, device):
    module = build_module(config)
    module.load_state_dict(state_dict)
    return module.to(device).eval()
