"""Text files as samples: one per non-empty line."""

import codecs
import gzip
import os
import zlib
from collections.abc import Iterable

from ..io import check_path

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"


def _check_encoding(encoding):
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str; got {type(encoding).__name__} {encoding!r:.60}.")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"encoding {encoding!r} is not a text encoding Python knows.") from None
    if "\n".encode(encoding) != b"\n":
        raise ValueError(
            f"encoding {encoding!r} does not write a line break as the byte 0x0A; "
            "convert the file to UTF-8 first."
        )


def _read_lines(path, encoding, normalize):
    """Yield the samples of one file, lazily, by the rules of :func:`load_lines`."""
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, not a text file.")
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
    except FileNotFoundError:
        raise FileNotFoundError(f"{str(path)!r}: no such file.") from None
    opener = gzip.open if compressed else open
    lineno = 0
    try:
        with opener(path, "rb") as handle:
            for lineno, raw in enumerate(handle, 1):
                line = raw.decode(encoding)
                if lineno == 1 and line.startswith(_BOM):
                    line = line[1:]
                if normalize:
                    line = " ".join(line.split())
                else:
                    line = line.removesuffix("\n").removesuffix("\r")
                    if line.isspace():
                        continue
                if line:
                    yield line
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{str(path)!r}, line {lineno}: not {encoding} text "
            f"({exc.reason} at byte {exc.start} of the line)."
        ) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{str(path)!r}: damaged gzip file after line {lineno} ({exc or type(exc).__name__})."
        ) from None


def load_lines(path, *, encoding="utf-8", normalize=True):
    """Read a text file as a list of samples, one per non-empty line.

    The file may be plain or gzip-compressed (recognised by its first bytes,
    whatever its name). Lines end at ``"\\n"`` only (a ``"\\r\\n"`` ending
    is read as ``"\\n"``), as KenLM and SRILM read them; a line that is
    empty or holds only whitespace is skipped, and a byte-order mark at the
    start of the file is dropped.

    Parameters
    ----------
    path : str or path-like
        The file to read.
    encoding : str, default="utf-8"
        The text encoding of the file; one that writes ``"\\n"`` as the
        byte ``0x0A`` (UTF-8, Latin-1, cp1252 ...: not UTF-16 or UTF-32).
    normalize : bool, default=True
        Whether each line is normalised to ``" ".join(line.split())``
        (runs of whitespace become one space, none at either end), the rule
        of the benchmark protocols. ``False`` keeps each line as it is
        (without its line ending), e.g. for character-level models, where
        spaces are tokens.

    Returns
    -------
    samples : list of str
        One sample per non-empty line, in file order.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If ``path`` is a folder, the file is not text in ``encoding`` (the
        message names the line), a compressed file is damaged, or the file
        has no non-empty line.
    TypeError
        If ``path`` is not a str or path-like.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklm.datasets import load_lines
    >>> path = os.path.join(tempfile.mkdtemp(), "corpus.txt")
    >>> with open(path, "w", encoding="utf-8") as f:
    ...     _ = f.write("the cat  sat\\n\\n  a dog ran \\n")
    >>> load_lines(path)
    ['the cat sat', 'a dog ran']
    >>> load_lines(path, normalize=False)
    ['the cat  sat', '  a dog ran ']
    """
    path = check_path(path)
    _check_encoding(encoding)
    samples = list(_read_lines(path, encoding, normalize))
    if not samples:
        raise ValueError(f"{str(path)!r}: no non-empty line; expected one sample per line.")
    return samples


class TextFiles:
    """Text files read as one corpus, one sample per non-empty line, lazily.

    An iterable of samples that any sklm estimator takes as ``X``: each
    pass over it reads the files again, in order, a line at a time, by the
    rules of :func:`load_lines` (plain or gzip; a file with no non-empty
    line adds no sample). Nothing is read when it is made.

    Under ``joblib.parallel_backend("dask")``, :meth:`NGramLM.fit
    <sklm.NGramLM.fit>` hands the files to the workers, each of which reads
    its own share: the client never reads the corpus. The paths must then
    name the same files on every worker (a shared file system, or copies at
    the same place).

    Parameters
    ----------
    paths : str, path-like, or iterable of str or path-like
        The files, in the order their samples come.
    encoding : str, default="utf-8"
        As in :func:`load_lines`.
    normalize : bool, default=True
        As in :func:`load_lines`.

    Attributes
    ----------
    paths : tuple of pathlib.Path
        The files.
    encoding : str
    normalize : bool

    Examples
    --------
    >>> import os, tempfile
    >>> from sklm import NGramLM
    >>> from sklm.datasets import TextFiles
    >>> folder = tempfile.mkdtemp()
    >>> for name, text in [("a.txt", "the cat sat\\n"), ("b.txt", "the dog sat\\na cat ran\\n")]:
    ...     with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
    ...         _ = f.write(text)
    >>> corpus = TextFiles([os.path.join(folder, "a.txt"), os.path.join(folder, "b.txt")])
    >>> list(corpus)
    ['the cat sat', 'the dog sat', 'a cat ran']
    >>> NGramLM(order=2, smoothing="witten_bell").fit(corpus).ngram_counts_
    array([ 9, 10])
    """

    def __init__(self, paths, *, encoding="utf-8", normalize=True):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        elif isinstance(paths, bytes) or not isinstance(paths, Iterable):
            raise TypeError(
                f"paths must be a path or an iterable of paths; got {type(paths).__name__} "
                f"{paths!r:.60}."
            )
        self.paths = tuple(check_path(path, name="each path") for path in paths)
        if not self.paths:
            raise ValueError("paths is empty; expected at least one file.")
        _check_encoding(encoding)
        if not isinstance(normalize, bool):
            raise TypeError(f"normalize must be a bool; got {type(normalize).__name__}.")
        self.encoding = encoding
        self.normalize = normalize

    def __iter__(self):
        for path in self.paths:
            yield from _read_lines(path, self.encoding, self.normalize)

    def __repr__(self):
        shown = ", ".join(repr(str(path)) for path in self.paths[:3])
        more = f", ... ({len(self.paths)} files)" if len(self.paths) > 3 else ""
        return f"TextFiles([{shown}{more}])"
