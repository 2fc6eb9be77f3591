"""A matrix of bad inputs through every public method.

Each call must fail with a ``ValueError`` or ``TypeError`` (a
``ModelFileError`` is a ``ValueError``), and leave the fitted state exactly
as it was: the same parameters, fitted attributes and scores before and
after every failing call.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

import sklm
from sklm import GRULM, LSTMLM, RNNLM, NGramLM, Tokenizer

X = ["the cat sat on the mat", "the dog sat on the log", "a cat ran"]
TINY = dict(
    embedding_dim=4, hidden_size=5, max_epochs=1, batch_size=2, device="cpu", random_state=0
)


class _Frame:
    columns = ["text"]
    shape = (3, 1)

    def __iter__(self):
        return iter(self.columns)


BAD_X = {
    "None": None,
    "bare str": "the cat sat",
    "bytes": b"the cat",
    "int": 3,
    "dict": {"the": 1},
    "int samples": [3, 4],
    "bytes samples": [b"the cat"],
    "non-str token": [["the", 3]],
    "nested lists": [[["the"]]],
    "2-D array": np.array(X)[:, None],
    "data frame": _Frame(),
}

BAD_SAMPLE_KWARGS = [
    dict(n_samples=-1),
    dict(n_samples=1.5),
    dict(n_samples="2"),
    dict(max_length=-1),
    dict(max_length="x"),
    dict(temperature=-1.0),
    dict(temperature=float("nan")),
    dict(temperature="hot"),
    dict(top_k=0),
    dict(top_k=-2),
    dict(top_k=1.5),
    dict(top_p=0.0),
    dict(top_p=1.5),
    dict(top_p=float("nan")),
    dict(random_state="seed"),
    dict(prompt=3),
    dict(prompt=[3]),
    dict(prompt=b"the"),
]


def _fingerprint(model):
    """What a failing call must not change: the whole pickled state (parameters,
    fitted attributes, tables and weights; caches excluded by the models'
    ``__getstate__``)."""
    return pickle.dumps(model)


def _models():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        models = {
            "NGramLM": NGramLM(order=3).fit(X),
            "NGramLM-mle": NGramLM(order=2, smoothing="mle").fit(X),
            "RNNLM": RNNLM(**TINY).fit(X),
            "LSTMLM": LSTMLM(**TINY, softmax="adaptive").fit(X),
            "GRULM": GRULM(**TINY).fit(X),
            "Pipeline": make_pipeline(Tokenizer(), NGramLM(order=2)).fit(X),
        }
    return models


@pytest.fixture(scope="module")
def models():
    return _models()


def _failing(model, call, *args, **kwargs):
    before = _fingerprint(model)
    with pytest.raises((ValueError, TypeError)) as info:
        call(*args, **kwargs)
    assert str(info.value), "an error without a message"
    assert _fingerprint(model) == before, f"{call.__name__} changed the model"
    return info.value


@pytest.mark.parametrize("name", ["NGramLM", "NGramLM-mle", "RNNLM", "LSTMLM", "GRULM", "Pipeline"])
def test_bad_x_through_every_method(models, name):
    model = models[name]
    methods = ["fit", "score", "score_samples", "predict_proba", "predict"]
    if name != "Pipeline":
        methods += ["score_tokens", "predict_log_proba"]
    cases = 0
    for label, bad in BAD_X.items():
        if name == "Pipeline" and label in ("int samples", "bytes samples"):
            continue  # the Tokenizer's error names them as texts: checked below
        for method in methods:
            _failing(model, getattr(model, method), bad)
            cases += 1
    assert cases >= 40


@pytest.mark.parametrize("name", ["NGramLM", "LSTMLM"])
def test_bad_sampling_arguments(models, name):
    model = models[name]
    for kwargs in BAD_SAMPLE_KWARGS:
        error = _failing(model, model.sample, **{"max_length": 5, **kwargs})
        assert any(key in str(error) for key in kwargs) or "prompt" in str(error), (kwargs, error)


def test_bad_parameters_leave_a_fitted_model_as_it_was(models):
    model = NGramLM(order=2).fit(X)
    for params in [
        dict(order=0),
        dict(smoothing="magic"),
        dict(alpha=-1),
        dict(discount=2.0),
        dict(min_count=0),
        dict(vocabulary=3),
    ]:
        bad = pickle.loads(pickle.dumps(model)).set_params(**params)
        before = _fingerprint(bad)
        with pytest.raises((ValueError, TypeError)):
            bad.fit(X)
        assert _fingerprint(bad) == before


def test_tokenizer_bad_inputs():
    tokenizer = Tokenizer()
    for label, bad in BAD_X.items():
        if label in ("nested lists", "non-str token"):
            continue  # a list of lists is what inverse_transform takes
        for method in (tokenizer.transform, tokenizer.fit_transform):
            _failing(tokenizer, method, bad)
    for bad in (None, "the cat", [3], [["a", 3]], np.array(X)[:, None]):
        _failing(tokenizer, tokenizer.inverse_transform, bad)


def test_bad_files_and_paths(models, tmp_path):
    model = models["NGramLM"]
    for path in (None, b"x.sklm", 3):
        _failing(model, sklm.save, model, path)
        with pytest.raises(TypeError):
            sklm.load(path)
    not_a_model = tmp_path / "x.txt"
    not_a_model.write_text("hello")
    for path in (not_a_model, tmp_path, tmp_path / "missing"):
        with pytest.raises(sklm.io.ModelFileError, match=str(path)):
            sklm.load(path)
