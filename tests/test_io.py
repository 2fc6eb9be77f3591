"""sklm.save / sklm.load: round trips of every estimator and pipeline, the
checks that refuse a bad file before anything is allocated, and a bounded
fuzz of real saved files."""

import json
import os
import pickle
import struct
import warnings

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline

import sklm
from sklm import GRULM, LSTMLM, RNNLM, NGramLM, Tokenizer
from sklm.io import MAGIC, ModelFileError

pytestmark = pytest.mark.filterwarnings("ignore:.*cannot estimate the discounts:UserWarning")

X = ["the cat sat on the mat", "the dog sat on the log", "a cat ran after the dog", "", "a bird"]
TEST = ["the cat sat", "an unseen word", "", "dog dog dog"]
TINY = dict(
    embedding_dim=6, hidden_size=7, max_epochs=1, batch_size=3, bptt=4, device="cpu", random_state=0
)
SMOOTHINGS = ["mle", "add_k", "absolute_discounting", "witten_bell", "kneser_ney", "stupid_backoff"]


def _same_scores(a, b, X=TEST):
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    for x, y in zip(a.score_tokens(X), b.score_tokens(X)):
        np.testing.assert_array_equal(x, y)
    assert a.sample(3, max_length=6, random_state=0) == b.sample(3, max_length=6, random_state=0)


def _round_trip(estimator, tmp_path, **load_options):
    path = sklm.save(estimator, tmp_path / "model.sklm")
    return sklm.load(path, **load_options)


def _split(path):
    """The header (a dict) and the data region of a saved file."""
    raw = open(path, "rb").read()
    (length,) = struct.unpack("<Q", raw[len(MAGIC) : len(MAGIC) + 8])
    header = json.loads(raw[len(MAGIC) + 8 : len(MAGIC) + 8 + length])
    start = -(-(len(MAGIC) + 8 + length) // 64) * 64
    return header, raw[start:]


def _write(path, header, data):
    """Write a file with ``header`` and ``data`` laid out as sklm.save lays them out."""
    text = json.dumps(header).encode("ascii")
    start = -(-(len(MAGIC) + 8 + len(text)) // 64) * 64
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<Q", len(text)) + text)
        f.write(b"\0" * (start - len(MAGIC) - 8 - len(text)))
        f.write(data)
    return path


def _edit(path, edit):
    header, data = _split(path)
    result = edit(header, data)
    data = result if isinstance(result, bytes) else data
    return _write(path, header, data)


def _find_node(node, name):
    if isinstance(node, dict):
        if node.get("class") == name:
            return node
        values = node.values()
    elif isinstance(node, list):
        values = node
    else:
        return None
    for value in values:
        found = _find_node(value, name)
        if found is not None:
            return found
    return None


@pytest.fixture(scope="module")
def neural():
    return {cls: cls(**TINY).fit(X) for cls in (RNNLM, LSTMLM, GRULM)}


# round trips ---------------------------------------------------------------


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("mmap", [False, True])
def test_ngram_round_trip_scores_identically(smoothing, mmap, tmp_path):
    lm = NGramLM(order=3, smoothing=smoothing, min_count=1).fit(X)
    loaded = _round_trip(lm, tmp_path, mmap=mmap)
    assert type(loaded) is NGramLM and loaded.get_params() == lm.get_params()
    assert list(loaded.classes_) == list(lm.classes_) and loaded.vocabulary_ == lm.vocabulary_
    np.testing.assert_array_equal(loaded.ngram_counts_, lm.ngram_counts_)
    _same_scores(lm, loaded)
    if mmap:
        assert isinstance(loaded.tables_.log_prob[1], np.memmap)
        assert not loaded.tables_.log_prob[1].flags.writeable


def test_ngram_from_arpa_and_fitted_attributes_round_trip(tmp_path):
    lm = NGramLM(order=2, smoothing="kneser_ney").fit(X)
    loaded = _round_trip(lm, tmp_path)
    np.testing.assert_array_equal(loaded.discounts_, lm.discounts_)
    np.testing.assert_array_equal(loaded.counts_of_counts_, lm.counts_of_counts_)
    lm.to_arpa(tmp_path / "lm.arpa")
    arpa = NGramLM.from_arpa(tmp_path / "lm.arpa")
    _same_scores(arpa, _round_trip(arpa, tmp_path))


def test_unusual_tokens_round_trip(tmp_path):
    X = ["naïve café ß", "日本 語", "<unk> x", ["a\ud800b", "tab\there", ' "quoted" ']]
    lm = NGramLM(order=2).fit(X)
    loaded = _round_trip(lm, tmp_path)
    assert list(loaded.classes_) == list(lm.classes_)
    _same_scores(lm, loaded, X[:3])


@pytest.mark.parametrize("cls", [RNNLM, LSTMLM, GRULM], ids=lambda c: c.__name__)
def test_neural_round_trip_scores_identically(cls, neural, tmp_path):
    lm = neural[cls]
    loaded = _round_trip(lm, tmp_path)
    assert type(loaded) is cls and loaded.get_params() == lm.get_params()
    assert loaded.history_ == lm.history_ and loaded.n_parameters_ == lm.n_parameters_
    assert not loaded.module_.training
    _same_scores(lm, loaded)


@pytest.mark.parametrize(
    "params",
    [
        dict(softmax="adaptive"),
        dict(tie_weights=True, embedding_dim=7),
        dict(num_layers=2, dropout=0.1, nonlinearity="relu"),
    ],
    ids=["adaptive", "tied", "relu2"],
)
def test_neural_variants_round_trip(params, tmp_path):
    cls = RNNLM if "nonlinearity" in params else LSTMLM
    lm = cls(**{**TINY, **params}).fit(X)
    _same_scores(lm, _round_trip(lm, tmp_path))


def test_loading_leaves_the_global_torch_rng_alone(neural, tmp_path):
    import torch

    path = sklm.save(neural[LSTMLM], tmp_path / "m.sklm")
    state = torch.get_rng_state()
    sklm.load(path)
    assert torch.equal(state, torch.get_rng_state())


def test_model_trained_on_another_device_loads_on_cpu(neural, tmp_path, monkeypatch):
    # The file of a CUDA-trained model differs from this one only in the
    # device that its header names; loading it where CUDA is unavailable
    # gives a CPU model with a warning.
    import torch

    path = sklm.save(neural[GRULM], tmp_path / "m.sklm")
    _edit(path, lambda header, data: header["root"]["state"].update(device="cuda:0"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="trained on 'cuda:0'.*CPU"):
        loaded = sklm.load(path)
    assert loaded.device_ == "cpu"
    assert all(p.device.type == "cpu" for p in loaded.module_.parameters())
    _same_scores(neural[GRULM], loaded)


@pytest.mark.parametrize(
    "tokenizer",
    [
        Tokenizer(),
        Tokenizer(analyzer="char", lowercase=False),
        Tokenizer(token_pattern=r"\S+"),
    ],
    ids=["word", "char", "pattern"],
)
def test_pipeline_of_tokenizer_and_model_round_trips(tokenizer, tmp_path):
    pipe = make_pipeline(tokenizer, NGramLM(order=3)).fit(X)
    loaded = _round_trip(pipe, tmp_path)
    assert loaded.steps[0][0] == pipe.steps[0][0]
    assert loaded.get_params(deep=False).keys() == pipe.get_params(deep=False).keys()
    assert loaded.score(TEST) == pipe.score(TEST)
    np.testing.assert_array_equal(loaded.score_samples(TEST), pipe.score_samples(TEST))
    generated = sklm.generate(loaded, "the", random_state=0)
    assert generated == sklm.generate(pipe, "the", random_state=0)


def test_bpe_tokenizer_pipeline_round_trips(tmp_path):
    pytest.importorskip("tokenizers")
    pipe = make_pipeline(Tokenizer(analyzer="bpe", vocab_size=300), NGramLM(order=2)).fit(X)
    loaded = _round_trip(pipe, tmp_path)
    assert loaded[0].bpe_model_ == pipe[0].bpe_model_
    assert loaded[0].transform(TEST) == pipe[0].transform(TEST)
    np.testing.assert_array_equal(loaded.score_samples(TEST), pipe.score_samples(TEST))


def test_neural_pipeline_and_frozen_estimator_round_trip(neural, tmp_path):
    pipe = make_pipeline(Tokenizer(), FrozenEstimator(neural[LSTMLM]))
    loaded = _round_trip(pipe, tmp_path)
    assert isinstance(loaded[-1], FrozenEstimator)
    np.testing.assert_array_equal(loaded.score_samples(TEST), pipe.score_samples(TEST))


def test_numpy_parameter_values_round_trip(tmp_path):
    lm = NGramLM(order=np.int64(2), alpha=np.float32(0.5), smoothing="add_k").fit(X)
    lstm = LSTMLM(**{**TINY, "tie_weights": np.bool_(False), "cutoffs": (np.int64(3),)})
    loaded = _round_trip(make_pipeline(Tokenizer(), lm), tmp_path)
    assert loaded[-1].get_params()["order"] == 2 and loaded[-1].alpha == 0.5
    _same_scores(lm, loaded[-1])
    assert _round_trip(lstm, tmp_path).get_params() == {
        **lstm.get_params(),
        "tie_weights": False,
        "cutoffs": (3,),
    }


def test_unfitted_estimators_round_trip_unfitted(tmp_path):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    pipe = make_pipeline(Tokenizer(lowercase=False), LSTMLM(hidden_size=5, vocabulary={"b", "a"}))
    loaded = _round_trip(pipe, tmp_path)
    # Compared as parameters: a set's repr follows its insertion order when
    # two of its strings' hashes meet, which changes from run to run.
    assert [type(step) for step in loaded] == [type(step) for step in pipe]
    for got, want in zip(loaded, pipe):
        assert got.get_params() == want.get_params()
    assert loaded[-1].vocabulary == {"a", "b"}
    with pytest.raises(NotFittedError):
        check_is_fitted(loaded[-1])


def test_interpolated_lm_round_trips(tmp_path):
    from sklm import InterpolatedLM

    words = ["the", "cat", "dog", "sat", "on"]
    lm = InterpolatedLM(
        estimators=[
            ("a", NGramLM(order=2, vocabulary=words)),
            ("b", NGramLM(order=1, vocabulary=words)),
        ],
    ).fit(X)
    loaded = _round_trip(lm, tmp_path)
    np.testing.assert_array_equal(loaded.weights_, lm.weights_)
    _same_scores(lm, loaded)


def test_mixture_of_frozen_ngram_and_neural_models_round_trips(tmp_path):
    from sklm import InterpolatedLM

    words = ["the", "cat", "dog", "sat", "on"]
    ngram = NGramLM(order=2, vocabulary=words).fit(X)
    lstm = LSTMLM(**TINY, vocabulary=words).fit(X)
    lm = InterpolatedLM(
        estimators=[("ngram", FrozenEstimator(ngram)), ("lstm", FrozenEstimator(lstm))],
        weights=np.array([0.3, 0.7]),
    ).fit(X)
    pipe = make_pipeline(Tokenizer(), lm)
    loaded = _round_trip(pipe, tmp_path)
    assert isinstance(loaded[-1].estimators[1][1], FrozenEstimator)
    np.testing.assert_array_equal(loaded[-1].weights, [0.3, 0.7])
    assert loaded[-1].weights.dtype == np.float64
    np.testing.assert_array_equal(loaded.score_samples(TEST), pipe.score_samples(TEST))
    _same_scores(lm, loaded[-1])


def test_pickle_and_save_agree(tmp_path):
    lm = NGramLM(order=3).fit(X)
    _same_scores(pickle.loads(pickle.dumps(lm)), _round_trip(lm, tmp_path))


# saving ----------------------------------------------------------------------


def test_save_refuses_code_and_leaves_the_previous_file(tmp_path):
    path = sklm.save(NGramLM(order=2).fit(X), tmp_path / "m.sklm")
    before = path.read_bytes()
    pipe = make_pipeline(Tokenizer(analyzer=str.split), NGramLM()).fit(X)
    with pytest.raises(TypeError, match=r"Pipeline.steps\[0\]\[1\].analyzer.*Pickle"):
        sklm.save(pipe, path)
    from sklearn.linear_model import LinearRegression

    with pytest.raises(TypeError, match="LinearRegression is not one of the classes"):
        sklm.save(LinearRegression(), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.sklm"]


def test_save_and_load_check_their_path(tmp_path):
    lm = NGramLM(order=1).fit(X)
    with pytest.raises(TypeError, match="str or os.PathLike"):
        sklm.save(lm, b"model.sklm")
    with pytest.raises(TypeError, match="str or os.PathLike"):
        sklm.load(None)
    with pytest.raises(ModelFileError, match="cannot open"):
        sklm.load(tmp_path / "missing.sklm")


def test_save_returns_the_path_and_writes_an_aligned_file(tmp_path):
    path = sklm.save(NGramLM(order=2).fit(X), str(tmp_path / "m.sklm"))
    header, data = _split(path)
    assert header["format"] == "sklm.model" and header["version"] == 2
    assert all(entry["offset"] % 64 == 0 for entry in header["arrays"])


# loading refuses bad files ---------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    return sklm.save(NGramLM(order=3).fit(X), tmp_path / "m.sklm")


@pytest.fixture
def saved_neural(tmp_path, neural):
    return sklm.save(neural[LSTMLM], tmp_path / "n.sklm")


def _refused(path, match):
    with pytest.raises(ModelFileError, match=match) as info:
        sklm.load(path)
    assert str(path) in str(info.value)


def test_refuses_other_files(tmp_path):
    pickled = tmp_path / "m.pkl"
    pickled.write_bytes(pickle.dumps(NGramLM()))
    _refused(pickled, "not a model file written by sklm.save")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    _refused(empty, "not a model file")


def test_refuses_truncated_files(saved):
    raw = saved.read_bytes()
    for size in (len(MAGIC) + 4, len(MAGIC) + 20, len(raw) // 2, len(raw) - 1):
        saved.write_bytes(raw[:size])
        _refused(saved, "truncated|not a model file|not valid JSON|lies outside")


def test_refuses_newer_format_versions(saved):
    newer = sklm.io.FORMAT_VERSION + 1
    _edit(saved, lambda header, data: header.update(version=newer))
    _refused(saved, f"format version {newer} by a newer sklm")


def test_refuses_classes_outside_the_allowlist(saved):
    _edit(saved, lambda header, data: header["root"].update({"class": "os.system"}))
    _refused(saved, "'os.system', which sklm.load does not build")


def test_refuses_invalid_parameters(saved):
    _edit(saved, lambda header, data: header["root"]["params"].update(order=0))
    _refused(saved, "invalid parameters.*order")
    _edit(saved, lambda header, data: header["root"]["params"].update(order=3, colour="red"))
    _refused(saved, "invalid parameters.*colour")


def test_refuses_arrays_the_file_does_not_hold_before_allocating(saved):
    def huge(header, data):
        header["arrays"][0]["shape"] = [10**15]

    _edit(saved, huge)
    _refused(saved, "lies outside the file")


def test_refuses_overlapping_arrays(saved):
    def overlap(header, data):
        header["arrays"][1]["offset"] = header["arrays"][0]["offset"]

    _edit(saved, overlap)
    _refused(saved, "overlap")


def test_refuses_tables_that_index_outside(saved):
    def corrupt(header, data):
        entry = next(e for e in header["arrays"] if e["name"].endswith("/keys_3"))
        data = bytearray(data)
        data[entry["offset"] : entry["offset"] + 8] = struct.pack("<q", 10**15)
        return bytes(data)

    _edit(saved, corrupt)
    _refused(saved, "keys_3 are not sorted distinct n-grams")


def test_refuses_nan_probabilities(saved):
    def corrupt(header, data):
        entry = next(e for e in header["arrays"] if e["name"].endswith("/log_prob_2"))
        data = bytearray(data)
        data[entry["offset"] : entry["offset"] + 8] = struct.pack("<d", float("nan"))
        return bytes(data)

    _edit(saved, corrupt)
    _refused(saved, "log_prob_2.*NaN")


def test_refuses_a_vocabulary_that_does_not_fit_the_tables(saved):
    def shorten(header, data):
        entry = next(a for a in header["arrays"] if a["name"].endswith("/classes_ends"))
        entry["shape"][0] -= 1

    _edit(saved, shorten)
    _refused(saved, "inconsistent fitted state")


def test_refuses_a_network_larger_than_its_weights(saved_neural):
    def grow(header, data):
        header["root"]["state"]["config"]["hidden_size"] = 10**9
        header["root"]["params"]["hidden_size"] = 10**9

    _edit(saved_neural, grow)
    _refused(saved_neural, "shape")


def test_refuses_a_network_unlike_its_parameters(saved_neural):
    _edit(saved_neural, lambda header, data: header["root"]["params"].update(hidden_size=8))
    _refused(saved_neural, "hidden_size differ from the model's parameters")


def test_refuses_absurd_layer_counts_without_building_them(saved_neural):
    def deepen(header, data):
        header["root"]["state"]["config"]["num_layers"] = 10**12
        header["root"]["params"]["num_layers"] = 10**12

    _edit(saved_neural, deepen)
    _refused(saved_neural, "num_layers")


def test_refuses_a_vocabulary_shorter_than_the_network(saved_neural):
    _edit(saved_neural, lambda header, data: header["root"]["state"]["classes"].pop())
    _refused(saved_neural, "classes")


def test_refuses_non_finite_weights(saved_neural):
    def corrupt(header, data):
        entry = next(e for e in header["arrays"] if e["name"].endswith("embedding.weight"))
        data = bytearray(data)
        data[entry["offset"] : entry["offset"] + 4] = struct.pack("<f", float("inf"))
        return bytes(data)

    _edit(saved_neural, corrupt)
    _refused(saved_neural, "NaN or infinite")


def test_refuses_json_tricks(saved):
    raw = saved.read_bytes()
    header, data = _split(saved)
    text = json.dumps(header).replace('"version":', '"version": 1, "version":', 1)
    saved.write_bytes(MAGIC + struct.pack("<Q", len(text)) + text.encode())
    _refused(saved, "not valid JSON")
    deep = "[" * 100000 + "]" * 100000
    saved.write_bytes(MAGIC + struct.pack("<Q", len(deep)) + deep.encode())
    _refused(saved, "not valid JSON|not that of an sklm model")
    saved.write_bytes(raw)
    _edit(saved, lambda header, data: header["root"]["params"].update(alpha=float("nan")))
    _refused(saved, "not valid JSON")


# fuzz --------------------------------------------------------------------------

FUZZ_CASES = 150  # per file; SKLM_FUZZ_CASES runs a longer campaign


def _mutations(raw, rng, n):
    for _ in range(n):
        data = bytearray(raw)
        kind = rng.integers(4)
        if kind == 0:  # flip a few bytes anywhere
            for pos in rng.integers(0, len(data), size=rng.integers(1, 4)):
                data[pos] = rng.integers(256)
        elif kind == 1:  # truncate
            data = data[: rng.integers(0, len(data))]
        elif kind == 2:  # overwrite a run with a digit (header numbers and names)
            pos = rng.integers(len(MAGIC) + 8, min(len(data), 2048))
            data[pos] = ord(str(rng.integers(10)))
        else:  # duplicate a slice into another place
            a, b = sorted(rng.integers(0, len(data), size=2))
            pos = rng.integers(0, len(data))
            data[pos : pos + (b - a)] = data[a:b]
        yield bytes(data)


@pytest.mark.parametrize("which", ["ngram", "pipeline", "neural"])
def test_fuzzed_files_load_or_raise_model_file_error(which, neural, tmp_path):
    model = {
        "ngram": NGramLM(order=3).fit(X),
        "pipeline": make_pipeline(Tokenizer(), NGramLM(order=2, smoothing="witten_bell")).fit(X),
        "neural": neural[GRULM],
    }[which]
    path = sklm.save(model, tmp_path / "m.sklm")
    raw = path.read_bytes()
    rng = np.random.default_rng(0)
    n = int(os.environ.get("SKLM_FUZZ_CASES", FUZZ_CASES))
    loaded = refused = 0
    for mutated in _mutations(raw, rng, n):
        path.write_bytes(mutated)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = sklm.load(path)
        except ModelFileError as error:
            assert str(path) in str(error)
            refused += 1
            continue
        # What loads is a consistent model: it scores without error or NaN.
        scores = result.score_samples(TEST)
        assert not np.isnan(scores).any()
        loaded += 1
    assert refused > 0 and loaded + refused == n


JSON_VALUES = [
    None,
    True,
    -1,
    0,
    2,
    10**20,
    1.5,
    -0.0,
    "x",
    "</s>",
    [],
    {},
    [1, 2],
    ["<unk>"],
    {"__tuple__": 3},
    {"__estimator__": {}},
    {"__float__": "nan"},
    {"__set__": [1]},
    {"__ndarray__": {"dtype": "<f8", "values": [[1], [2, 3]]}},
    {"__ndarray__": {"dtype": "|O", "values": []}},
]


def _paths(node, prefix=()):
    """Every place in a JSON tree, as a path of keys and indices."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node[:8]):
            yield from _paths(value, prefix + (i,))


@pytest.mark.parametrize("which", ["pipeline", "neural"])
def test_fuzzed_headers_load_or_raise_model_file_error(which, neural, tmp_path):
    # Structured mutations: one value anywhere in the header replaced by a
    # value of another type or range, reaching the checks behind the JSON.
    model = {
        "pipeline": make_pipeline(Tokenizer(), NGramLM(order=2)).fit(X),
        "neural": neural[LSTMLM],
    }[which]
    path = sklm.save(model, tmp_path / "m.sklm")
    header, data = _split(path)
    places = [p for p in _paths(header) if p]
    rng = np.random.default_rng(1)
    n = int(os.environ.get("SKLM_FUZZ_CASES", FUZZ_CASES))
    for _ in range(n):
        mutated = json.loads(json.dumps(header))
        place = places[rng.integers(len(places))]
        parent = mutated
        for key in place[:-1]:
            parent = parent[key]
        parent[place[-1]] = JSON_VALUES[rng.integers(len(JSON_VALUES))]
        _write(path, mutated, data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = sklm.load(path)
        except ModelFileError as error:
            assert str(path) in str(error)
            continue
        assert not np.isnan(result.score_samples(TEST)).any()


def test_torch_optimizer_classes_round_trip(tmp_path):
    import torch

    lm = LSTMLM(**TINY, optimizer=torch.optim.RMSprop, optimizer__momentum=0.5).fit(X)
    loaded = _round_trip(lm, tmp_path)
    assert loaded.optimizer is torch.optim.RMSprop
    assert loaded.get_params()["optimizer__momentum"] == 0.5
    _same_scores(lm, loaded)
    path = tmp_path / "model.sklm"
    _edit(
        path,
        lambda header, data: header["root"]["params"].update(
            optimizer={"torch.optim": "Optimizer.__init__"}
        ),
    )
    _refused(path, "unknown optimizer")


def test_npz_files_of_recurrent_save_get_the_same_checks(neural, tmp_path):
    # RecurrentLM.save's .npz is kept for the files it wrote; its loader now
    # runs the checks of sklm.load.
    import zipfile

    lm = neural[LSTMLM]
    path = lm.save(tmp_path / "m.npz")
    _same_scores(lm, LSTMLM.load(path))
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays["meta"]))
    meta["classes"] = meta["classes"][:-1]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(ModelFileError, match="short.npz: inconsistent model.*classes"):
        LSTMLM.load(tmp_path / "short.npz")
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.npy", b"\0" * 10**6)
    with pytest.raises(ModelFileError, match="bomb.npz: compressed members"):
        LSTMLM.load(tmp_path / "bomb.npz")


# stored lookup structures and verify= ----------------------------------------


def _array_view(path, name):
    """A writable view of the bytes of the array ``name`` (``0/<name>``) of a file."""
    header, _ = _split(path)
    entry = next(a for a in header["arrays"] if a["name"] == f"0/{name}")
    raw = np.memmap(path, dtype=np.uint8, mode="r+")
    (length,) = struct.unpack("<Q", bytes(raw[len(MAGIC) : len(MAGIC) + 8]))
    start = -(-(len(MAGIC) + 8 + length) // 64) * 64 + entry["offset"]
    count = int(np.prod(entry["shape"]))
    return np.ndarray((count,), dtype=entry["dtype"], buffer=raw, offset=start)


@pytest.mark.parametrize("mmap", [False, True])
def test_unverified_load_scores_identically(mmap, tmp_path):
    lm = NGramLM(order=3).fit(X)
    loaded = _round_trip(lm, tmp_path, mmap=mmap, verify=False)
    assert list(loaded.classes_) == list(lm.classes_) and loaded.vocabulary_ == lm.vocabulary_
    _same_scores(lm, loaded)


def test_a_mapped_unverified_model_answers_a_text_from_the_file_alone(tmp_path):
    lm = NGramLM(order=3).fit(X + ["averyveryverylongtoken and another_long_token_here"])
    path = sklm.save(lm, tmp_path / "m.sklm")
    loaded = sklm.load(path, mmap=True, verify=False)
    tables, vocabulary = loaded.tables_, loaded._vocabulary
    # The hash slots and the text encoder come from the file ...
    assert all(isinstance(tables._hashes[k].slot_value, np.memmap) for k in (2, 3))
    assert isinstance(vocabulary._text_encoder.index.slot_value, np.memmap)
    texts = ["the cat sat on the log", "averyveryverylongtoken and another_long_token_here x"]
    np.testing.assert_array_equal(loaded.score_samples(texts), lm.score_samples(texts))
    # ... so scoring texts decoded no token.
    assert "_tokens" not in vars(vocabulary)
    # Tokens given as lists need the tokens: decoded then.
    np.testing.assert_array_equal(
        loaded.score_samples([["the", "cat"]]), lm.score_samples([["the", "cat"]])
    )
    assert "_tokens" in vars(vocabulary)


def test_reads_format_version_1_files():
    path = os.path.join(os.path.dirname(__file__), "data", "ngram_format1.sklm")
    assert _split(path)[0]["version"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fitted = NGramLM(order=3).fit(X)
    for options in ({}, {"mmap": True}, {"mmap": True, "verify": False}):
        _same_scores(fitted, sklm.load(path, **options))


@pytest.mark.parametrize("damage", ["swap", "empty", "outside"])
def test_verify_refuses_damaged_hash_slots_that_an_unverified_load_accepts(saved, damage):
    slots = _array_view(saved, "slots_3")
    filled = np.flatnonzero(slots >= 0)
    if damage == "swap":
        # Two keys exchange their slots: each now sits where probing misses it.
        far = filled[np.argmax(filled - filled[0] > 8)]
        slots[filled[0]], slots[far] = slots[far], slots[filled[0]]
    elif damage == "empty":
        slots[filled[0]] = -1
    else:
        slots[filled[0]] = 10**6
    slots.base.flush()
    del slots
    with pytest.raises(ModelFileError, match="hash slots"):
        sklm.load(saved)
    loaded = sklm.load(saved, mmap=True, verify=False)
    try:
        scores = loaded.score_samples(TEST + X)
    except IndexError:  # a slot outside the key table: numpy's bounds check
        assert damage == "outside"
    else:
        assert scores.shape == (len(TEST + X),)


def test_verify_refuses_unsorted_keys_that_an_unverified_load_accepts(saved):
    keys = _array_view(saved, "keys_2")
    keys[0], keys[1] = keys[1], keys[0]
    keys.base.flush()
    del keys
    with pytest.raises(ModelFileError, match="keys_2 are not sorted"):
        sklm.load(saved, mmap=True)
    assert sklm.load(saved, mmap=True, verify=False).tables_.keys[1][0] > 0


def test_an_unverified_load_still_checks_the_structure(saved):
    def shorten(header, data):
        entry = next(a for a in header["arrays"] if a["name"] == "0/log_prob_2")
        entry["shape"][0] -= 1

    _edit(saved, shorten)
    with pytest.raises(ModelFileError, match="inconsistent fitted state"):
        sklm.load(saved, mmap=True, verify=False)


def test_unverified_load_refuses_a_vocabulary_not_starting_with_unk(saved):
    utf8 = _array_view(saved, "classes_utf8")
    utf8[1] = ord("x")  # <unk> -> <xnk>
    utf8.base.flush()
    del utf8
    with pytest.raises(ModelFileError, match="do not start with '<unk>'"):
        sklm.load(saved, verify=False)


def test_stored_tokens_of_every_utf8_length_load_as_saved(tmp_path):
    words = ["a", "caf\u00e9", "\u65e5\u672c", "\U0001f600", "na\u00efve", "x"]
    lm = NGramLM(order=2).fit([" ".join(words), "a x caf\u00e9"])
    path = sklm.save(lm, tmp_path / "m.sklm")
    for verify in (True, False):
        loaded = sklm.load(path, mmap=True, verify=verify)
        assert list(loaded.classes_) == list(lm.classes_)
        _same_scores(lm, loaded)
    # The start of a token moved into the middle of a character.
    at = list(lm.classes_).index("\u65e5\u672c")
    ends = _array_view(path, "classes_ends")
    ends[at - 1] += 1
    ends.base.flush()
    del ends
    with pytest.raises(ModelFileError, match="not UTF-8 text"):
        sklm.load(path)


def test_verify_must_be_a_bool(saved):
    with pytest.raises(TypeError, match="verify must be a bool"):
        sklm.load(saved, verify="no")


def test_a_model_loaded_unverified_pickles_as_a_plain_model(saved):
    loaded = sklm.load(saved, mmap=True, verify=False)
    again = pickle.loads(pickle.dumps(loaded))
    assert type(again._vocabulary).__name__ == "Vocabulary"
    _same_scores(loaded, again)


@pytest.mark.parametrize("order", [1, 3])
def test_verify_refuses_a_repeated_token_that_an_unverified_load_accepts(order, tmp_path):
    lm = NGramLM(order=order).fit(["the cat sat", "the dog sat"])
    path = sklm.save(lm, tmp_path / "m.sklm")
    utf8 = _array_view(path, "classes_utf8")
    text = bytes(utf8)
    at = text.index(b"cat")
    utf8[at : at + 3] = np.frombuffer(b"dog", np.uint8)  # "cat" becomes a second "dog"
    utf8.base.flush()
    del utf8
    with pytest.raises(ModelFileError, match="repeated token"):
        sklm.load(path)
    assert list(sklm.load(path, verify=False).classes_).count("dog") == 2


def test_a_model_loaded_unverified_saves_again_as_it_was(saved, tmp_path):
    loaded = sklm.load(saved, mmap=True, verify=False)
    again = sklm.load(sklm.save(loaded, tmp_path / "again.sklm"))
    _same_scores(loaded, again)
    assert _split(saved)[0]["arrays"] == _split(tmp_path / "again.sklm")[0]["arrays"]
