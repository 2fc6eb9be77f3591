"""ARPA back-off language model files: the format's definitions and the reader.

An ARPA file lists, per order, every stored n-gram with its log10
probability and, below the highest order, its log10 backoff weight. KenLM,
SRILM and sklm all read and write it; ``.gz`` files are compressed. The
writer is :mod:`sklm.ngram._arpa_write`.

The reader works on whole blocks of lines with numpy, never on one n-gram
at a time in Python. It splits a block's fields at its separators, converts
plain decimals 8 digits at a time into correctly rounded doubles (the others
through a strict, exact slow path), and matches the words of a k-gram to the
stored unigrams and its context to the stored (k-1)-grams by 64-bit hashes
of their words (keyed at random for every read), so that it holds only the
tables it builds and one block of text.
"""

import gzip
import os
import re
import stat
import warnings
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._hashing import HashIndex
from .._parallel import available_threads
from ..base import BOS, EOS, UNK
from ..io import check_path
from ._tables import BackoffTables, word_columns

LN10 = float(np.log(10.0))
# ARPA writes a probability or weight of zero as -99 (log10), as SRILM does.
ARPA_ZERO = -99.0
# KenLM's query gives <unk> this log10 probability when a file lacks it.
MISSING_UNK_LOG10 = -100.0

#: Longest line the reader accepts, in bytes (the newline excluded).
MAX_LINE_BYTES = 1 << 20
#: Highest order the reader accepts.
MAX_ORDER = 100
#: Lines the reader skips before ``\data\`` at most.
MAX_PREAMBLE_LINES = 10_000
#: Blank lines the reader accepts between two sections at most.
MAX_BLANK_LINES = 10_000
#: Longest number the reader accepts, in characters.
MAX_NUMBER_CHARS = 64
# Deflate cannot expand data more than 1032 times: a bound on what a gzip
# file can hold, against which its header's counts are checked.
_GZIP_MAX_RATIO = 1032
_BLOCK_BYTES = 2 << 20

#: First words of the preamble line that lists the escaped tokens.
ESCAPE_NOTE = "# sklm escaped tokens:"
_ESCAPE_NOTE = re.compile(rb"^# sklm escaped tokens:((?: <U\+[0-9A-F]{4,6}>)+)\s*$")


class ARPAFormatError(ValueError):
    """An ARPA file that cannot be read; the message names the file and line.

    Attributes
    ----------
    path : str
        The file.
    line : int or None
        The 1-based line of the problem, where there is one.
    """

    def __init__(self, path, line, message):
        self.path = str(path)
        self.line = line
        where = f"ARPA file {self.path!r}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {message}")


# Exact arithmetic in doubles, for the reader's and the writer's decimals.
_POW10 = 10.0 ** np.arange(23)
_SPLIT = 134217729.0  # 2**27 + 1, Dekker's splitter


def _split(a):
    """``a`` as ``hi + lo``, each with half the mantissa (Dekker's split)."""
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


# reading ------------------------------------------------------------------------


class _Lines:
    """A binary stream read as lines, a bounded block at a time."""

    def __init__(self, stream, path):
        self.stream = stream
        self.path = path
        self.buf = b""
        self.pos = 0
        self.line = 0  # number of the last line handed out
        self.eof = False

    def _more(self):
        data = self.stream.read(_BLOCK_BYTES)
        self.buf = self.buf[self.pos :] + data
        self.pos = 0
        if not data:
            self.eof = True

    def _too_long(self):
        return ARPAFormatError(
            self.path, self.line + 1, f"the line is longer than {MAX_LINE_BYTES} bytes"
        )

    def readline(self):
        """The next line without its end, or None at the end of the file."""
        while True:
            end = self.buf.find(b"\n", self.pos)
            if end >= 0:
                if end - self.pos > MAX_LINE_BYTES:
                    raise self._too_long()
                line = self.buf[self.pos : end]
                self.pos = end + 1
                self.line += 1
                return line.rstrip(b"\r")
            if len(self.buf) - self.pos > MAX_LINE_BYTES:
                raise self._too_long()
            if self.eof:
                if self.pos == len(self.buf):
                    return None
                line = self.buf[self.pos :]
                self.pos = len(self.buf)
                self.line += 1
                return line.rstrip(b"\r")
            self._more()

    def block(self, max_lines):
        """At most ``max_lines`` (>= 1) whole lines, each ending with a newline.

        Returns ``(bytes, n_lines, number of the first line)``; ``(b"", 0, ...)``
        at the end of the file.
        """
        while not self.eof and (
            len(self.buf) - self.pos < _BLOCK_BYTES // 2 or self.buf.find(b"\n", self.pos) < 0
        ):
            if self.buf.find(b"\n", self.pos) < 0 and len(self.buf) - self.pos > MAX_LINE_BYTES:
                raise self._too_long()
            self._more()
        first = self.line + 1
        end = self.buf.rfind(b"\n", self.pos) + 1
        if end == 0:
            if self.pos == len(self.buf):
                return b"", 0, first
            if len(self.buf) - self.pos > MAX_LINE_BYTES:
                raise self._too_long()
            # The file's last line, without a newline.
            text = self.buf[self.pos :] + b"\n"
            self.pos = len(self.buf)
            self.line += 1
            return text, 1, first
        n_lines = self.buf.count(b"\n", self.pos, end)
        if n_lines > max_lines:
            ends = np.flatnonzero(np.frombuffer(self.buf, np.uint8, end - self.pos, self.pos) == 10)
            end = self.pos + int(ends[max_lines - 1]) + 1
            n_lines = max_lines
        # (The parser checks the length of these lines.)
        text = self.buf[self.pos : end]
        self.pos = end
        self.line += n_lines
        return text, n_lines, first


_SEPARATOR = np.zeros(256, dtype=bool)
_SEPARATOR[[9, 10, 13, 32]] = True  # KenLM's ARPA spaces: tab, newline, return, space

# Bytes a decimal number may hold (0 pads the fields to one width).
_NUMBER_BYTE = np.zeros(256, dtype=bool)
_NUMBER_BYTE[list(b"0123456789.eE-+\0")] = True


_U = np.uint64
_ZEROS = _U(0x3030303030303030)
_HIGH_NIBBLES = _U(0xF0F0F0F0F0F0F0F0)
_SIXES = _U(0x0606060606060606)


# Per count of digits in a chunk (0 to 8): the shift that right-aligns them,
# the "0"s that fill the bytes in front, and 10**count.
_PAD_SHIFT = np.array([0] + [8 * (8 - c) for c in range(1, 9)], dtype=np.uint64)
_PAD_ZEROS = np.array([0x3030303030303030 >> (8 * c) for c in range(9)], dtype=np.uint64)
_POW10_U64 = np.array([10**c for c in range(9)], dtype=np.uint64)


def _eight_digits(x):
    """The number written by the 8 ASCII digits of each uint64 (first digit lowest)."""
    x = (x & _U(0x0F0F0F0F0F0F0F0F)) * _U(2561) >> _U(8)
    x = (x & _U(0x00FF00FF00FF00FF)) * _U(6553601) >> _U(16)
    return (x & _U(0x0000FFFF0000FFFF)) * _U(42949672960001) >> _U(32)


def _all_digits(x):
    """Whether every byte of each uint64 is an ASCII digit."""
    return ((x & _HIGH_NIBBLES) == _ZEROS) & (((x + _SIXES) & _HIGH_NIBBLES) == _ZEROS)


def _fast_decimals(windows, start, length):
    """Values of the plain decimals ``-?D{1,2}.D*`` and ``-?D{1,8}``.

    At most 24 digits, of which at most 18 after the leading zeros.

    Returns the values and a mask of the fields read; the others (exponents,
    longer numbers, anything malformed, and the rare values whose correct
    rounding the check below cannot confirm) are left to the slow path.
    The digits are converted 8 at a time (SWAR), and the value is the
    correctly rounded ``M / 10**f``: one division when ``M < 2**53``
    (exact operands), else the quotient corrected by its exact residual
    (Dekker's product) and accepted only when that residual shows it is
    the nearest double.
    """
    negative = (windows[start] & _U(0xFF)) == _U(45)
    first = start + negative
    c0 = windows[first]
    c1 = windows[first + 8]
    c2 = windows[first + 16]
    # The integer part: 1 or 2 digits before a ".", or the whole field.
    byte1 = (c0 >> _U(8)) & _U(0xFF)
    byte2 = (c0 >> _U(16)) & _U(0xFF)
    body = length - negative
    before = np.where(byte1 == 46, 1, np.where(byte2 == 46, 2, body))
    dotted = before < body
    digits = np.where(dotted, body - 1, body)
    ok = (before >= 1) & (before <= 8) & (digits <= 24)
    # Drop the "." (a byte at position `before`): bytes above it move down one.
    low = _MASKS[np.minimum(before, 8)]
    d0 = np.where(dotted, (c0 & low) | ((c0 >> _U(8)) & ~low) | (c1 << _U(56)), c0)
    d1 = np.where(dotted, (c1 >> _U(8)) | (c2 << _U(56)), c1)
    d2 = np.where(dotted, c2 >> _U(8), c2)
    value = np.zeros(len(start), dtype=np.uint64)
    for k, chunk in enumerate((d0, d1, d2)):
        count = np.clip(digits - 8 * k, 0, 8)
        # Right-align the digits of a partial chunk, "0"s in front.
        chunk &= _MASKS[count]
        chunk <<= _PAD_SHIFT[count]
        chunk |= _PAD_ZEROS[count]
        ok &= _all_digits(chunk)
        value *= _POW10_U64[count]
        value += _eight_digits(chunk)
    # At most 18 digits after the leading zeros (of the first 8), so that
    # the integer fits.
    zeros = d0 ^ _ZEROS
    lowest = (zeros & (~zeros + _U(1))).astype(np.float64)
    leading = np.where(zeros == 0, 8, (np.frexp(lowest)[1] - 1) // 8)
    ok &= digits - np.minimum(leading, before + 8) <= 18
    fraction = np.where(dotted, digits - before, 0)
    rows = np.flatnonzero(ok)
    m = value[rows]
    power = _POW10[fraction[rows]]
    q = m.astype(np.float64) / power
    big = np.flatnonzero(m >= _U(2**53))
    if len(big):
        mb = m[big]
        mh = mb.astype(np.float64)
        ml = (mb.astype(np.int64) - mh.astype(np.int64)).astype(np.float64)
        p = power[big]
        r = q[big]
        ph, pl = _two_product(r, p)
        r = r + (((mh - ph) - pl) + ml) / p
        # Confirm: the residual of r is under half its gap to either neighbour.
        ph, pl = _two_product(r, p)
        residual = np.abs(((mh - ph) - pl) + ml)
        gap = np.minimum(np.nextafter(r, np.inf) - r, r - np.nextafter(r, 0))
        sure = residual < 0.5 * gap * p * (1 - 2.0**-20)
        q[big] = r
        ok[rows[big[~sure]]] = False
    values = np.zeros(len(start))
    values[rows] = np.where(negative[rows], -q, q)
    return values, ok


def _two_product(a, b):
    """``a * b`` as an exact sum ``hi + lo`` (Dekker, no fused multiply-add)."""
    hi = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return hi, ((ah * bh - hi) + ah * bl + al * bh) + al * bl


def _numbers(windows, start, end):
    """Parse the fields ``[start, end)`` as decimals: ``(index of the first bad one, values)``.

    ``windows`` holds the 8 bytes from each position of the text (see
    :meth:`_Hasher.windows`). Plain decimals are converted by
    :func:`_fast_decimals`; the others must follow the grammar
    ``-?(D+(.D*)?|.D+)([eE][-+]?D+)?``: the fields may hold only those bytes,
    a ``+`` only after the ``e``, and then Python's own grammar of floats
    (which converts them) is this one. Overflow (``1e309``) is refused too.
    """
    n = len(start)
    if n == 0:
        return None, np.zeros(0)
    length = end - start
    too_long = np.flatnonzero(length > MAX_NUMBER_CHARS)
    if len(too_long):
        return int(too_long[0]), None
    values, done = _fast_decimals(windows, start, length)
    rest = np.flatnonzero(~done)
    if len(rest) == 0:
        return None, values
    bad, slow = _slow_numbers(windows, start[rest], length[rest])
    if bad is not None:
        return int(rest[bad]), None
    values[rest] = slow
    return None, values


def _slow_numbers(windows, start, length):
    n_chunks = (int(length.max()) + 7) // 8
    width = 8 * n_chunks
    chunks = windows[start[:, None] + np.arange(0, width, 8)]
    chunks &= _MASKS[np.clip(length[:, None] - np.arange(0, width, 8), 0, 8)]
    chars = chunks.view(np.uint8)
    bad = ~_NUMBER_BYTE[chars].all(axis=1)
    plus = chars == 43
    if plus.any():
        bad |= plus[:, 0]
        bad |= (plus[:, 1:] & (chars[:, :-1] != 101) & (chars[:, :-1] != 69)).any(axis=1)
    if bad.any():
        return int(np.argmax(bad)), None
    try:
        values = chars.view(f"S{width}").ravel().astype(np.float64)
    except ValueError:
        for i, text in enumerate(chars.view(f"S{width}").ravel().tolist()):
            try:
                float(text)
            except ValueError:
                return i, None
        raise
    infinite = np.flatnonzero(~np.isfinite(values))
    if len(infinite):
        return int(infinite[0]), None
    return None, values


_MASKS = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


class _Hasher:
    """64-bit hashes of words and of word sequences, keyed at random per read.

    A word of at most 8 bytes is packed into an integer, then mixed by a
    bijection, so that two such words never share a hash; a longer word
    mixes in its 8-byte chunks one by one. A sequence of words is the
    polynomial ``((h1 K + h2) K + h3) ...`` in a random odd ``K``.
    """

    def __init__(self):
        rng = np.random.default_rng(int.from_bytes(os.urandom(8), "little"))
        odd = lambda: np.uint64(int(rng.integers(1 << 62)) * 2 + 1)  # noqa: E731
        self.mix, self.chunk, self.step, self.length = odd(), odd(), odd(), odd()

    @staticmethod
    def windows(text):
        """The 8 bytes from each position of ``text`` as one uint64 (little-endian)."""
        # Zeros past the end, so that a number's last chunk can be read whole.
        padded = text + bytes(MAX_NUMBER_CHARS + 8)
        shape = (len(text) + MAX_NUMBER_CHARS + 1,)
        return np.ndarray(shape, dtype="<u8", buffer=padded, strides=(1,))

    def words(self, windows, start, end):
        """Hash of each word ``text[start:end]``."""
        length = end - start
        h = windows[start]
        h &= _MASKS[np.minimum(length, 8)]
        long = np.flatnonzero(length > 8)
        offset = 8
        while len(long):
            chunk = windows[start[long] + offset]
            chunk &= _MASKS[np.minimum(length[long] - offset, 8)]
            h[long] = h[long] * self.chunk + chunk
            offset += 8
            long = long[length[long] > offset]
        h *= self.mix
        h ^= length.astype(np.uint64) * self.length
        h ^= h >> np.uint64(29)
        return h

    def extend(self, sequence, word):
        """The hash of a sequence followed by one more word."""
        sequence = sequence * self.step
        sequence += word
        return sequence


def _excerpt(a, start, end):
    text = bytes(a[start:end]).decode("utf-8", "replace")
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _fields(a):
    """Where the fields of the lines of ``a`` (each ending with a newline) start and end.

    Returns the starts, the ends (exclusive), the number of fields up to
    the end of each line and the positions of the newlines.
    """
    # Bytes up to 32 are the separators and the control characters; one
    # comparison finds them (a table lookup would first widen every byte to
    # an index), and the rare control character inside a word is told
    # apart below.
    separators = np.flatnonzero(a <= 32)
    found = a[separators]
    if not ((found == 32) | (found == 9) | (found == 10) | (found == 13)).all():
        separators = separators[_SEPARATOR[found]]
    if a[0] not in (9, 10, 13, 32) and (np.diff(separators) > 1).all():
        # One separator between two fields, as writers put them: each field
        # ends at a separator and the next starts after it.
        starts = np.empty(len(separators), dtype=np.intp)
        starts[0] = 0
        starts[1:] = separators[:-1] + 1
        newline = np.flatnonzero(a[separators] == 10)
        return starts, separators, newline + 1, separators[newline]
    nonsep = (~((a == 32) | (a == 9) | (a == 10) | (a == 13))).view(np.int8)
    edges = np.diff(nonsep, prepend=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    del nonsep, edges
    newlines = np.flatnonzero(a == 10)
    return starts, ends, np.searchsorted(starts, newlines), newlines


class _Section:
    """The parsed entries of one ``\\k-grams:`` section, in file order."""

    def __init__(self, k, n, first_line):
        self.k, self.n, self.first_line = k, n, first_line
        self.prob = np.empty(n)
        self.backoff = np.zeros(n)
        self.hash = np.empty(n, dtype=np.uint64)
        # Rows of the order below and of the unigrams: int32 halves their
        # memory (no order holds 2**31 n-grams: the header bound says so).
        self.context = np.empty(n, dtype=np.int32) if k > 1 else None
        self.word = np.empty(n, dtype=np.int32) if k > 1 else None
        self.blank = None  # filled-in contexts, appended after the file's rows
        self.missing = []  # (rows, their words) of the k-grams whose context is absent


class _Reader:
    def __init__(self, path, encoding, threads=1):
        self.path = str(path)
        self.encoding = encoding
        self.hasher = _Hasher()
        self.threads = threads

    def error(self, line, message):
        return ARPAFormatError(self.path, line, message)

    # header ---------------------------------------------------------------------

    def header(self, lines, limit):
        escapes = {}
        for _ in range(MAX_PREAMBLE_LINES + 1):
            line = lines.readline()
            if line is None:
                raise self.error(None, "no \\data\\ header found")
            if line.strip() == b"\\data\\":
                break
            match = _ESCAPE_NOTE.match(line)
            if match:
                for name in match.group(1).split():
                    code = int(name[3:-1], 16)
                    if code > 0x10FFFF or not chr(code).isspace():
                        raise self.error(lines.line, f"{name!r} is no whitespace character")
                    escapes[name.decode()] = chr(code)
        else:
            raise self.error(
                lines.line, f"no \\data\\ header in the first {MAX_PREAMBLE_LINES} lines"
            )
        counts = []
        while True:
            line = lines.readline()
            if line is None:
                raise self.error(lines.line, "the file ends inside the \\data\\ header")
            text = line.strip()
            if not text or text in (b"\\1-grams:", b"\\1-grams"):
                if counts:
                    break
                if text:
                    raise self.error(lines.line, "the \\data\\ header lists no orders")
                continue
            match = re.fullmatch(rb"ngram[ \t]+([0-9]{1,4})[ \t]*=[ \t]*([0-9]{1,19})", text)
            if match is None:
                raise self.error(lines.line, f"expected 'ngram k=count', got {text[:80]!r}")
            k, count = int(match.group(1)), int(match.group(2))
            if k != len(counts) + 1:
                raise self.error(
                    lines.line, f"expected 'ngram {len(counts) + 1}=...', got order {k}"
                )
            if k > MAX_ORDER:
                raise self.error(lines.line, f"more than {MAX_ORDER} orders")
            if count >= 2**31:
                raise self.error(lines.line, f"more than {2**31 - 1} {k}-grams")
            counts.append(count)
            if k == 1:
                first_count_line = lines.line
        if counts[0] == 0:
            raise self.error(first_count_line, "the header announces no unigrams")
        marker_read = bool(text)
        # The shortest k-gram line, "0 w ... w\n", takes 2k + 2 bytes.
        needed = sum(count * (2 * k + 2) for k, count in enumerate(counts, 1))
        if limit is not None and needed > limit:
            raise self.error(
                lines.line - 1,
                f"the header announces {sum(counts)} n-grams, more than a file of this size "
                "can hold (truncated file or corrupt header?)",
            )
        return counts, escapes, marker_read

    def section_start(self, lines, k):
        """Skip blank lines up to the marker of section ``k`` (or ``\\end\\`` when 0)."""
        want = (b"\\end\\",) if k == 0 else (f"\\{k}-grams:".encode(), f"\\{k}-grams".encode())
        for _ in range(MAX_BLANK_LINES + 1):
            line = lines.readline()
            if line is None:
                found = "the end of the file"
                break
            text = line.strip()
            if text:
                if text in want:
                    return
                found = _excerpt(np.frombuffer(text, np.uint8), 0, len(text))
                break
        else:
            found = f"more than {MAX_BLANK_LINES} blank lines"
        raise self.error(
            lines.line, f"expected {want[0].decode()}, found {found} (truncated file?)"
        )

    # sections -------------------------------------------------------------------

    def section(self, lines, k, n, order, words, previous):
        section = _Section(k, n, lines.line + 1)
        done = 0
        # Above the unigrams a block's rows depend on no other block of its
        # section, so the blocks are parsed by threads, the next one read
        # meanwhile (NumPy releases the GIL in its array passes). They are
        # collected in file order, so that the first error in the file is
        # the one raised.
        # (The unigrams keep to one thread: their words are listed in file order.)
        threads = self.threads if k > 1 else 1
        pending = deque()

        def collect():
            while pending:
                pending.popleft().result()

        with ThreadPoolExecutor(threads) as pool:
            try:
                while done < n:
                    try:
                        text, n_lines, first = lines.block(n - done)
                    except Exception:
                        collect()  # an error in an earlier line comes first
                        raise
                    if n_lines == 0:
                        collect()
                        raise self.error(
                            lines.line,
                            f"the file ends after {done} of the {n} {k}-grams the header "
                            "announces (truncated file?)",
                        )
                    if len(pending) == threads:
                        pending.popleft().result()
                    args = (section, text, done, first, order, words, previous)
                    pending.append(pool.submit(self.parse_block, *args))
                    done += n_lines
                collect()
            finally:
                for future in pending:
                    future.cancel()
        return section

    def parse_block(self, section, text, done, first, order, words, previous):
        k = section.k
        a = np.frombuffer(text, np.uint8)
        starts, ends, before, newlines = _fields(a)
        too_long = np.flatnonzero(np.diff(newlines, prepend=-1) - 1 > MAX_LINE_BYTES)
        if len(too_long):
            raise self.error(
                first + int(too_long[0]), f"the line is longer than {MAX_LINE_BYTES} bytes"
            )
        n_fields = np.diff(before, prepend=0)
        bad = np.flatnonzero((n_fields != k + 1) & (n_fields != k + 2))
        if len(bad):
            i = int(bad[0])
            if n_fields[i] == 0:
                raise self.error(
                    first + i,
                    f"blank line after {done + i} of the {section.n} {k}-grams that the "
                    "header announces",
                )
            line_start = int(newlines[i - 1]) + 1 if i else 0
            raise self.error(
                first + i,
                f"expected a {k}-gram line (a log10 probability, {k} words, an optional "
                f"backoff), got {_excerpt(a, line_start, int(newlines[i]))}",
            )
        field = before - n_fields  # the probability's field
        line_of = first + np.arange(len(field))

        windows = self.hasher.windows(text)
        bad, prob = _numbers(windows, starts[field], ends[field])
        if bad is not None:
            raise self.error(
                line_of[bad],
                f"the log10 probability {_excerpt(a, starts[field[bad]], ends[field[bad]])} "
                "is not a finite decimal number",
            )
        positive = np.flatnonzero(prob > 0)
        if len(positive):
            i = int(positive[0])
            raise self.error(line_of[i], f"the log10 probability {float(prob[i])!r} is above 0")
        rows = slice(done, done + len(field))
        section.prob[rows] = prob
        has = np.flatnonzero(n_fields == k + 2)
        if len(has):
            b_field = field[has] + k + 1
            bad, backoff = _numbers(windows, starts[b_field], ends[b_field])
            if bad is not None:
                raise self.error(
                    line_of[has[bad]],
                    f"the log10 backoff {_excerpt(a, starts[b_field[bad]], ends[b_field[bad]])} "
                    "is not a finite decimal number",
                )
            section.backoff[done + has] = backoff
        hasher = self.hasher
        word_hash = [None] + [
            hasher.words(windows, starts[field + j], ends[field + j]) for j in range(1, k + 1)
        ]
        if k == 1:
            section.hash[rows] = word_hash[1]
            spans = map(slice, starts[field + 1].tolist(), ends[field + 1].tolist())
            words.extend(map(text.__getitem__, spans))
            return
        word = words.lookup(word_hash[k])
        unknown = np.flatnonzero(word < 0)
        if len(unknown):
            i = int(unknown[0])
            self.unknown_word(line_of[i], a, starts[field[i] + k], ends[field[i] + k])
        section.word[rows] = word
        sequence = word_hash[1]
        for j in range(2, k):
            sequence = hasher.extend(sequence, word_hash[j])
        context = previous.lookup(sequence)
        section.context[rows] = context
        if k < order:
            section.hash[rows] = hasher.extend(sequence, word_hash[k])
        missing = np.flatnonzero(context < 0)
        if len(missing):
            columns = np.stack([words.lookup(word_hash[j][missing]) for j in range(1, k + 1)], 1)
            unknown = np.flatnonzero(columns < 0)
            if len(unknown):
                i, j = divmod(int(unknown[0]), k)
                f = field[missing[i]] + 1 + j
                self.unknown_word(line_of[missing[i]], a, starts[f], ends[f])
            # One append (atomic), where blocks are parsed by threads.
            section.missing.append((done + missing, columns))

    def unknown_word(self, line, a, start, end):
        raw = bytes(a[start:end])
        try:
            word = raw.decode(self.encoding)
        except UnicodeDecodeError as error:
            raise self.error(
                line, f"{raw[:80]!r} cannot be decoded as {self.encoding} ({error.reason})"
            ) from None
        raise self.error(line, f"the word {word[:80]!r} is not a unigram")


class _HashLookup:
    """Row of each hash in a section's hashes (-1 when absent).

    In NumPy passes: the reader is bound by its parsing, and the compiled
    loops would only add Numba to its memory (reading the 1.48 GB file of the
    benchmarks: 11.5 s to 12.1 s and a 1.10 GB peak this way, 11.7 s to 13.3 s
    and 1.19 GB to 1.25 GB with the compiled lookups).
    """

    def __init__(self, hashes):
        self.index = HashIndex(hashes.view(np.int64))

    def lookup(self, hashes):
        return self.index.lookup(hashes.view(np.int64), compiled=False)


def _open(path):
    """The decompressed binary stream of ``path`` and a bound on its size."""
    raw = open(path, "rb")
    try:
        info = os.fstat(raw.fileno())
        compressed = raw.peek(2)[:2] == b"\x1f\x8b"
    except BaseException:
        raw.close()
        raise
    limit = info.st_size if stat.S_ISREG(info.st_mode) else None
    if compressed:
        if limit is not None:
            limit *= _GZIP_MAX_RATIO
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw, limit
    return raw, raw, limit


def _check_encoding(encoding):
    probe = "\t\n\r 0123456789.-+eE\\<>/:=abcdefghijklmnopqrstuvwxyz#"
    try:
        ok = probe.encode(encoding) == probe.encode("ascii")
    except (LookupError, UnicodeError):
        ok = False
    if not ok:
        raise ValueError(
            f"encoding={encoding!r}: not an ASCII-compatible text encoding known to Python."
        )


def read_arpa(path, encoding="utf-8"):
    """Read an ARPA file (plain or gzip) into backoff tables.

    Parameters
    ----------
    path : str or path-like
    encoding : str, default="utf-8"
        The encoding of the file's words (ASCII-compatible).

    Returns
    -------
    tokens : list of str
        The classes: ``<unk>``, ``</s>``, then the file's other unigrams in
        file order (``<s>`` is context only).
    tables : BackoffTables
        Natural-log tables that score as KenLM's ``query`` does.

    Raises
    ------
    ARPAFormatError
        If the file is malformed, truncated or too large for its size; the
        message names the file and the line.
    """
    path = check_path(path)
    _check_encoding(encoding)
    reader = _Reader(path, encoding, min(available_threads(), 2))
    stream, raw, limit = _open(path)
    with raw, stream:
        lines = _Lines(stream, str(path))
        try:
            return _read(reader, lines, limit)
        except (EOFError, OSError, zlib.error) as error:
            # A corrupt or truncated gzip stream, or a failing disk.
            raise reader.error(lines.line + 1, f"the file cannot be read: {error}") from None


def _read(reader, lines, limit):
    declared, escapes, marker_read = reader.header(lines, limit)
    # Trailing empty orders add nothing (an order-1 model is written with an
    # empty 2-grams section, which KenLM requires).
    order = len(declared)
    while order > 1 and declared[order - 1] == 0:
        order -= 1
    sections = []
    words = []
    previous = None
    for k in range(1, len(declared) + 1):
        if not (k == 1 and marker_read):
            reader.section_start(lines, k)
        if k > order:
            continue
        section = reader.section(lines, k, declared[k - 1], order, words, previous)
        sections.append(section)
        if section.missing:
            _fill_contexts(sections, section)
        if k == 1:
            vocabulary = _vocabulary(reader, section, words, escapes)
            words = previous = _HashLookup(section.hash)
        elif k < order:
            previous = _HashLookup(section.hash)
        section.hash = None
    reader.section_start(lines, 0)
    return _build(reader, sections, vocabulary)


def _find_rows(sections, columns):
    """Row of each n-gram (unigram rows per column) in its order, -1 if absent."""
    rows = columns[:, 0].copy()
    for j in range(2, columns.shape[1] + 1):
        section = sections[j - 1]
        n_words = sections[0].n
        index = HashIndex(section.context.astype(np.int64) * n_words + section.word)
        ok = rows >= 0
        found = np.full(len(rows), -1, dtype=np.int64)
        found[ok] = index.lookup(rows[ok] * n_words + columns[ok, j - 1], compiled=False)
        rows = found
    return rows


def _append(section, context, word):
    """Add blank entries (contexts the file lacks) to a section; their rows."""
    n_new = len(word)
    start = len(section.prob)
    section.prob = np.concatenate([section.prob, np.full(n_new, np.nan)])
    section.backoff = np.concatenate([section.backoff, np.zeros(n_new)])
    section.context = np.concatenate([section.context, context])
    section.word = np.concatenate([section.word, word])
    blank = np.zeros(start + n_new, dtype=bool)
    if section.blank is not None:
        blank[:start] = section.blank
    blank[start:] = True
    section.blank = blank
    return np.arange(start, start + n_new)


def _add_contexts(sections, columns):
    """Rows of the n-grams ``columns`` in their order, adding the absent ones."""
    j = columns.shape[1]
    if j == 1:
        return columns[:, 0].copy()
    unique, inverse = np.unique(columns, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    rows = _find_rows(sections, unique)
    absent = np.flatnonzero(rows < 0)
    if len(absent):
        context = _add_contexts(sections, unique[absent, :-1])
        rows[absent] = _append(sections[j - 1], context, unique[absent, -1])
    return rows[inverse]


def _fill_contexts(sections, section):
    """Give every k-gram whose context the file lacks a blank context (SRILM pruning)."""
    rows = np.concatenate([rows for rows, _ in section.missing])
    columns = np.concatenate([columns for _, columns in section.missing])
    section.context[rows] = _add_contexts(sections, columns[:, :-1])
    section.missing = []


def _vocabulary(reader, unigrams, words_bytes, escapes):
    """The classes, and the class of each unigram row; checks the unigrams."""
    words = []
    for i, raw in enumerate(words_bytes):
        try:
            word = raw.decode(reader.encoding)
        except UnicodeDecodeError as error:
            raise reader.error(
                unigrams.first_line + i,
                f"{raw[:80]!r} cannot be decoded as {reader.encoding} ({error.reason})",
            ) from None
        words.append(escapes.get(word, word))
    index = {}
    for i, word in enumerate(words):
        if index.setdefault(word, i) != i:
            raise reader.error(unigrams.first_line + i, f"the unigram {word!r} appears twice")
    for marker in (BOS, EOS):
        if marker not in index:
            raise reader.error(None, f"the unigrams lack {marker}")
    others = [w for w in words if w not in (UNK, EOS, BOS)]
    tokens = [UNK, EOS, *others]
    ids = {word: i for i, word in enumerate(tokens)}
    ids[BOS] = len(tokens)
    class_of = np.fromiter(map(ids.__getitem__, words), dtype=np.int64, count=len(words))
    return tokens, class_of, UNK in index


def _build(reader, sections, vocabulary):
    tokens, class_of, has_unk = vocabulary
    unigrams = sections[0]
    n_classes = len(tokens)
    base = n_classes + 1
    log_prob = [np.zeros(base)]
    log_backoff = [np.zeros(base)]
    log_prob[0][class_of] = unigrams.prob * LN10
    log_backoff[0][class_of] = unigrams.backoff * LN10
    if not has_unk:
        warnings.warn(
            f"the ARPA file {reader.path!s} has no <unk>; it gets log10 probability "
            f"{MISSING_UNK_LOG10:g}, as in KenLM.",
            UserWarning,
            stacklevel=4,
        )
        log_prob[0][0] = MISSING_UNK_LOG10 * LN10
    keys = [None]
    rank = class_of  # position in the previous order's table, per row
    order = len(sections)
    for k in range(2, order + 1):
        section = sections[k - 1]
        key = rank[section.context]
        key *= base
        key += class_of[section.word]
        section.context = section.word = None
        if len(key) > 1 and not (key[1:] > key[:-1]).all():
            sort = np.argsort(key, kind="stable")
            key = key[sort]
            same = np.flatnonzero(key[1:] == key[:-1])
            if len(same):
                row = int(max(sort[same[0]], sort[same[0] + 1]))
                raise reader.error(section.first_line + row, f"the {k}-gram appears twice")
            rank = np.empty(len(key), dtype=np.int64)
            rank[sort] = np.arange(len(key))
            prob, backoff = section.prob[sort], section.backoff[sort]
            blank = section.blank[sort] if section.blank is not None else None
        else:
            sort = None
            rank = np.arange(len(key))
            prob, backoff, blank = section.prob, section.backoff, section.blank
        section.prob = section.backoff = None
        keys.append(key)
        prob *= LN10
        if k < order:
            backoff *= LN10
        else:
            # Unused: the highest order is no context. Zeros cost no memory
            # until written.
            backoff = np.zeros(len(key))
        if blank is not None:
            hollow = np.flatnonzero(blank)
            # Like KenLM, a missing context scores what backing off gives.
            lower = BackoffTables(n_classes, keys[:-1], log_prob, log_backoff)
            gram = word_columns(
                BackoffTables(n_classes, keys, log_prob + [prob], log_backoff + [backoff]),
                k,
                hollow,
            )
            prob[hollow] = (
                lower.log_prob_after(gram[:, 1 : k - 1], gram[:, k - 1])
                + log_backoff[k - 2][key[hollow] // base]
            )
        log_prob.append(prob)
        log_backoff.append(backoff)
    return tokens, BackoffTables(n_classes, keys, log_prob, log_backoff)
