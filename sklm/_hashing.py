"""An open-addressing hash over an array of distinct int64 keys.

Shared by the n-gram tables (n-gram keys) and the text encoder (packed
tokens): both need point lookups of millions of keys at once, and a binary
search costs about 16 dependent memory reads per query where this costs one
or two.
"""

import numpy as np

from ._parallel import use_compiled

#: Fibonacci hashing's multiplier (2**64 over the golden ratio).
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


#: ``KEEP[1]`` is -1 and ``KEEP[0]`` 0: masks read from memory stay plain
#: ANDs for the compiler, which turns a mask it can see through (a compare's
#: result) into a branch, and that branch mispredicts on every other key here.
KEEP = np.array([0, -1], dtype=np.int64)


class HashIndex:
    """Open-addressing hash of a table of distinct keys, for point lookups.

    A binary search costs about 16 dependent memory reads per query on a
    large table; a hash with load factor at most 1/2 costs one or two, which
    is what makes scoring fast. Each slot holds the index of a key in the
    key table (-1 when empty), so the hash adds 8 to 16 bytes per n-gram
    (32 to 64 for tables under two million n-grams, which get more room).
    Linear probing, built with one sort: keys in order of their home slot
    land at ``max(home, previous slot + 1)``, so the slots from a key's home
    to its own are all occupied, as probing needs. The slots run past the
    last home slot instead of wrapping around and always end with an empty
    one, which stops every probe.
    """

    def __init__(self, keys):
        n = len(keys)
        self.keys = keys
        # Load factor at most 1/8 while the slots stay small: scoring meets
        # many misses, and a probe that ends at once saves more than the
        # larger table costs in cache (int32 slots keep it at the size of
        # 1/4 with int64 ones). At most 1/2 beyond.
        spread = 8 if n < 2**21 else 2
        bits = max(int(np.ceil(np.log2(spread * n + 1))), 4)
        self.bits = bits
        self.shift = np.uint64(64 - bits)
        index_type = np.int32 if n < 2**31 else np.intp
        rank = np.arange(n, dtype=np.int64)
        if bits <= 31:
            # Home slot and index packed in one int64: a plain (vectorized) sort
            # is several times faster than an argsort.
            slot = self._home(keys)
            slot <<= 32
            slot |= rank
            slot.sort()
            by_home = (slot & 0xFFFFFFFF).astype(index_type)
            slot >>= 32
        else:
            home = self._home(keys)
            by_home = np.argsort(home, kind="stable")
            slot = home[by_home]
            del home
        # slot = max(home, previous slot + 1), in place
        slot -= rank
        np.maximum.accumulate(slot, out=slot)
        slot += rank
        del rank
        length = max(1 << bits, int(slot[-1]) + 1 if n else 0) + 1
        self.slot_value = np.full(length, -1, dtype=index_type)
        self.slot_value[slot] = by_home

    @classmethod
    def from_slots(cls, keys, slot_value, bits):
        """The index of ``keys`` from the slots of one built before (a file's).

        Only the shapes are checked here: :meth:`check` reads every slot.
        """
        if not isinstance(bits, int) or not 4 <= bits <= 62:
            raise ValueError(f"invalid number of hash bits {bits!r}.")
        if slot_value.ndim != 1 or slot_value.dtype not in (np.int32, np.int64):
            raise ValueError("the hash slots are not a 1-D array of int32 or int64.")
        if len(slot_value) <= 1 << bits or (len(keys) >= 2**31 and slot_value.dtype != np.int64):
            raise ValueError("the hash slots are too few for their keys.")
        index = cls.__new__(cls)
        index.keys = keys
        index.bits = bits
        index.shift = np.uint64(64 - bits)
        index.slot_value = slot_value
        return index

    def check(self, block=1 << 20):
        """Raise ValueError unless the slots index every key once, as built.

        Every key must sit in one slot, at or after its home slot with no
        empty slot in between (what probing needs), and the last slot must be
        empty. Reads the slots a block at a time.
        """
        slots, n = self.slot_value, len(self.keys)
        if len(slots) == 0 or slots[-1] != -1:
            raise ValueError("the hash slots do not end with an empty slot.")
        seen = np.zeros(n, dtype=bool)
        filled_count = 0
        run_start = 0  # where the run of filled slots reaching the block began
        for lo in range(0, len(slots), block):
            value = np.asarray(slots[lo : lo + block])
            if value.min() < -1 or value.max() >= n:
                raise ValueError("the hash slots point outside the key table.")
            where = np.flatnonzero(value >= 0)
            index = value[where]
            seen[index] = True
            filled_count += len(where)
            if not len(where):
                run_start = lo + len(value)
                continue
            where += lo
            # Each filled slot's run of filled slots starts after the last
            # empty one: a key's home must lie inside its slot's run.
            new_run = np.empty(len(where), dtype=bool)
            new_run[0] = where[0] != lo  # the run reaching the block ends before it
            np.not_equal(where[1:], where[:-1] + 1, out=new_run[1:])
            starts = where[new_run]
            if not new_run[0]:
                starts = np.concatenate([[run_start], starts])
            first = starts[np.cumsum(new_run) - (1 if new_run[0] else 0)]
            home = self._home(self.keys[index])
            if np.any(home > where) or np.any(home < first):
                raise ValueError("a key of the hash slots is not where probing finds it.")
            end = lo + len(value)
            run_start = int(starts[-1]) if where[-1] == end - 1 else end
        # n filled slots that see every key: each key once.
        if filled_count != n or not seen.all():
            raise ValueError("the hash slots do not hold every key exactly once.")

    def _home(self, keys):
        # Fibonacci hashing on the key's bits (wrapping uint64 arithmetic).
        home = np.asarray(keys, dtype=np.int64).view(np.uint64) * GOLDEN
        home >>= self.shift
        return home.view(np.int64)

    def lookup(self, keys, *, compiled=None):
        """Index of each key in the table, -1 where absent.

        ``compiled`` chooses the compiled loop (True) or the NumPy passes
        (False); None follows :func:`~sklm._parallel.use_compiled` on the
        number of keys.
        """
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        if compiled is None:
            compiled = use_compiled(len(keys))
        if not compiled:
            return self._lookup_arrays(keys)
        from ._compiled import lookup_into

        found = np.empty(len(keys), dtype=np.intp)
        todo = np.empty(len(keys), dtype=np.intp)
        lookup_into(self.keys, self.slot_value, int(self.shift), keys, found, todo, KEEP)
        return found

    def _probe(self, slot, keys):
        """Read ``slot``: the table index there, whether it holds ``keys``,
        and whether the search goes on (a filled slot without the key)."""
        value = np.take(self.slot_value, slot).astype(np.intp, copy=False)
        # An empty slot's -1 reads the largest key, which cannot be the key
        # sought: that key would have been met before any empty slot. (Plain
        # indexing: np.take is several times slower on negative indices.)
        hit = self.keys[value] == keys
        more = np.greater_equal(value, 0) > hit
        return value, hit, more

    def _lookup_arrays(self, keys):
        """:meth:`lookup` in whole-array NumPy passes."""
        if len(self.keys) == 0:
            return np.full(len(keys), -1, dtype=np.intp)
        slot = self._home(keys)
        value, hit, more = self._probe(slot, keys)
        # value is already -1 on empty slots; only the probing ones are not.
        probing = np.flatnonzero(more)
        if len(probing):
            value[probing] = -1
            # The few keys still probing travel with their slots, each step
            # on arrays of their own size.
            slot = slot[probing]
            keys = keys[probing]
            while len(probing):
                slot += 1
                found, hit, more = self._probe(slot, keys)
                value[probing[hit]] = found[hit]
                probing = probing[more]
                slot = slot[more]
                keys = keys[more]
        return value
