"""The shared estimator of the recurrent language models."""

import contextlib
import copy
import json
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._sklearn import Interval, StrOptions
from ..base import LanguageModel
from ..base import Vocabulary
from . import _training
from ._modules import build_module, count_parameters, default_cutoffs

_FORMAT = "sklm.neural/1"


def resolve_device(device):
    """The ``torch.device`` that ``device`` names; ``"auto"``: CUDA, then MPS, then CPU."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a device torch knows; use 'auto', 'cpu', "
            "'cuda', 'cuda:<index>' or 'mps'."
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available on this machine (torch "
            f"{torch.__version__}); use device='auto' or device='cpu'."
        )
    if resolved.type == "cuda" and resolved.index is not None:
        if resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} but this machine has {torch.cuda.device_count()} "
                "CUDA device(s)."
            )
    if resolved.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={device!r} but MPS is not available on this machine.")
    return resolved


def check_bfloat16(device):
    """Raise a ValueError when ``mixed_precision=True`` cannot train on ``device``."""
    if device.type == "cpu":
        return
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return
    raise ValueError(
        f"mixed_precision=True trains in bfloat16, which device {str(device)!r} does not "
        "support here; use mixed_precision=False, or device='cpu'."
    )


def _available(device):
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return mps is not None and mps.is_available()
    return True


def _restore_device(trained_on, *, where):
    """The device to load a model onto: where it was trained, else the CPU with a warning."""
    if _available(trained_on):
        return torch.device(trained_on)
    warnings.warn(
        f"{where}: this model was trained on {trained_on!r}, which is not available "
        "here; it is loaded on the CPU instead.",
        UserWarning,
        stacklevel=3,
    )
    return torch.device("cpu")


class RecurrentLM(LanguageModel):
    """Base class of :class:`RNNLM`, :class:`LSTMLM` and :class:`GRULM`.

    The three models share everything here; they differ only in the
    recurrent cell (see ``_cell``). Not meant to be used directly.
    """

    _parameter_constraints = {
        **LanguageModel._parameter_constraints,
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "tie_weights": ["boolean"],
        "optimizer": [StrOptions({"sgd", "adam", "adamw"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"plateau"}), None],
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

    # the one thing the three models differ in --------------------------------

    def _cell(self):
        raise NotImplementedError

    # fit ---------------------------------------------------------------------

    def _is_warm(self):
        return self.warm_start and hasattr(self, "module_")

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
        """Training and validation corpora (validation only with early stopping)."""
        if not self.early_stopping:
            return corpus, None
        n = corpus.n_samples
        n_valid = max(1, int(round(self.validation_fraction * n)))
        if n - n_valid < 1:
            raise ValueError(
                f"early_stopping=True needs at least 2 samples (one to train on, one to "
                f"validate on with validation_fraction={self.validation_fraction}); "
                f"X has {n}."
            )
        order = rng.permutation(n)
        valid_rows, train_rows = np.sort(order[:n_valid]), np.sort(order[n_valid:])
        return _training.subset(corpus, train_rows), _training.subset(corpus, valid_rows)

    def _fit_encoded(self, corpus, vocabulary):
        with self._torch_threads():
            return self._train(corpus, vocabulary)

    def _train(self, corpus, vocabulary):
        config = self._module_config(len(vocabulary))
        device = resolve_device(self.device)
        if self.mixed_precision:
            check_bfloat16(device)
        warm = self._is_warm()
        if warm:
            old = dict(self.module_.config)
            changed = sorted(
                k for k in config if k != "dropout" and config[k] != old.get(k)
            )
            if changed:
                raise ValueError(
                    "warm_start=True continues the fitted network, but these settings "
                    f"changed since it was fitted: {', '.join(changed)}. Set "
                    "warm_start=False to train a new network."
                )
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        train_corpus, valid_corpus = self._split(corpus, rng)
        fork = [device.index or 0] if device.type == "cuda" else []
        # Seeding inside fork_rng leaves the caller's global torch RNG as it was.
        with torch.random.fork_rng(devices=fork):
            torch.manual_seed(seed)
            if warm:
                module = copy.deepcopy(self.module_)
                # dropout is the one setting a continued network may change.
                for layer in module.modules():
                    if isinstance(layer, torch.nn.Dropout):
                        layer.p = config["dropout"]
                if module.rnn.num_layers > 1:
                    module.rnn.dropout = config["dropout"]
                module.config = config
            else:
                module = build_module(config)
            module.to(device)
            history = list(self.history_) if warm else []
            history += _training.train(
                module,
                train_corpus,
                valid_corpus,
                optimizer=self.optimizer,
                learning_rate=self.learning_rate,
                lr_schedule=self.lr_schedule,
                batch_size=self.batch_size,
                bptt=self.bptt,
                max_epochs=self.max_epochs,
                clip_grad_norm=self.clip_grad_norm,
                early_stopping=self.early_stopping,
                n_iter_no_change=self.n_iter_no_change,
                max_time=self.max_time,
                rng=rng,
                device=device,
                mixed_precision=self.mixed_precision,
                verbose=self.verbose,
                first_epoch=len(history) + 1,
            )
        return {
            "module_": module,
            "history_": history,
            "device_": str(device),
            "n_parameters_": count_parameters(module),
            "n_threads_": torch.get_num_threads(),
        }

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

    def _log_prob_tokens(self, corpus):
        with self._torch_threads():
            return _training.log_prob_tokens(self.module_, corpus, torch.device(self.device_))

    def _next_log_proba(self, contexts):
        with self._torch_threads():
            return _training.next_log_proba(self.module_, contexts, torch.device(self.device_))

    def _generation_start(self, contexts):
        with self._torch_threads():
            return _training.generation_start(
                self.module_, contexts, torch.device(self.device_)
            )

    def _generation_step(self, state, next_ids, active):
        with self._torch_threads():
            return _training.generation_step(
                self.module_, state, next_ids, active, torch.device(self.device_)
            )

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
            device = _restore_device(state["device_"], where="unpickling")
            state["module_"] = _rebuild(packed["config"], packed["state_dict"], device)
            state["device_"] = str(device)
        super().__setstate__(state)

    def save(self, path):
        """Write the fitted model to ``path`` in a format safe to share.

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
        check_is_fitted(self)
        params = {}
        for name, value in self.get_params(deep=False).items():
            if isinstance(value, (tuple, list)):
                value = [int(v) for v in value]
            elif name == "random_state" and not (value is None or isinstance(value, Integral)):
                value = None  # a RandomState instance does not serialise; its seed is spent
            elif isinstance(value, Integral) and not isinstance(value, bool):
                value = int(value)  # NumPy integers are no JSON numbers
            elif isinstance(value, Real) and not isinstance(value, bool):
                value = float(value)
            params[name] = value
        meta = {
            "format": _FORMAT,
            "class": type(self).__name__,
            "params": params,
            "classes": [str(t) for t in self.classes_],
            "config": self.module_.config,
            "history": self.history_,
            "device": self.device_,
            "n_threads": self.n_threads_,
        }
        arrays = {
            f"w/{k}": v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        np.savez(path, **arrays)
        return path

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
        """
        with np.load(path, allow_pickle=False) as data:
            try:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            except KeyError:
                raise ValueError(f"{path} is not a model written by save().") from None
            if meta.get("format") != _FORMAT:
                raise ValueError(f"{path}: unknown format {meta.get('format')!r}.")
            weights = {k[2:]: torch.from_numpy(data[k].copy()) for k in data.files if k.startswith("w/")}
        classes = {c.__name__: c for c in _recurrent_classes()}
        target = classes.get(meta["class"])
        if target is None or not issubclass(target, cls):
            raise ValueError(
                f"{path} holds a {meta['class']}, not a {cls.__name__}; load it with "
                f"{meta['class']}.load or RecurrentLM.load."
            )
        model = target(**meta["params"])
        device = _restore_device(meta["device"], where="load")
        vocabulary = Vocabulary(meta["classes"])
        model.module_ = _rebuild(meta["config"], weights, device)
        model.history_ = meta["history"]
        model.device_ = str(device)
        model.n_parameters_ = count_parameters(model.module_)
        model.n_threads_ = meta["n_threads"]
        model._set_vocabulary(vocabulary)
        return model


def _rebuild(config, state_dict, device):
    module = build_module(config)
    module.load_state_dict(state_dict)
    return module.to(device).eval()


def _recurrent_classes():
    from ._models import GRULM, LSTMLM, RNNLM

    return (RNNLM, LSTMLM, GRULM)
