"""An NGramLM in a model file of :func:`sklm.save`: what is stored, and its checks on load."""

from functools import partial

import numpy as np


def save_state(model):
    """The fitted state for :func:`sklm.save`: JSON-able meta and the tables.

    Besides the tables, the file holds what a query builds on first use
    (the hash index of every order, the backoff weights with the two
    entries of :meth:`BackoffTables.extended_backoff`, the text encoder's
    tables), so that a mapped model answers its first query at once.
    """
    from ..base import StoredVocabulary

    tables = model.tables_
    tables.build_indexes()
    utf8, ends = StoredVocabulary.arrays(model.classes_)
    arrays = {"classes_utf8": utf8, "classes_ends": ends}
    meta = {
        "layout": 2,
        "unseen_log_backoff": tables.unseen_log_backoff,
        "normalise_rows": tables.normalise_rows,
        "slot_bits": [tables._hash(k).bits for k in range(2, tables.order + 1)],
        "encoder_bits": None,
    }
    for k in range(1, tables.order + 1):
        if k > 1:
            arrays[f"keys_{k}"] = tables.keys[k - 1]
            arrays[f"slots_{k}"] = tables._hash(k).slot_value
        arrays[f"log_prob_{k}"] = tables.log_prob[k - 1]
        if k < tables.order:
            arrays[f"log_backoff_{k}"] = tables.extended_backoff(k + 1)
        else:
            arrays[f"log_backoff_{k}"] = tables.log_backoff[k - 1]
    encoder = model._vocabulary.text_encoder().to_arrays()
    if encoder is not None:
        encoder_arrays, meta["encoder_bits"] = encoder
        arrays.update((f"encoder_{name}", a) for name, a in encoder_arrays.items())
    for name in ("discounts_", "counts_of_counts_"):
        if getattr(model, name, None) is not None:
            arrays[name] = np.asarray(getattr(model, name))
    return meta, arrays


def load_state(model, meta, arrays, *, verify=True):
    """Set the fitted state read by :func:`sklm.load`.

    The shapes, the vocabulary's first tokens and the two appended
    backoff entries are always checked. With ``verify`` (the default)
    so is every entry: each order's keys sorted, distinct and pointing at
    a stored context and a class, so that a query finds what the model
    holds; the values finite log-probabilities; the hash slots where
    probing finds their keys; the tokens distinct. Without it nothing is
    read beyond the shapes, so a mapped file opens at once (a corrupt one
    then answers wrongly or raises on a query; numpy's bounds checks keep
    every read inside the tables).
    """
    from concurrent.futures import ThreadPoolExecutor

    from .._hashing import HashIndex
    from .._parallel import available_threads
    from .._text_encoding import TextEncoder
    from ..base import StoredVocabulary
    from ..io import check_array, check_vocabulary
    from ._tables import BackoffTables

    order = int(model.order)
    layout = meta.get("layout", 1)
    if layout not in (1, 2):
        raise ValueError(f"unknown table layout {layout!r:.20}.")
    expected = {f"log_prob_{k}" for k in range(1, order + 1)}
    expected |= {f"log_backoff_{k}" for k in range(1, order + 1)}
    expected |= {f"keys_{k}" for k in range(2, order + 1)}
    optional = {"discounts_", "counts_of_counts_"}
    if layout == 2:
        expected |= {f"slots_{k}" for k in range(2, order + 1)}
        expected |= {"classes_utf8", "classes_ends"}
        if meta["encoder_bits"] is not None:
            expected |= {f"encoder_{name}" for name in TextEncoder.ARRAYS}
    names = set(arrays) - optional
    if names != expected:
        raise ValueError(
            f"the tables are not those of an order-{order} model (arrays "
            f"{sorted(names ^ expected)[:4]} missing or unexpected)."
        )
    if layout == 1:
        vocabulary = check_vocabulary(meta["classes"])
    else:
        utf8 = check_array(arrays, "classes_utf8", dtype=np.uint8, ndim=1)
        ends = check_array(arrays, "classes_ends", dtype=np.int64, ndim=1)
        vocabulary = StoredVocabulary(utf8, ends)
        bits = meta["slot_bits"]
        if not isinstance(bits, list) or len(bits) != order - 1:
            raise ValueError("slot_bits does not hold one entry per order above 1.")
    n_classes = len(vocabulary)
    unseen = meta["unseen_log_backoff"]
    if not isinstance(unseen, float) or not np.isfinite(unseen) or unseen > 0:
        raise ValueError("unseen_log_backoff is not a finite log weight <= 0.")
    if not isinstance(meta["normalise_rows"], bool):
        raise ValueError("normalise_rows is not a bool.")
    # The scans of whole tables, run at the end on the machine's cores.
    checks = []
    base = n_classes + 1
    keys, log_prob, log_backoff, hashes, extended = [None], [], [], {}, {}
    previous = base
    for k in range(1, order + 1):
        size = base if k == 1 else None
        prob = check_array(arrays, f"log_prob_{k}", dtype=np.float64, shape=(size,))
        # (In layout 2 the two appended entries, 0 and unseen, are finite too.)
        backoff = check_array(arrays, f"log_backoff_{k}", dtype=np.float64, ndim=1)
        if verify:
            checks.append(partial(_check_values, prob, backoff, k))
        if layout == 2 and k < order:
            # Stored with the two entries that queries append (see
            # BackoffTables.extended_backoff).
            if len(backoff) != len(prob) + 2 or backoff[-2] != 0.0 or backoff[-1] != unseen:
                raise ValueError(f"log_backoff_{k} does not end with its two fixed entries.")
            extended[k + 1] = backoff
            backoff = backoff[:-2]
        elif len(backoff) != len(prob) and not (k == order and len(backoff) == 0):
            raise ValueError(f"log_backoff_{k} and log_prob_{k} differ in length.")
        if k > 1:
            key = check_array(arrays, f"keys_{k}", dtype=np.int64, shape=(len(prob),))
            if verify:
                checks.append(partial(_check_keys, key, k, base, n_classes, previous))
            if layout == 2:
                slots = arrays[f"slots_{k}"]
                hashes[k] = HashIndex.from_slots(key, slots, bits[k - 2])
                if verify:
                    checks.append(hashes[k].check)
            keys.append(key)
        log_prob.append(prob)
        log_backoff.append(backoff)
        previous = len(prob)
    if verify:
        with ThreadPoolExecutor(max(1, min(available_threads(), len(checks)))) as pool:
            done = pool.map(lambda check: check(), checks)
            if layout == 2:
                # Python's work, beside numpy's (which leaves the GIL).
                vocabulary.check()
            list(done)
    if layout == 2 and meta["encoder_bits"] is not None and not verify:
        # A checked vocabulary builds its encoder from its own tokens instead.
        vocabulary.use_stored_encoder(
            {name: arrays[f"encoder_{name}"] for name in TextEncoder.ARRAYS}, meta["encoder_bits"]
        )
    fitted = {}
    for name in ("discounts_", "counts_of_counts_"):
        if name in arrays:
            array = arrays[name]
            if array.dtype.kind not in "fi" or array.ndim not in (1, 2) or len(array) != order:
                raise ValueError(f"{name} does not hold one row per order.")
            fitted[name] = check_array(arrays, name, dtype=array.dtype, finite=True)
        else:
            fitted[name] = None
    tables = BackoffTables(
        n_classes, keys, log_prob, log_backoff, unseen, normalise_rows=meta["normalise_rows"]
    )
    tables._hashes.update(hashes)
    tables._extended.update(extended)
    model.__dict__.update(fitted)
    model.tables_ = tables
    model.ngram_counts_ = tables.sizes()
    model._set_vocabulary(vocabulary)


def _check_values(prob, backoff, k):
    """Raise unless order ``k``'s values are log-probabilities and log weights
    (no NaN, no +inf; -inf is log zero), the probabilities at most 0."""
    from ..io import check_array

    for name, values in ((f"log_prob_{k}", prob), (f"log_backoff_{k}", backoff)):
        check_array({name: values}, name, dtype=np.float64, finite="no_nan_no_posinf")
    if prob.size and prob.max() > 1e-6:
        raise ValueError(f"log_prob_{k} holds log-probabilities above 0.")


def _check_keys(key, k, base, n_classes, n_contexts):
    """Raise unless ``key`` holds sorted distinct n-grams of stored contexts."""
    # Checked a block at a time: the temporaries stay small next to tables
    # that may be mapped from the file.
    valid = not len(key) or (key[0] >= 0 and key[-1] // base < n_contexts)
    for start in range(0, len(key) if valid else 0, 1 << 20):
        block = key[start : start + (1 << 20) + 1]
        if np.any(block[1:] <= block[:-1]) or np.any(block % base >= n_classes):
            valid = False
            break
    if not valid:
        raise ValueError(f"keys_{k} are not sorted distinct n-grams of stored contexts.")
