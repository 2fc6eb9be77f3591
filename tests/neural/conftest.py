import pytest

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat ran after the dog",
    "the dog ran",
    "",
    "a bird sang on the log",
    "the cat saw a bird",
]


@pytest.fixture
def corpus():
    return list(CORPUS)


@pytest.fixture
def tiny():
    """Build a small, fast, seeded model of a class.

    One torch thread: tiny networks run many times slower with two on a
    machine whose cores are busy with other work.
    """

    def make(cls, **params):
        defaults = dict(
            embedding_dim=8,
            hidden_size=12,
            max_epochs=2,
            batch_size=3,
            bptt=4,
            random_state=0,
            device="cpu",
            n_threads=1,
        )
        defaults.update(params)
        return cls(**defaults)

    return make
