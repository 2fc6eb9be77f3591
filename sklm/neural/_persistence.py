"""The fitted state of the recurrent models for :func:`sklm.save` and :func:`sklm.load`.

A network is stored as its configuration (JSON) and its ``state_dict`` (plain
float32 arrays). Loading checks the configuration against the vocabulary and
the parameters, builds the network on torch's ``meta`` device (no memory),
compares every weight's shape with the file's arrays, whose sizes the file
bounds, and only then allocates the network and copies the weights in: a file
that claims ``hidden_size=10**9`` is refused before anything is allocated.
"""

import json
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..io import atomic_write
from ._modules import CELLS, build_module, count_parameters

_FORMAT = "sklm.neural/1"
_WEIGHTS = "weights/"
_STATE = ("classes", "config", "history", "device", "n_threads")
_CONFIG = (
    "n_classes",
    "cell",
    "embedding_dim",
    "hidden_size",
    "num_layers",
    "dropout",
    "tie_weights",
    "softmax",
    "cutoffs",
)


def save_params(model):
    """The parameters that :func:`sklm.save` stores.

    ``callbacks`` are training-time objects, not part of the fitted model:
    stored as ``None``, as :meth:`RecurrentLM.save` does.
    """
    params = model.get_params(deep=False)
    if "callbacks" in params:
        params["callbacks"] = None
    optimizer = params.get("optimizer")
    if isinstance(optimizer, type) and getattr(torch.optim, optimizer.__name__, None) is optimizer:
        # One of torch.optim's own classes, stored by name (as RecurrentLM.save does).
        params["optimizer"] = {"torch.optim": optimizer.__name__}
    return params


def load_params(params):
    """The parameters read from a file, with a stored optimizer class resolved.

    Only a subclass of ``torch.optim.Optimizer`` that ``torch.optim`` itself
    exports can be named: nothing else is looked up.
    """
    optimizer = params.get("optimizer")
    if isinstance(optimizer, dict):
        name = optimizer.get("torch.optim")
        found = getattr(torch.optim, name, None) if isinstance(name, str) else None
        if set(optimizer) != {"torch.optim"} or not (
            isinstance(found, type) and issubclass(found, torch.optim.Optimizer)
        ):
            raise ValueError(f"unknown optimizer {optimizer!r:.60}.")
        params = {**params, "optimizer": found}
    return params


def save_state(model):
    """``(meta, arrays)`` of a fitted RNNLM, LSTMLM or GRULM."""
    meta = {
        "classes": [str(t) for t in model.classes_],
        "config": dict(model.module_.config),
        "history": list(model.history_),
        "device": str(model.device_),
        "n_threads": int(model.n_threads_),
    }
    arrays = {
        _WEIGHTS + name: tensor.detach().cpu().numpy()
        for name, tensor in model.module_.state_dict().items()
    }
    return meta, arrays


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def _check_config(model, config, n_classes, n_arrays):
    """Check a file's network configuration before anything is built from it."""
    if not isinstance(config, dict) or set(config) != set(_CONFIG):
        raise ValueError("the network configuration is malformed.")
    if config["n_classes"] != n_classes:
        raise ValueError(
            f"the network has {config['n_classes']!r:.20} classes; the vocabulary {n_classes}."
        )
    if config["cell"] not in CELLS or config["cell"] != model._cell():
        raise ValueError(
            f"the network's cell {config['cell']!r:.20} is not that of a {type(model).__name__}."
        )
    for name in ("embedding_dim", "hidden_size", "num_layers"):
        if not _is_int(config[name]) or config[name] < 1:
            raise ValueError(f"the network's {name} is not a positive int.")
    # Every layer brings at least two weight arrays: a bound on the modules
    # that the skeleton below creates, read from the file's own size.
    if 2 * config["num_layers"] > n_arrays:
        raise ValueError(
            f"num_layers={config['num_layers']} but the file holds {n_arrays} weights."
        )
    if not isinstance(config["dropout"], float) or not 0 <= config["dropout"] < 1:
        raise ValueError("the network's dropout is not a float in [0, 1).")
    cutoffs = config["cutoffs"]
    if cutoffs is not None and (
        not isinstance(cutoffs, list)
        or not cutoffs
        or len(cutoffs) > n_arrays
        or not all(_is_int(c) for c in cutoffs)
        or cutoffs != sorted(set(cutoffs))
        or cutoffs[0] < 1
        or cutoffs[-1] > n_classes - 1
    ):
        raise ValueError("the network's cutoffs are not increasing ints below the vocabulary size.")
    if config["softmax"] == "adaptive" and cutoffs is None:
        raise ValueError("the adaptive softmax has no cutoffs.")
    expected = model._module_config(n_classes)
    differ = sorted(k for k in _CONFIG if k != "dropout" and expected[k] != config[k])
    if differ:
        raise ValueError(f"the network's {', '.join(differ)} differ from the model's parameters.")


def load_state(model, meta, arrays):
    """Set the fitted state of ``model`` from what :func:`sklm.load` read, checked."""
    from ..io import check_array, check_vocabulary

    if set(meta) != set(_STATE):
        raise ValueError(f"the fitted state holds {sorted(meta)}, not {list(_STATE)}.")
    vocabulary = check_vocabulary(meta["classes"])
    config = meta["config"]
    _check_config(model, config, len(vocabulary), len(arrays))
    try:
        with torch.device("meta"):
            skeleton = build_module(config)
    except (RuntimeError, ValueError, TypeError, OverflowError) as error:
        raise ValueError(
            f"the network's configuration gives impossible weight shapes: {error}"
        ) from None
    expected = skeleton.state_dict()
    names = {_WEIGHTS + name for name in expected}
    if set(arrays) != names:
        raise ValueError(
            f"the weights {sorted(set(arrays) ^ names)[:4]} are missing or unexpected."
        )
    weights = {}
    for name, tensor in expected.items():
        array = check_array(
            arrays, _WEIGHTS + name, dtype=np.float32, shape=tuple(tensor.shape), finite=True
        )
        weights[name] = torch.from_numpy(np.array(array))
    history = meta["history"]
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ValueError("the training history is not a list of records.")
    n_threads = meta["n_threads"]
    if not _is_int(n_threads) or n_threads < 1:
        raise ValueError("n_threads is not a positive int.")
    device = _device(meta["device"])
    # The skeleton's storage is given memory now, and every weight is
    # overwritten by the strict load: no random initialisation, so the
    # caller's torch RNG is left alone.
    module = skeleton.to_empty(device=device)
    module.load_state_dict(weights, strict=True)
    module.config = dict(config)
    module.eval()
    model.module_ = module
    model.history_ = history
    model.device_ = str(device)
    model.n_parameters_ = count_parameters(module)
    model.n_threads_ = n_threads
    model._set_vocabulary(vocabulary)


def _device(name):
    """Where the model was trained, if available here; else the CPU, with a warning."""
    from ._device import restore_device

    try:
        torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"the device {name!r:.40} is not one torch knows.") from None
    return restore_device(name, where="load")


def save_npz(model, path):
    """Write ``model`` to ``path`` as the ``.npz`` of :meth:`RecurrentLM.save`."""
    check_is_fitted(model)
    params = {}
    for name, value in model.get_params(deep=False).items():
        if name == "callbacks":
            value = None  # training-time objects: not part of the fitted model
        elif name == "optimizer" and isinstance(value, type):
            if getattr(torch.optim, value.__name__, None) is not value:
                raise ValueError(
                    f"save() stores optimizer classes of torch.optim only; got {value!r} "
                    "(pickle the model instead)."
                )
            value = {"torch.optim": value.__name__}
        elif isinstance(value, (tuple, list)):
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
        "class": type(model).__name__,
        "params": params,
        "classes": [str(t) for t in model.classes_],
        "config": model.module_.config,
        "history": model.history_,
        "device": model.device_,
        "n_threads": model.n_threads_,
    }
    arrays = {f"w/{k}": v.detach().cpu().numpy() for k, v in model.module_.state_dict().items()}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def load_npz(cls, path):
    """Read a ``.npz`` of :meth:`RecurrentLM.save` with the checks of :func:`sklm.load`."""
    import zipfile

    from ..io import ModelFileError, check_path
    from ._base import RecurrentLM

    path = check_path(path)

    def fail(message):
        raise ModelFileError(f"{path}: {message}")

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
        # save() stores its arrays uncompressed: a member that inflates could
        # claim any size (a zip bomb), a stored one is bounded by the file.
        if any(member.compress_type != zipfile.ZIP_STORED for member in members):
            fail("compressed members: not a file written by save().")
        with np.load(path, allow_pickle=False) as data:
            if "meta" not in data.files:
                fail("not a model written by save().")
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
                fail("unknown format (not a model written by save()).")
            arrays = {_WEIGHTS + k[2:]: data[k] for k in data.files if k.startswith("w/")}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        if isinstance(error, ModelFileError):
            raise
        raise ModelFileError(f"{path}: not a model written by save(): {error}") from None
    target = RecurrentLM._classes.get(meta.get("class"))
    if target is None or not issubclass(target, cls):
        fail(
            f"holds a {str(meta.get('class'))[:40]}, not a {cls.__name__}; load it with "
            f"{meta.get('class')}.load or RecurrentLM.load."
        )
    try:
        params = load_params(dict(meta["params"]))
        arguments = set(target._get_param_names())
        model = target(**{k: v for k, v in params.items() if k in arguments})
        model.set_params(**{k: v for k, v in params.items() if k not in arguments})
        model._validate_params()
        load_state(model, {k: meta[k] for k in _STATE}, arrays)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        if isinstance(error, ModelFileError):
            raise
        detail = f"missing {error}" if isinstance(error, KeyError) else str(error)
        fail(f"inconsistent model: {detail}")
    return model
