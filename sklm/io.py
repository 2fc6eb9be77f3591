"""Files: atomic writes (and, with them, the library's one safe model format).

Every writer of sklm goes through :func:`atomic_write`: the bytes go to a
temporary file in the target's folder, which is flushed, fsynced and renamed
over the target only once everything was written. A failed write (a full
disk, an exception while serialising, an interrupt) leaves the previous file
as it was and no partial file behind.
"""

import contextlib
import os
import tempfile
from pathlib import Path


def check_path(path, *, name="path"):
    """Return ``path`` as a :class:`~pathlib.Path`; only str and path-like are paths."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike; got {type(path).__name__} {path!r:.60}.")
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


__all__ = ["atomic_write", "check_path", "check_writable"]
