"""Training from TextFiles read as a stream of shards (corpora larger than memory)."""

import numpy as np
import pytest

from sklm import GRULM, LSTMLM
from sklm.base import Vocabulary
from sklm.datasets import TextFiles
from sklm.neural._stream import Stream
from sklm.neural.callbacks import Callback

PARAMS = dict(
    hidden_size=8,
    embedding_dim=8,
    batch_size=4,
    bptt=5,
    random_state=0,
    device="cpu",
    n_threads=1,
)


def _lines(n):
    rng = np.random.default_rng(0)
    words = np.array(["the", "cat", "dog", "sat", "ran", "a", "on", "mat", "log", "bird"])
    return [" ".join(rng.choice(words, size=rng.integers(1, 12))) for _ in range(n)]


@pytest.fixture
def files(tmp_path):
    lines = _lines(240)
    paths = []
    for f in range(3):
        path = tmp_path / f"part{f}.txt"
        path.write_text("\n".join(lines[f * 80 : (f + 1) * 80]) + "\n", encoding="utf-8")
        paths.append(path)
    return TextFiles(paths), lines


def _weights(lm):
    return {k: v.clone() for k, v in lm.module_.state_dict().items()}


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert bool((wa[k] == wb[k]).all()), k


def test_one_shard_trains_as_the_samples_in_memory(files):
    X, lines = files
    streamed = LSTMLM(**PARAMS, max_epochs=2, min_count=2).fit(X)
    held = LSTMLM(**PARAMS, max_epochs=2, min_count=2).fit(lines)
    assert list(streamed.classes_) == list(held.classes_)
    _same_weights(streamed, held)
    assert [h["train_loss"] for h in streamed.history_] == [h["train_loss"] for h in held.history_]


@pytest.mark.parametrize("cls", [LSTMLM, GRULM])
def test_shards_train_as_partial_fit_on_each_shard_in_turn(files, cls):
    X, lines = files
    streamed = cls(**PARAMS, max_epochs=1, lr_schedule=None)
    streamed.stream_shard_tokens = 150
    streamed.fit(X)
    # The same cut into shards, fed to partial_fit one after the other.
    vocabulary = Vocabulary(list(streamed.classes_))
    shards = Stream.learn(X, vocabulary, shard_tokens=150).shards()
    sizes = [shard.n_samples for shard in shards]
    assert len(sizes) > 5 and sum(sizes) == len(lines)
    oracle = cls(**PARAMS, lr_schedule=None, vocabulary=list(streamed.classes_))
    start = 0
    for size in sizes:
        oracle.partial_fit(lines[start : start + size])
        start += size
    _same_weights(streamed, oracle)
    assert streamed.history_[0]["tokens"] == sum(h["tokens"] for h in oracle.history_)


class CountingFiles(TextFiles):
    """TextFiles that count the samples read so far in the current pass."""

    def __iter__(self):
        self.read = 0
        for line in super().__iter__():
            self.read += 1
            yield line


class ReadSoFar(Callback):
    def __init__(self, X):
        self.X = X

    def on_train_begin(self, model, state):
        self.at_first_step = None

    def on_batch_end(self, model, state):
        if self.at_first_step is None:
            self.at_first_step = self.X.read


def test_training_starts_before_the_files_are_read_whole(files):
    X, lines = files
    X = CountingFiles(X.paths)
    probe = ReadSoFar(X)
    lm = LSTMLM(**PARAMS, max_epochs=1, callbacks=[probe])
    lm.stream_shard_tokens = 100
    lm.fit(X)
    # The first step came after one shard (and the chunk it was cut from),
    # not after the whole corpus; the epoch then read every sample.
    assert 0 < probe.at_first_step < len(lines)
    assert X.read == len(lines)
    assert lm.history_[0]["tokens"] == sum(len(line.split()) + 1 for line in lines)


def test_the_stream_learns_the_vocabulary_of_the_samples(files):
    X, lines = files
    for options in ({}, {"min_count": 3}, {"max_vocab": 4}):
        streamed = LSTMLM(**PARAMS, max_epochs=1, **options).fit(X)
        held = LSTMLM(**PARAMS, max_epochs=1, **options).fit(lines)
        assert list(streamed.classes_) == list(held.classes_)


def test_cosine_schedule_on_a_stream_ends_near_zero(files):
    X, _ = files
    rates = []

    class Rates(Callback):
        def on_batch_end(self, model, state):
            rates.append(state.optimizer.param_groups[0]["lr"])

    lm = LSTMLM(**PARAMS, max_epochs=2, lr_schedule="cosine", callbacks=[Rates()])
    lm.stream_shard_tokens = 100
    lm.fit(X)
    assert np.all(np.diff(rates) <= 0) and rates[-1] < 0.2 * rates[0]


def test_early_stopping_with_a_stream_is_refused_before_reading(files):
    X, _ = files
    X = CountingFiles(X.paths)
    with pytest.raises(ValueError, match="early_stopping=True holds samples out"):
        LSTMLM(**PARAMS, early_stopping=True).fit(X)
    assert not hasattr(X, "read")
