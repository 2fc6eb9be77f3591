"""Files: atomic writes and the library's one safe model format (:func:`save`, :func:`load`).

Every writer of sklm goes through :func:`atomic_write`: the bytes go to a
temporary file in the target's folder, which is flushed, fsynced and renamed
over the target only once everything was written. A failed write (a full
disk, an exception while serialising, an interrupt) leaves the previous file
as it was and no partial file behind.
"""

import contextlib
import importlib
import json
import math
import os
import struct
import tempfile
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted


def check_path(path, *, name="path"):
    """Return ``path`` as a :class:`~pathlib.Path`; only str and path-like are paths."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be a str or os.PathLike; got {type(path).__name__} {path!r:.60}."
        )
    path = Path(path)
    if str(path) == "":
        raise ValueError(f"{name} is empty.")
    return path


def check_writable(path, *, name="path"):
    """Fail early (before a long fit) when ``path`` cannot be written.

    The folder must exist and be writable, and ``path`` must not be a folder.
    Nothing is created.
    """
    path = check_path(path, name=name)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a folder, not a file.")
    if not folder.is_dir():
        raise ValueError(f"{name} {str(path)!r}: the folder {str(folder)!r} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {str(path)!r}: the folder {str(folder)!r} is not writable.")
    return path


@contextlib.contextmanager
def atomic_write(path, mode="wb", *, encoding=None, newline=None):
    """Open a temporary file that replaces ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or path-like
        The file to write. Its folder must exist.
    mode : {"wb", "w"}, default="wb"
        Binary or text.
    encoding, newline : str, default=None
        For text mode, as in :func:`open`.

    Yields
    ------
    file : file object
        Write to it; do not close it. On leaving the block without an
        exception it is flushed, fsynced and renamed over ``path``; on an
        exception it is deleted and ``path`` is left as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklm.io import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_write(path, "w", encoding="utf-8") as f:
    ...     _ = f.write("hello")
    >>> open(path).read()
    'hello'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w'; got {mode!r}.")
    path = check_path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        if path.exists():
            # Keep the permissions of the file being replaced.
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        # The rename itself reaches the disk once the folder is synced.
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# The safe model format ------------------------------------------------------
#
# One file: MAGIC, the header's length (little-endian uint64), the header (a
# UTF-8 JSON document), then the arrays' raw little-endian bytes, each at the
# offset the header records (64-byte aligned, so that a loader may map them).
# The header holds the class names (looked up in _CLASSES: nothing else can
# be instantiated), the parameters, the vocabulary and the structure.
# Version 2 stores an NGramLM's vocabulary as arrays and adds the structures
# its queries build on first use (hash slots, the text encoder's tables);
# version 1 files are still read.

MAGIC = b"SKLM\x89\r\n\x1a"
FORMAT = "sklm.model"
FORMAT_VERSION = 2
_ALIGN = 64
_PREAMBLE = len(MAGIC) + 8
_DTYPES = frozenset(
    ["<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1"]
)
_MAX_NDIM = 8
_MAX_DEPTH = 32
_TAGS = ("__estimator__", "__tuple__", "__set__", "__float__", "__dict__", "__ndarray__")

# Every class that sklm.load can build, by the name the file gives: sklm's
# estimators and the scikit-learn containers of them.
_CLASSES = {
    "NGramLM": ("sklm.ngram", "NGramLM"),
    "RNNLM": ("sklm.neural", "RNNLM"),
    "LSTMLM": ("sklm.neural", "LSTMLM"),
    "GRULM": ("sklm.neural", "GRULM"),
    "Tokenizer": ("sklm.preprocessing", "Tokenizer"),
    "InterpolatedLM": ("sklm.mixture", "InterpolatedLM"),
    "Pipeline": ("sklearn.pipeline", "Pipeline"),
    "FrozenEstimator": ("sklearn.frozen", "FrozenEstimator"),
}
# Containers: no fitted state of their own; their estimators carry theirs.
_CONTAINERS = frozenset(["Pipeline", "FrozenEstimator"])


class ModelFileError(ValueError):
    """A file that :func:`sklm.load` cannot read as a model.

    The message names the file and the problem. A subclass of
    :class:`ValueError`.
    """


def _class(name):
    """The allowlisted class called ``name``, or None."""
    where = _CLASSES.get(name) if isinstance(name, str) else None
    if where is None:
        return None
    module_name, attribute = where
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, attribute, None)


class _Writer:
    """Turns an estimator into the header's JSON and a list of arrays."""

    def __init__(self):
        self.arrays = []
        self.n_nodes = 0

    def value(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, Integral):
            return int(value)
        if isinstance(value, Real):
            value = float(value)
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, BaseEstimator):
            return {"__estimator__": self.node(value, where)}
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.ndim <= 2:
            # A small parameter array (given weights): its values, as JSON.
            values = self.value(value.tolist(), where)
            return {"__ndarray__": {"dtype": value.dtype.newbyteorder("<").str, "values": values}}
        if isinstance(value, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"__tuple__": [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, (set, frozenset)):
            if not all(isinstance(v, str) for v in value):
                raise TypeError(f"sklm.save cannot store {where}: a set of other things than str.")
            return {"__set__": sorted(value)}
        if isinstance(value, os.PathLike) and isinstance(os.fspath(value), str):
            return os.fspath(value)
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            out = {k: self.value(v, f"{where}[{k!r}]") for k, v in value.items()}
            return {"__dict__": out} if len(out) == 1 and next(iter(out)) in _TAGS else out
        raise TypeError(
            f"sklm.save cannot store {where}: {type(value).__name__} {value!r:.60} is not "
            "data (only numbers, str, lists, tuples, sets, dicts and sklm estimators are). "
            "Pickle stores code, for trusted use only."
        )

    def node(self, estimator, where):
        name = type(estimator).__name__
        if _class(name) is not type(estimator):
            raise TypeError(
                f"sklm.save cannot store {where}: {type(estimator).__module__}.{name} is not "
                f"one of the classes it stores ({', '.join(sorted(_CLASSES))})."
            )
        node_id = str(self.n_nodes)
        self.n_nodes += 1
        # A model may leave out what is no part of it (training-time callbacks).
        # (Looked up on the class: a FrozenEstimator hands on unknown names.)
        if hasattr(type(estimator), "_save_params"):
            params = estimator._save_params()
        else:
            params = estimator.get_params(deep=False)
        node = {
            "class": name,
            "id": node_id,
            "params": {k: self.value(v, f"{where}.{k}") for k, v in sorted(params.items())},
            "state": None,
        }
        if name not in _CONTAINERS and _is_fitted(estimator):
            meta, arrays = estimator._save_state()
            node["state"] = self.value(meta, f"{where} (fitted state)")
            for key, array in sorted(arrays.items()):
                self.array(f"{node_id}/{key}", array, where)
        return node

    def array(self, name, array, where):
        array = np.asarray(array)
        if array.dtype.kind not in "fiub":
            raise TypeError(
                f"sklm.save cannot store {where}: array {name!r} has dtype {array.dtype}."
            )
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        self.arrays.append((name, array))


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def save(estimator, path):
    """Write an sklm estimator or pipeline to one file that is safe to share.

    The file holds the class names, the parameters, the vocabulary and the
    structure as JSON, and the tables and weights as raw arrays: reading it
    back with :func:`load` runs no code from it. Written atomically: a failed
    save leaves the previous file at ``path`` as it was.

    Parameters
    ----------
    estimator : estimator
        An sklm estimator (fitted or not), or a
        :class:`~sklearn.pipeline.Pipeline` or
        :class:`~sklearn.frozen.FrozenEstimator` of them, nested as deep as
        need be.
    path : str or path-like
        The file to write (any name; ``.sklm`` is the usual suffix).

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        If ``estimator`` holds something other than data and sklm estimators
        (a callable ``analyzer``, a class from another library), which only
        a pickle can store.

    See Also
    --------
    load : Read the file back.

    Examples
    --------
    >>> import os, tempfile
    >>> import sklm
    >>> lm = sklm.NGramLM(order=2).fit(["the cat sat", "the dog sat", "a cat ran"])
    >>> path = sklm.save(lm, os.path.join(tempfile.mkdtemp(), "lm.sklm"))
    >>> copy = sklm.load(path)
    >>> bool(copy.score(["the cat ran"]) == lm.score(["the cat ran"]))
    True
    """
    path = check_path(path)
    writer = _Writer()
    root = writer.node(estimator, type(estimator).__name__)
    arrays, offset = [], 0
    for name, array in writer.arrays:
        arrays.append(
            {"name": name, "dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
        )
        offset += -(-array.nbytes // _ALIGN) * _ALIGN
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "root": root,
        "arrays": arrays,
    }
    # ASCII, with every other character escaped: a token that is no valid
    # UTF-8 on its own (a lone surrogate) is stored as faithfully as any.
    data = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("ascii")
    start = -(-(_PREAMBLE + len(data)) // _ALIGN) * _ALIGN
    with atomic_write(path, "wb") as file:
        file.write(MAGIC)
        file.write(struct.pack("<Q", len(data)))
        file.write(data)
        file.write(b"\0" * (start - _PREAMBLE - len(data)))
        written = 0
        for entry, (_, array) in zip(arrays, writer.arrays):
            # Padding before each array, none after the last: a file cut
            # short by even one byte misses data.
            file.write(b"\0" * (entry["offset"] - written))
            file.write(memoryview(array).cast("B") if array.size else b"")
            written = entry["offset"] + array.nbytes
    return path


class _Reader:
    """Builds the estimators of a header, checking everything it reads."""

    def __init__(self, path, file, size, data_start, entries, mmap, verify):
        self.path = path
        self.file = file
        self.data_start = data_start
        self.mmap = mmap
        self.verify = verify
        self.entries = self._check_entries(entries, size - data_start)
        self.used = set()
        self.ids = set()

    def fail(self, message):
        raise ModelFileError(f"{self.path}: {message}")

    def _check_entries(self, entries, room):
        if not isinstance(entries, list):
            self.fail("the header's 'arrays' is not a list.")
        checked, spans = {}, []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or set(entry) != {"name", "dtype", "shape", "offset"}:
                self.fail(f"array entry {i} is malformed.")
            name, dtype = entry["name"], entry["dtype"]
            shape, offset = entry["shape"], entry["offset"]
            if not isinstance(name, str) or name in checked:
                self.fail(f"array entry {i} has a missing or repeated name.")
            if not isinstance(dtype, str) or dtype not in _DTYPES:
                self.fail(f"array {name!r} has the unsupported dtype {dtype!r}.")
            if (
                not isinstance(shape, list)
                or len(shape) > _MAX_NDIM
                or not all(_is_int(n) and n >= 0 for n in shape)
            ):
                self.fail(f"array {name!r} has an invalid shape {shape!r:.80}.")
            nbytes = math.prod(shape) * np.dtype(dtype).itemsize
            if not _is_int(offset) or offset < 0 or offset + nbytes > room:
                self.fail(
                    f"array {name!r} ({nbytes} bytes at offset {offset!r:.40}) lies outside "
                    "the file: it is truncated or corrupt."
                )
            spans.append((offset, offset + nbytes, name))
            checked[name] = (np.dtype(dtype), tuple(shape), offset, nbytes)
        spans.sort()
        for (_, end, a), (begin, _, b) in zip(spans, spans[1:]):
            if begin < end:
                self.fail(f"arrays {a!r} and {b!r} overlap.")
        return checked

    def read(self, name):
        dtype, shape, offset, nbytes = self.entries[name]
        self.used.add(name)
        if self.mmap and nbytes:
            return np.memmap(
                self.path, dtype=dtype, mode="r", offset=self.data_start + offset, shape=shape
            )
        array = np.empty(shape, dtype=dtype)
        self.file.seek(self.data_start + offset)
        if nbytes and self.file.readinto(memoryview(array).cast("B")) != nbytes:
            self.fail(f"array {name!r} is truncated.")
        return array

    def value(self, value, where, depth):
        if depth > _MAX_DEPTH:
            self.fail(f"{where} is nested too deeply.")
        if value is None or isinstance(value, (bool, str)) or _is_int(value):
            return value
        if isinstance(value, float):
            return value
        if isinstance(value, list):
            if set(map(type, value)) <= {str}:
                return value  # a vocabulary: no element to decode
            return [self.value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
        if not isinstance(value, dict):
            self.fail(f"{where} holds an unreadable value.")
        if len(value) == 1 and next(iter(value)) in _TAGS:
            tag, inner = next(iter(value.items()))
            if tag == "__estimator__":
                return self.node(inner, where, depth + 1)
            if tag == "__tuple__" and isinstance(inner, list):
                return tuple(self.value(inner, where, depth + 1))
            if tag == "__set__" and isinstance(inner, list) and all(map(_is_str, inner)):
                return set(inner)
            if tag == "__float__" and inner in ("inf", "-inf", "nan"):
                return float(inner)
            if tag == "__ndarray__" and isinstance(inner, dict):
                return self._ndarray(inner, where, depth)
            if tag == "__dict__" and isinstance(inner, dict):
                return {k: self.value(v, f"{where}[{k!r}]", depth + 1) for k, v in inner.items()}
            self.fail(f"{where} holds a malformed {tag} value.")
        return {k: self.value(v, f"{where}[{k!r}]", depth + 1) for k, v in value.items()}

    def _ndarray(self, inner, where, depth):
        if set(inner) != {"dtype", "values"}:
            self.fail(f"{where} holds a malformed array.")
        values = self.value(inner["values"], where, depth + 1)
        dtype = inner["dtype"]
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            self.fail(f"{where} holds an array of unsupported dtype {dtype!r:.40}.")
        try:
            array = np.array(values, dtype=dtype)
        except (ValueError, TypeError, OverflowError):
            self.fail(f"{where} holds a malformed array.")
        if array.ndim > 2:
            self.fail(f"{where} holds a malformed array.")
        return array

    def node(self, node, where, depth):
        if not isinstance(node, dict) or set(node) != {"class", "id", "params", "state"}:
            self.fail(f"{where} is not an estimator record.")
        name = node["class"]
        cls = _class(name)
        if cls is None:
            self.fail(
                f"{where} is a {name!r:.60}, which sklm.load does not build (it builds only "
                f"{', '.join(sorted(_CLASSES))})."
            )
        node_id = node["id"]
        if not isinstance(node_id, str) or node_id in self.ids:
            self.fail(f"{where} has a missing or repeated id.")
        self.ids.add(node_id)
        params = node["params"]
        if not isinstance(params, dict):
            self.fail(f"{where}: the parameters are not a JSON object.")
        params = {k: self.value(v, f"{where}.{k}", depth) for k, v in params.items()}
        # Parameters that are no argument of __init__ (a neural model's
        # optimizer__<argument>) are set as set_params sets them, which
        # refuses names the estimator does not accept.
        arguments = set(cls._get_param_names())
        try:
            if hasattr(cls, "_load_params"):
                params = cls._load_params(params)
            estimator = cls(**{k: v for k, v in params.items() if k in arguments})
            extra = {k: v for k, v in params.items() if k not in arguments}
            if extra:
                estimator.set_params(**extra)
            if hasattr(estimator, "_parameter_constraints"):
                estimator._validate_params()
            if name == "Pipeline":
                estimator._validate_steps()
            if name == "FrozenEstimator" and not isinstance(estimator.estimator, BaseEstimator):
                raise TypeError("the frozen estimator is not an estimator.")
        except (ValueError, TypeError, AttributeError) as error:
            self.fail(f"{where}: invalid parameters: {error}")
        state = node["state"]
        if state is None:
            return estimator
        if name in _CONTAINERS:
            self.fail(f"{where}: a {name} has no fitted state of its own.")
        meta = self.value(state, f"{where} (fitted state)", depth)
        if not isinstance(meta, dict):
            self.fail(f"{where}: the fitted state is not a JSON object.")
        prefix = f"{node_id}/"
        arrays = {n[len(prefix) :]: self.read(n) for n in self.entries if n.startswith(prefix)}
        try:
            estimator._load_state(meta, arrays, verify=self.verify)
        except ModelFileError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
            detail = f"missing {error}" if isinstance(error, KeyError) else str(error)
            self.fail(f"{where}: inconsistent fitted state: {detail}")
        return estimator


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str(value):
    return isinstance(value, str)


def _json_object(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a JSON object repeats a key")
    return dict(pairs)


def _no_constant(name):
    raise ValueError(f"{name} is no JSON number")


def load(path, *, mmap=False, verify=True):
    """Read an estimator or pipeline written by :func:`save`.

    No code from the file runs: the classes it names must be sklm's own (or
    :class:`~sklearn.pipeline.Pipeline` and
    :class:`~sklearn.frozen.FrozenEstimator`), the parameters must pass the
    estimator's own validation, and the fitted state must be consistent:
    every array's shape against the vocabulary and the parameters, finite
    weights, sizes checked against the file before anything is allocated. A
    neural model opens on the device it was trained on when it is available
    here, else on the CPU with a warning.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    mmap : bool, default=False
        Map the arrays of the file into memory (read-only) instead of
        reading them: an :class:`~sklm.NGramLM`'s tables then load in the
        time it takes to check them, and the operating system shares their
        pages between processes that open the same file. The file must stay
        in place while the model is in use (:func:`save` replaces a file by
        renaming, which leaves a mapped one intact). Neural weights are
        always copied into torch.
    verify : bool, default=True
        Read every entry of an :class:`~sklm.NGramLM`'s tables and
        vocabulary to check them (sorted distinct keys, finite
        log-probabilities, hash slots where probing finds their keys,
        distinct tokens). ``verify=False`` checks only the file's structure
        (the header, every array's type, shape and place in the file, the
        vocabulary's first tokens), so that with ``mmap=True`` a model of
        any size opens in milliseconds, its pages read as queries need
        them, as KenLM's binary files open. Use it on files you trust as you
        would a KenLM binary: a corrupt table then gives wrong
        probabilities or an error at query time (every read stays inside
        the tables), never code run from the file. Neural weights are
        always checked.

    Returns
    -------
    estimator : estimator
        The estimator, fitted if it was when saved.

    Raises
    ------
    ModelFileError
        If the file is not a model file, is of a newer format version, is
        truncated or corrupt, or describes an inconsistent model; the
        message names the file and the problem.

    See Also
    --------
    save : Write the file.
    """
    path = check_path(path)
    if not isinstance(mmap, bool):
        raise TypeError(f"mmap must be a bool; got {type(mmap).__name__}.")
    if not isinstance(verify, bool):
        raise TypeError(f"verify must be a bool; got {type(verify).__name__}.")
    try:
        file = open(path, "rb")
    except OSError as error:
        raise ModelFileError(f"{path}: cannot open the file: {error.strerror or error}") from None
    with file:
        size = os.fstat(file.fileno()).st_size
        preamble = file.read(_PREAMBLE)
        if len(preamble) < _PREAMBLE or preamble[: len(MAGIC)] != MAGIC:
            raise ModelFileError(
                f"{path}: not a model file written by sklm.save (a pickle, an ARPA file and "
                "RecurrentLM.save's .npz are read by other functions)."
            )
        (length,) = struct.unpack("<Q", preamble[len(MAGIC) :])
        if length > size - _PREAMBLE:
            raise ModelFileError(
                f"{path}: the header claims {length} bytes; the file is truncated."
            )
        try:
            header = json.loads(
                file.read(length).decode("ascii"),
                object_pairs_hook=_json_object,
                parse_constant=_no_constant,
            )
        except (ValueError, RecursionError) as error:
            raise ModelFileError(f"{path}: the header is not valid JSON: {error}") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ModelFileError(f"{path}: the header is not that of an sklm model file.")
        version = header.get("version")
        if not _is_int(version) or version < 1:
            raise ModelFileError(f"{path}: invalid format version {version!r:.40}.")
        if version > FORMAT_VERSION:
            raise ModelFileError(
                f"{path}: written in format version {version} by a newer sklm; this one reads "
                f"versions up to {FORMAT_VERSION} (upgrade sklm)."
            )
        if set(header) != {"format", "version", "root", "arrays"}:
            raise ModelFileError(f"{path}: the header has unexpected fields.")
        data_start = -(-(_PREAMBLE + length) // _ALIGN) * _ALIGN
        reader = _Reader(path, file, size, data_start, header["arrays"], mmap, verify)
        estimator = reader.node(header["root"], "the model", 0)
        unused = sorted(set(reader.entries) - reader.used)
        if unused:
            reader.fail(f"arrays {', '.join(map(repr, unused[:5]))} belong to no estimator.")
    return estimator


def check_vocabulary(tokens, *, n_classes=None):
    """The :class:`~sklm.base.Vocabulary` of a file's class list, checked.

    For the ``_load_state`` of the models: ``tokens`` must be distinct str,
    start with ``"<unk>"``, ``"</s>"`` and hold no ``"<s>"``; ``n_classes``,
    when given, is the size the arrays imply.
    """
    from .base import BOS, EOS, UNK, Vocabulary

    if not isinstance(tokens, list) or not set(map(type, tokens)) <= {str}:
        raise ValueError("the classes are not a list of str.")
    if tokens[:2] != [UNK, EOS]:
        raise ValueError("the classes do not start with '<unk>', '</s>'.")
    if n_classes is not None and len(tokens) != n_classes:
        raise ValueError(f"{len(tokens)} classes, but the arrays are shaped for {n_classes}.")
    vocabulary = Vocabulary(tokens)
    # The index maps each distinct token once: fewer entries means repeats.
    if BOS in vocabulary.index or len(vocabulary.index) != len(tokens):
        raise ValueError("the classes hold '<s>' or a repeated token.")
    return vocabulary


def check_array(arrays, name, *, dtype, shape=None, ndim=None, finite=False):
    """``arrays[name]`` checked against a dtype and a shape (``None`` entries: any).

    For the ``_load_state`` of the models. ``finite`` refuses NaN and
    infinities; ``finite="no_nan_no_posinf"`` allows ``-inf`` (log zero).
    """
    if name not in arrays:
        raise ValueError(f"the array {name!r} is missing.")
    array = arrays[name]
    if array.dtype != np.dtype(dtype):
        raise ValueError(f"the array {name!r} has dtype {array.dtype}, not {np.dtype(dtype)}.")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"the array {name!r} has {array.ndim} dimensions, not {ndim}.")
    if shape is not None:
        if array.ndim != len(shape) or any(
            s is not None and a != s for a, s in zip(array.shape, shape)
        ):
            raise ValueError(f"the array {name!r} has shape {array.shape}, not {tuple(shape)}.")
    if finite is True and not np.isfinite(array).all():
        raise ValueError(f"the array {name!r} holds NaN or infinite values.")
    if finite == "no_nan_no_posinf" and not np.less(array, np.inf).all():  # NaN or +inf
        raise ValueError(f"the array {name!r} holds NaN or +inf values.")
    return array


__all__ = ["ModelFileError", "atomic_write", "check_path", "check_writable", "load", "save"]
