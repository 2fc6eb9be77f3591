"""Writing ARPA files: whole blocks of lines with numpy, on threads.

The writer formats a block of values as exact decimals with integer
arithmetic (the product of a value and a power of ten formed exactly in two
doubles) and copies each piece of a line (a number, a word) as one item of
bytes, a few blocks at a time on threads, in the layout KenLM writes.
"""

import gzip
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._parallel import resolve_threads
from ..base import BOS
from ..io import atomic_write, check_path
from ._arpa import _POW10, ARPA_ZERO, ESCAPE_NOTE, LN10, _split
from ._tables import word_columns

# N-grams the writer formats together: the arrays of a block stay in a
# core's cache (a few hundred KiB each).
_WRITE_ROWS = 1 << 15


def escape_name(token):
    """The ARPA name of a one-character whitespace token, e.g. ``<U+0020>``."""
    return f"<U+{ord(token):04X}>"


def _arpa_names(tokens):
    """ARPA names of ``tokens``, and the escaped ones; ValueError before any write."""
    names = []
    escaped = []
    for i, token in enumerate(tokens):
        if not isinstance(token, str) or token == "":
            raise ValueError(
                f"class {i} ({token!r}) cannot be written to ARPA: empty or not a str."
            )
        if len(token) == 1 and token.isspace():
            names.append(escape_name(token))
            escaped.append(names[-1])
            continue
        if token.split() != [token] or any(c in token for c in "\t\n\r "):
            raise ValueError(
                f"class {i} ({token!r}) cannot be written to ARPA: it holds whitespace, which "
                "separates words there (only a token that is one whitespace character is "
                "escaped)."
            )
        try:
            token.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(
                f"class {i} ({token!r}) cannot be written to ARPA: not encodable as UTF-8 "
                f"({error.reason})."
            ) from None
        names.append(token)
    taken = {name for name, token in zip(names, tokens) if name == token}
    clash = sorted(taken & set(escaped))
    if clash:
        raise ValueError(
            f"cannot write to ARPA: the token {clash[0]!r} is also the escaped name of a "
            "whitespace token."
        )
    return names, escaped


# 4-digit groups of every number 0..9999, as ASCII.
_DIGITS4 = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), np.uint32)
# Trailing zeros of every 4-digit group (4 for 0000).
_ZEROS4 = np.array([4] + [4 - len(f"{i:04d}".rstrip("0")) for i in range(1, 10_000)])


_POW10_SPLIT = _split(_POW10)


def _scaled(x, p):
    """``x * 10**p`` rounded to an integer, from the exact product (Dekker)."""
    hi = x * _POW10.take(p)
    xh, xl = _split(x)
    sh, sl = _POW10_SPLIT[0].take(p), _POW10_SPLIT[1].take(p)
    err = ((xh * sh - hi) + xh * sl + xl * sh) + xl * sl
    return hi.astype(np.int64) + np.rint(err).astype(np.int64)


def _items(array, width):
    """The ``width`` bytes from each offset of the 1-D uint8 ``array``, as one item each."""
    return np.ndarray((len(array) - width + 1,), np.dtype((np.void, width)), array, strides=(1,))


def _put(target, source):
    """``target[...] = source`` for byte matrices, a row as one item."""
    width = target.shape[1]
    target.view((np.void, width))[...] = source.view((np.void, width))


def _digit_groups(digits):
    """The 4-digit groups of ``digits`` (below 10**17), as an (n, 5) uint32 matrix.

    NumPy divides by a constant quickly, where its ``divmod`` is several
    times slower; past the first division the arithmetic is on uint32.
    """
    high = digits // 10**8
    low = (digits - high * 10**8).astype(np.uint32)
    high = high.astype(np.uint32)
    top = high // 10_000
    groups = np.empty((len(digits), 5), dtype=np.uint32)
    groups[:, 0] = top // 10_000
    groups[:, 1] = top - groups[:, 0] * 10_000
    groups[:, 2] = high - top * 10_000
    groups[:, 3] = low // 10_000
    groups[:, 4] = low - groups[:, 3] * 10_000
    return groups


def _trailing_zeros(groups):
    """Trailing zero digits of each row of :func:`_digit_groups` (not all 0)."""
    zeros = _ZEROS4.take(groups[:, 4])
    pending = np.flatnonzero(groups[:, 4] == 0)
    for g in (3, 2, 1, 0):
        group = groups[pending, g]
        zeros[pending] += _ZEROS4.take(group)
        pending = pending[group == 0]
    return zeros


def format_numbers(values):
    """Exact decimal text of each value, as a byte matrix and the lengths.

    Each value is written with 17 significant digits (enough to read back
    the same double), trailing zeros dropped; -inf is written -99. The
    product ``value * 10**p`` is formed exactly in two doubles (Dekker), so
    the digits are those of correct rounding to within half a unit of the
    17th digit. Values below 1e-5 or from 1e15 in magnitude (zeros, and the
    rare others in ARPA) are written by ``repr``.

    Returns
    -------
    text : ndarray of uint8, shape (n, 27)
        The texts, one per row, in an order of their own: sorted by layout
        (exponent and sign), then by length, so that texts of one length
        come in a few runs of rows.
    length : ndarray of int64, shape (n,)
        The length of the text of each row.
    value : ndarray of int64, shape (n,)
        The index in ``values`` of the value of each row.
    """
    values = np.where(np.isneginf(values), ARPA_ZERO, values)
    n = len(values)
    width = 27  # 26 characters at most, and the separator after them
    text = np.empty((n, width), dtype=np.uint8)
    length = np.empty(n, dtype=np.int64)
    value = np.empty(n, dtype=np.int64)
    magnitude = np.abs(values)
    fast = (magnitude >= 1e-5) & (magnitude < 1e15)
    rows = np.flatnonzero(fast)
    m = len(rows)
    x, negative = (magnitude, values < 0) if m == n else (magnitude[rows], values[rows] < 0)
    e10 = np.floor(np.log10(x)).astype(np.int64)
    digits = _scaled(x, 16 - e10)
    # log10 can be off by one next to a power of ten: 17 digits exactly.
    fix = np.flatnonzero((digits < 10**16) | (digits >= 10**17))
    e10[fix] += np.where(digits[fix] < 10**16, -1, 1)
    digits[fix] = _scaled(x[fix], 16 - e10[fix])
    up = np.flatnonzero(digits >= 10**17)  # rounding up to 10**17
    digits[up] //= 10
    e10[up] += 1
    # The 17 digits (five 4-digit groups hold 20, the first 3 are 0), the
    # last that is not 0, and the length of the text.
    groups = _digit_groups(digits)
    del digits
    last = 16 - _trailing_zeros(groups)
    # [-] d{e+1} . d{max(last-e, 1)} where e >= 0, else [-] 0 . 0{-e-1} d{last+1}
    used = negative + 2 + np.maximum(last, e10 + 1) - np.minimum(e10, 0)
    # Sort the rows by layout (exponent and sign), then length, a radix sort
    # of small integers: each layout is written to a slice, and within it
    # the texts of one length are contiguous.
    key = (((e10 + 6) * 2 + negative) * 32 + used).astype(np.uint16)
    order = np.argsort(key, kind="stable")
    key = key.take(order)
    sig = _DIGITS4.take(groups).view((np.void, 20)).take(order, axis=0).view(np.uint8)[:, 3:]
    del groups
    code = key >> 5
    bounds = np.searchsorted(code, np.arange(int(code[-1]) + 2)) if m else [0]
    for c in range(len(bounds) - 1):
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        if lo == hi:
            continue
        e, sign = c // 2 - 6, c % 2
        block, d = text[lo:hi], sig[lo:hi]
        block[:, 0] = 45  # overwritten where positive
        if e >= 0:
            # [-] d{e+1} . d{16-e}, the fraction cut by the length
            _put(block[:, sign : sign + e + 1], d[:, : e + 1])
            block[:, sign + e + 1] = 46
            _put(block[:, sign + e + 2 : sign + 18], d[:, e + 1 :])
        else:
            # [-] 0 . 0{-e-1} d{17}
            zeros = -e - 1
            block[:, sign : sign + 2 + zeros] = 48
            block[:, sign + 1] = 46
            _put(block[:, sign + 2 + zeros : sign + 19 + zeros], d)
    length[:m] = key & 31
    value[:m] = order if m == n else rows[order]
    if m < n:
        # The others by repr, once per distinct bit pattern (0.0 and -0.0
        # differ), sorted by length too.
        other = np.flatnonzero(~fast)
        _, first, inverse = np.unique(
            values[other].view(np.int64), return_index=True, return_inverse=True
        )
        words = [repr(float(values[i])).encode() for i in other[first].tolist()]
        table = np.zeros((len(words), width), dtype=np.uint8)
        for i, word in enumerate(words):
            table[i, : len(word)] = np.frombuffer(word, np.uint8)
        used = np.array([len(word) for word in words])[inverse]
        order = np.argsort(used, kind="stable")
        text[m:] = table[inverse[order]]
        length[m:] = used[order]
        value[m:] = other[order]
    return text, length, value


def _copy(out, at, source, start, size):
    """Copy ``source[start:start + size]`` to ``out[at:at + size]``, for every piece.

    Pieces of one size are copied together, each as one item of that many
    bytes: a gather and a scatter per distinct size, not per byte.
    """
    order = np.argsort(size.astype(np.min_scalar_type(size.max())), kind="stable")
    size, at, start = size.take(order), at.take(order), start.take(order)
    cuts = (np.flatnonzero(size[1:] != size[:-1]) + 1).tolist()
    for lo, hi in zip([0, *cuts], [*cuts, len(size)]):
        width = int(size[lo])
        _items(out, width)[at[lo:hi]] = _items(source, width)[start[lo:hi]]


def _copy_back(out, end, source, source_end, size, room):
    """Copy ``source[source_end - size:source_end]`` to ``out[end - size:end]``, for every piece.

    Each piece is copied as one item as long as the longest piece, ending
    where the piece ends: the bytes before it come along and land on its
    line before it, which later copies overwrite. ``room`` is the length of
    its line up to its end; pieces with less room than that item are copied
    exactly.
    """
    reach = int(size.max())
    short = room < reach
    if short.any():
        at = end[short] - size[short]
        _copy(out, at, source, source_end[short] - size[short], size[short])
        end, source_end = end[~short], source_end[~short]
    _items(out, reach)[end - reach] = _items(source, reach)[source_end - reach]


class _Vocabulary:
    """The ARPA names of the classes (``<s>`` last) as one byte array.

    Each name is stored three times, followed by a space, then a tab, then
    a newline, so that a word and the separator after it are one piece
    ending at ``end + shift[separator]``. The array starts with as many
    bytes as the longest piece, so that it holds that many before each end.
    """

    def __init__(self, names):
        encoded = [name.encode("utf-8") for name in names] + [BOS.encode()]
        self.length = np.array([len(w) + 1 for w in encoded], dtype=np.int64)
        pad = int(self.length.max())
        self.bytes = np.frombuffer(
            bytes(pad)
            + b"".join(w + b" " for w in encoded)
            + b"".join(w + b"\t" for w in encoded)
            + b"".join(w + b"\n" for w in encoded),
            np.uint8,
        )
        self.end = pad + np.cumsum(self.length)
        size = int(self.length.sum())
        self.shift = {b" ": 0, b"\t": size, b"\n": 2 * size}


def write_arpa(tables, tokens, path, *, n_threads=None, block_rows=_WRITE_ROWS):
    """Write ``tables`` (classes ``tokens``) to ``path`` as ARPA, log10 values.

    Raises ValueError before anything is written when a token cannot be
    held (see :meth:`sklm.NGramLM.to_arpa`). An order-1 model is written
    with an empty 2-grams section, which KenLM requires. Blocks of
    ``block_rows`` n-grams are formatted on ``n_threads`` threads (``None``:
    the cores available, see :func:`sklm._parallel.available_threads`), a
    few blocks ahead of the one being written; the file does not depend on
    either.
    """
    path = check_path(path)
    names, escaped = _arpa_names(tokens)
    for k in range(tables.order):
        values = [tables.log_prob[k]] + ([tables.log_backoff[k]] if k < tables.order - 1 else [])
        for array in values:
            if np.isnan(array).any() or np.isposinf(array).any():
                raise ValueError("cannot write to ARPA: the model holds NaN or +inf values.")
    vocabulary = _Vocabulary(names)
    n_classes, order = tables.n_classes, tables.order
    sizes = tables.sizes().tolist()
    written_order = max(order, 2)
    header = []
    if escaped:
        header.append(f"{ESCAPE_NOTE} {' '.join(escaped)}\n")
    header.append("\\data\\\n")
    sizes_written = sizes + [0] * (written_order - order)
    header += [f"ngram {k}={size}\n" for k, size in enumerate(sizes_written, 1)]

    def parts():
        yield "".join(header).encode()
        for k in range(1, written_order + 1):
            yield f"\n\\{k}-grams:\n".encode()
            for lo in range(0, sizes_written[k - 1], block_rows):
                yield k, lo
        yield b"\n\\end\\\n"

    def text(part):
        if isinstance(part, bytes):
            return part
        k, lo = part
        rows = np.arange(lo, min(sizes[k - 1], lo + block_rows))
        if k == 1:
            # <unk>, <s>, </s>, then the words (KenLM's layout).
            rows = np.where(rows == 0, 0, np.where(rows == 1, n_classes, rows - 1))
        return _lines(tables, k, rows, written_order, vocabulary)

    n_blocks = sum(-(-size // block_rows) for size in sizes)
    n_threads = min(resolve_threads(n_threads), max(n_blocks, 1))
    with atomic_write(path, "wb") as raw:
        out = raw
        if path.name.endswith(".gz"):
            out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6)
        for data in _in_order(text, parts(), n_threads):
            out.write(data)
        if out is not raw:
            out.close()


def _in_order(function, items, n_threads):
    """``map(function, items)`` on ``n_threads`` threads, at most that many items ahead.

    NumPy releases the GIL inside its array operations, so the blocks of a
    file are formatted side by side while the previous one is written; the
    bound keeps the memory to a few blocks.
    """
    if n_threads == 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > n_threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _lines(tables, k, rows, written_order, vocabulary):
    """The ARPA lines of the ``k``-grams at ``rows``, as a uint8 array."""
    n = len(rows)
    with_backoff = k < written_order
    numbers = [tables.log_prob[k - 1][rows] / LN10]
    if with_backoff:
        numbers.append(tables.log_backoff[k - 1][rows] / LN10 if k < tables.order else np.zeros(n))
    text, length, value = format_numbers(np.concatenate(numbers))
    length += 1  # the separator after each number
    number_size = np.empty_like(length)
    number_size[value] = length
    ids = word_columns(tables, k, rows)
    # The pieces of each line: the probability, the k words (each with the
    # separator after it) and the backoff; where each ends.
    size = np.empty((n, k + 1 + with_backoff), dtype=np.int64)
    size[:, 0] = number_size[:n]
    size[:, 1 : k + 1] = vocabulary.length.take(ids)
    if with_backoff:
        size[:, -1] = number_size[n:]
    end = np.cumsum(size.ravel()).reshape(size.shape)
    out = np.empty(int(end[-1, -1]), dtype=np.uint8)
    # The words, last first: the bytes that come along with each land on
    # the words and the probability before it, written after it.
    line_start = end[:, 0] - size[:, 0]
    for j in range(k, 0, -1):
        source_end = vocabulary.end.take(ids[:, j - 1])
        if j == k:
            source_end += vocabulary.shift[b"\t" if with_backoff else b"\n"]
        _copy_back(out, end[:, j], vocabulary.bytes, source_end, size[:, j], end[:, j] - line_start)
    # The numbers exactly, a run of rows of text of one length at a time,
    # with a tab after the probability and a newline after the backoff.
    number_end = np.concatenate([end[:, 0], end[:, -1]]) if with_backoff else end[:, 0]
    text_end = number_end.take(value)
    separator = np.where(value < n, 9, 10)
    cuts = (np.flatnonzero(length[1:] != length[:-1]) + 1).tolist()
    for lo, hi in zip([0, *cuts], [*cuts, len(length)]):
        width = int(length[lo])
        text[lo:hi, width - 1] = separator[lo:hi]
        texts = text[lo:hi, :width].view((np.void, width))[:, 0]
        _items(out, width)[text_end[lo:hi] - width] = texts
    return out
