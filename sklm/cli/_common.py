"""What the commands share: errors, the estimator lookup, model files and text files."""

import sys
from pathlib import Path

PROG = "sklm"
# `sklm fit --model NAME`: the estimator class each name fits.
MODELS = {"ngram": "NGramLM", "rnn": "RNNLM", "lstm": "LSTMLM", "gru": "GRULM"}
NEURAL_MODELS = ("RNNLM", "LSTMLM", "GRULM")

_SKLM_SUFFIXES = (".sklm",)
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
_ARPA_SUFFIXES = (".arpa", ".arpa.gz")
_NPZ_SUFFIXES = (".npz",)
MODEL_SUFFIXES = _SKLM_SUFFIXES + _ARPA_SUFFIXES + _NPZ_SUFFIXES + _PICKLE_SUFFIXES


class CommandError(Exception):
    """A failed run the user can fix (exit status 1); printed without a traceback."""


class UsageError(CommandError):
    """A command line that asks for something impossible (exit status 2)."""


def estimator_class(name):
    """The sklm estimator class called ``name`` (torch is imported only for a neural one)."""
    import sklm

    return getattr(sklm, name)


def final_step(model):
    """The language model of ``model`` (the last step of a Pipeline)."""
    from sklearn.pipeline import Pipeline

    return model[-1] if isinstance(model, Pipeline) else model


def describe_model(model):
    """One line: the model's class, its main parameters and its vocabulary size."""
    lm = final_step(model)
    params = lm.get_params(deep=False)
    names = ("order", "smoothing", "embedding_dim", "hidden_size", "num_layers")
    shown = [f"{k}={params[k]!r}" for k in names if k in params]
    if "estimators" in params:  # a mixture: its components, by name
        shown += [f"{name}={type(final_step(est)).__name__}" for name, est in params["estimators"]]
    text = type(lm).__name__ + "(" + ", ".join(shown) + ")"
    if lm is not model:
        text = "Pipeline(..., " + text + ")"
    return f"{text}, {len(lm.classes_):,} types"


def warn(command, message, *, quiet):
    """A one-line warning on stderr, unless ``--quiet``."""
    if not quiet:
        print(f"{PROG} {command}: warning: {message}", file=sys.stderr)


# text files ----------------------------------------------------------------


def read_samples(path):
    """The non-empty lines of a text file (``-``: stdin), whitespace-normalised."""
    from ..datasets import load_lines

    if str(path) == "-":
        samples = [" ".join(line.split()) for line in sys.stdin.read().split("\n")]
        samples = [s for s in samples if s]
        if not samples:
            raise CommandError("stdin: no non-empty line; expected one sample per line")
        return samples
    try:
        return load_lines(path)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None


# model files -----------------------------------------------------------------


def model_format(path):
    """``"sklm"``, ``"arpa"``, ``"npz"`` or ``"pickle"``, from the file name."""
    name = str(path).lower()
    for kind, suffixes in (
        ("sklm", _SKLM_SUFFIXES),
        ("arpa", _ARPA_SUFFIXES),
        ("npz", _NPZ_SUFFIXES),
        ("pickle", _PICKLE_SUFFIXES),
    ):
        if name.endswith(suffixes):
            return kind
    raise UsageError(
        f"{path}: cannot tell the model format from the file name; use " + ", ".join(MODEL_SUFFIXES)
    )


def check_output_format(model_name, path):
    """Fail before any work when ``path``'s format cannot hold a ``model_name`` model."""
    kind = model_format(path)
    if kind == "arpa" and model_name != "NGramLM":
        raise UsageError(
            f"{path}: ARPA files hold n-gram models only; save a {model_name} as "
            ".sklm (safe to share) or .pkl/.joblib"
        )
    if kind == "npz" and model_name not in NEURAL_MODELS:
        raise UsageError(
            f"{path}: .npz files hold neural models (RNNLM, LSTMLM, GRULM) only; save an "
            f"{model_name} as .sklm (safe to share), .arpa/.arpa.gz or .pkl/.joblib"
        )
    return kind


def _is_language_model(obj):
    from ..base import LanguageModel

    return isinstance(final_step(obj), LanguageModel)


def load_model(path, *, command="score", quiet=False):
    """Load a model file: ``.sklm`` (:func:`sklm.load`), ARPA, ``.npz`` or a pickle.

    ``.sklm``, ARPA and ``.npz`` files run no code when loaded. A pickle
    (``.pkl``, ``.pickle``, ``.joblib``) does: a warning says so, unless
    ``quiet``.
    """
    kind = model_format(path)
    if not Path(path).is_file():
        raise CommandError(f"{path}: no such file")
    if kind == "sklm":
        from ..io import load

        # Mapped, not read: a large n-gram model opens in the time its checks
        # take (a later save renames a new file in, leaving the mapped one be).
        model = load(path, mmap=True)
    elif kind == "arpa":
        from ..ngram import NGramLM

        return NGramLM.from_arpa(path)
    elif kind == "npz":
        from ..neural import RecurrentLM

        try:
            return RecurrentLM.load(path)
        except Exception as exc:  # a zip or npz that is not ours: many error types
            raise CommandError(
                f"{path}: not a neural model written by sklm ({type(exc).__name__}: {exc})"
            ) from None
    else:
        import joblib

        warn(
            command,
            f"{path} is a pickle: loading it runs code stored in the file, so open only "
            "files you trust (a .sklm file holds data only)",
            quiet=quiet,
        )
        try:
            model = joblib.load(path)
        except Exception as exc:  # unpickling raises anything the file asks for
            raise CommandError(
                f"{path}: not a readable model file ({type(exc).__name__}: {exc})"
            ) from None
    if not _is_language_model(model):
        raise CommandError(
            f"{path}: holds a {type(model).__name__}, not an sklm language model "
            "or a Pipeline ending in one"
        )
    return model


def save_model(model, path):
    """Save ``model`` in the format its file name says; every format is written atomically.

    A failed write leaves any previous file at ``path`` as it was.
    """
    from ..io import atomic_write

    kind = check_output_format(type(final_step(model)).__name__, path)
    if kind == "sklm":
        from ..io import save

        save(model, path)
    elif kind == "arpa":
        model.to_arpa(path)
    elif kind == "npz":
        model.save(path)
    else:
        import joblib

        with atomic_write(path, "wb") as file:
            joblib.dump(model, file)
