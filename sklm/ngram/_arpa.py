"""Reading and writing ARPA back-off language model files.

An ARPA file lists, per order, every stored n-gram with its log10
probability and, below the highest order, its log10 backoff weight. KenLM,
SRILM and sklm all read and write it; ``.gz`` files are compressed.
"""

import gzip
import re
import warnings
from itertools import chain, repeat

import numpy as np

from ..base import BOS, EOS, UNK
from ._tables import BackoffTables, _lookup

LN10 = float(np.log(10.0))
# ARPA writes a probability or weight of zero as -99 (log10), as SRILM does.
ARPA_ZERO = -99.0
# KenLM's query gives <unk> this log10 probability when a file lacks it.
MISSING_UNK_LOG10 = -100.0

_MARKER = re.compile(r"^[ \t]*\\([^\s\\:]*)\\?:?[ \t]*\r?$", re.MULTILINE)
_NGRAM_LINE = re.compile(r"^\s*ngram\s+(\d+)\s*=\s*(\d+)\s*$")
_SECTION = re.compile(r"^(\d+)-grams$")


def _open_text(path, mode):
    path = str(path)
    if "r" in mode:
        with open(path, "rb") as raw:
            magic = raw.read(2)
        compressed = magic == b"\x1f\x8b"
    else:
        compressed = path.endswith(".gz")
    if compressed:
        return gzip.open(path, mode + "t", encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def _format(values):
    """Shortest exact decimal text of each value (``-inf`` written as -99)."""
    values = np.where(np.isneginf(values), ARPA_ZERO, values)
    return list(map(repr, values.tolist()))


def _ngram_names(tables, tokens):
    """The words of every stored n-gram, order by order, as object arrays."""
    words = np.array([*tokens, BOS], dtype=object)
    names = [words]
    base = tables.base
    for k in range(2, tables.order + 1):
        keys = tables.keys[k - 1]
        names.append(names[-1][keys // base] + " " + words[keys % base])
    return names


def write_arpa(tables, tokens, path):
    """Write ``tables`` (classes ``tokens``) to ``path`` as ARPA, log10 values."""
    names = _ngram_names(tables, tokens)
    n_classes = tables.n_classes
    order = tables.order
    unigram_order = np.concatenate([[0, n_classes], np.arange(1, n_classes)]).astype(np.int64)
    with _open_text(path, "w") as out:
        out.write("\\data\\\n")
        for k, size in enumerate(tables.sizes(), 1):
            out.write(f"ngram {k}={size}\n")
        for k in range(1, order + 1):
            out.write(f"\n\\{k}-grams:\n")
            rows = unigram_order if k == 1 else slice(None)
            prob = _format(tables.log_prob[k - 1][rows] / LN10)
            name = names[k - 1][rows].tolist()
            if k < order:
                backoff = _format(tables.log_backoff[k - 1][rows] / LN10)
                lines = map("{}\t{}\t{}\n".format, prob, name, backoff)
            else:
                lines = map("{}\t{}\n".format, prob, name)
            out.writelines(lines)
        out.write("\n\\end\\\n")


def _error(path, line, message):
    return ValueError(f"malformed ARPA file {path!s}, line {line}: {message}")


def _parse_section(path, text, start, end, first_line, k, expected):
    """Parse the body of ``\\k-grams:``; return log10 probs, backoffs, word columns."""
    lines = text[start:end].split("\n")
    stripped = list(map(str.strip, lines))
    nonempty = np.flatnonzero(np.fromiter(map(bool, stripped), dtype=bool, count=len(lines)))
    if len(nonempty) != expected:
        raise _error(
            path,
            first_line,
            f"section \\{k}-grams: holds {len(nonempty)} entries but the \\data\\ "
            f"header announces {expected} (truncated file?)",
        )
    fields = list(map(str.split, map(stripped.__getitem__, nonempty.tolist())))
    n_fields = np.fromiter(map(len, fields), dtype=np.int64, count=len(fields))
    bad = np.flatnonzero((n_fields != k + 1) & (n_fields != k + 2))
    if len(bad):
        i = bad[0]
        raise _error(
            path,
            first_line + 1 + nonempty[i],
            f"a {k}-gram line needs a probability, {k} words and an optional "
            f"backoff; got {stripped[nonempty[i]]!r}",
        )
    flat = np.array(list(chain.from_iterable(fields)), dtype=object)
    first = np.cumsum(n_fields) - n_fields

    def numbers(where, rows):
        try:
            return flat[where].astype(np.float64)
        except ValueError:
            for i, value in zip(rows, flat[where]):
                try:
                    float(value)
                except ValueError:
                    raise _error(
                        path, first_line + 1 + nonempty[i], f"{value!r} is not a number"
                    ) from None
            raise

    prob = numbers(first, np.arange(len(first)))
    backoff = np.zeros(len(first))
    has_backoff = np.flatnonzero(n_fields == k + 2)
    backoff[has_backoff] = numbers(first[has_backoff] + k + 1, has_backoff)
    words = [flat[first + 1 + j] for j in range(k)]
    return prob, backoff, words, nonempty + first_line + 1


def _read_sections(path, text):
    markers = list(_MARKER.finditer(text))
    names = [m.group(1) for m in markers]
    if "data" not in names:
        raise ValueError(f"malformed ARPA file {path!s}: no \\data\\ header found.")
    data = names.index("data")
    header_start = markers[data].end()
    header_end = markers[data + 1].start() if data + 1 < len(markers) else len(text)
    line_of = lambda pos: text.count("\n", 0, pos) + 1  # noqa: E731
    sizes = {}
    for offset, line in enumerate(text[header_start:header_end].split("\n")):
        if not line.strip():
            continue
        match = _NGRAM_LINE.match(line)
        if match is None:
            raise _error(
                path, line_of(header_start) + offset, f"expected 'ngram k=count', got {line!r}"
            )
        sizes[int(match.group(1))] = int(match.group(2))
    order = len(sizes)
    if order == 0 or sorted(sizes) != list(range(1, order + 1)):
        raise _error(
            path, line_of(markers[data].start()), f"\\data\\ lists orders {sorted(sizes)}"
        )
    sections = []
    for k in range(1, order + 1):
        i = data + k
        if i >= len(markers) or _SECTION.match(names[i]) is None or names[i] != f"{k}-grams":
            found = f"\\{names[i]}\\" if i < len(markers) else "the end of the file"
            raise _error(
                path,
                line_of(markers[i].start()) if i < len(markers) else line_of(len(text)),
                f"expected section \\{k}-grams:, found {found} (truncated file?)",
            )
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        sections.append((markers[i].end() + 1, end, line_of(markers[i].start()), k, sizes[k]))
    last = data + order + 1
    if last >= len(markers) or names[last] != "end":
        raise ValueError(
            f"malformed ARPA file {path!s}: no \\end\\ after the {order}-grams (truncated file?)"
        )
    return order, sections


def _row_view(rows):
    """One opaque, sortable value per row of a 2-d int64 array."""
    rows = np.ascontiguousarray(rows)
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def _add_missing_prefixes(grams, probs, backoffs, blank):
    """Add, as blanks, every prefix of a stored n-gram that the file lacks (SRILM pruning)."""
    for k in range(len(grams), 2, -1):
        prefixes = grams[k - 1][:, : k - 1]
        have = _row_view(grams[k - 2])
        want = _row_view(prefixes)
        unique, inverse = np.unique(np.concatenate([have, want]), return_inverse=True)
        present = np.zeros(len(unique), dtype=bool)
        present[inverse[: len(have)]] = True
        missing = np.unique(inverse[len(have) :])
        missing = missing[~present[missing]]
        if len(missing):
            first = np.zeros(len(unique), dtype=np.int64)
            first[inverse[len(have) :][::-1]] = np.arange(len(want))[::-1]
            rows = prefixes[first[missing]]
            grams[k - 2] = np.concatenate([grams[k - 2], rows])
            probs[k - 2] = np.concatenate([probs[k - 2], np.full(len(rows), np.nan)])
            backoffs[k - 2] = np.concatenate([backoffs[k - 2], np.zeros(len(rows))])
            blank[k - 2] = np.concatenate([blank[k - 2], np.ones(len(rows), dtype=bool)])


def read_arpa(path):
    """Read an ARPA file (plain or gzip) into backoff tables.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    tokens : list of str
        The classes: ``<unk>``, ``</s>``, then the file's other unigrams in
        file order (``<s>`` is context only).
    tables : BackoffTables
        Natural-log tables that score as KenLM's ``query`` does.

    Raises
    ------
    ValueError
        If the file is malformed or truncated; the message names the line or
        the section.
    """
    with _open_text(path, "r") as f:
        text = f.read()
    order, sections = _read_sections(path, text)
    parsed = [_parse_section(path, text, *section) for section in sections]

    prob1, backoff1, (words1,), lines1 = parsed[0]
    words1 = words1.tolist()
    index = {}
    for i, word in enumerate(words1):
        if index.setdefault(word, i) != i:
            raise _error(path, lines1[i], f"the unigram {word!r} appears twice")
    for marker in (BOS, EOS):
        if marker not in index:
            raise ValueError(f"malformed ARPA file {path!s}: the unigrams lack {marker}.")
    others = [w for w in words1 if w not in (UNK, EOS, BOS)]
    tokens = [UNK, EOS, *others]
    n_classes = len(tokens)
    ids = {word: i for i, word in enumerate(tokens)}
    ids[BOS] = n_classes
    base = n_classes + 1
    log_prob1 = np.zeros(base)
    log_backoff1 = np.zeros(base)
    where = np.fromiter(map(ids.__getitem__, words1), dtype=np.int64, count=len(words1))
    log_prob1[where] = prob1
    log_backoff1[where] = backoff1
    if UNK not in index:
        warnings.warn(
            f"the ARPA file {path!s} has no <unk>; it gets log10 probability "
            f"{MISSING_UNK_LOG10:g}, as in KenLM.",
            UserWarning,
            stacklevel=3,
        )
        log_prob1[0] = MISSING_UNK_LOG10

    grams, probs, backoffs, blank = [where[:, None]], [prob1], [backoff1], [None]
    for k in range(2, order + 1):
        prob, backoff, words, lines = parsed[k - 1]
        columns = []
        for column in words:
            mapped = np.fromiter(
                map(ids.get, column.tolist(), repeat(-1)), dtype=np.int64, count=len(column)
            )
            if (mapped < 0).any():
                i = np.flatnonzero(mapped < 0)[0]
                raise _error(path, lines[i], f"the word {column[i]!r} is not a unigram")
            columns.append(mapped)
        grams.append(np.stack(columns, axis=1))
        probs.append(prob)
        backoffs.append(backoff)
        blank.append(np.zeros(len(prob), dtype=bool))
    _add_missing_prefixes(grams, probs, backoffs, blank)

    keys = [None]
    log_prob = [log_prob1 * LN10]
    log_backoff = [log_backoff1 * LN10]
    for k in range(2, order + 1):
        gram = grams[k - 1]
        prefix = gram[:, 0]
        for j in range(2, k):
            prefix = _lookup(keys[j - 1], prefix * base + gram[:, j - 1])
        key = prefix * base + gram[:, k - 1]
        sort = np.argsort(key, kind="stable")
        key = key[sort]
        if len(key) > 1 and (key[1:] == key[:-1]).any():
            raise ValueError(f"malformed ARPA file {path!s}: a {k}-gram appears twice.")
        keys.append(key)
        p = probs[k - 1][sort] * LN10
        bo = backoffs[k - 1][sort] * LN10
        hollow = np.flatnonzero(blank[k - 1][sort])
        if len(hollow):
            # Like KenLM, a missing prefix scores what backing off gives.
            lower = BackoffTables(n_classes, keys[:-1], log_prob, log_backoff)
            context = gram[sort][hollow]
            tail = context[:, 1 : k - 1]
            p[hollow] = lower.log_prob_after(tail, context[:, k - 1]) + log_backoff[k - 2][
                key[hollow] // base
            ]
        log_prob.append(p)
        log_backoff.append(bo)
    return tokens, BackoffTables(n_classes, keys, log_prob, log_backoff)
