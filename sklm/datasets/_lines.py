"""A text file as samples: one per non-empty line."""

import codecs
import gzip
import zlib

from ..io import check_path

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"


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
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, not a text file.")
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
    except FileNotFoundError:
        raise FileNotFoundError(f"{str(path)!r}: no such file.") from None
    opener = gzip.open if compressed else open
    samples = []
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
                    samples.append(line)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{str(path)!r}, line {lineno}: not {encoding} text "
            f"({exc.reason} at byte {exc.start} of the line)."
        ) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{str(path)!r}: damaged gzip file after line {lineno} ({exc or type(exc).__name__})."
        ) from None
    if not samples:
        raise ValueError(f"{str(path)!r}: no non-empty line; expected one sample per line.")
    return samples
