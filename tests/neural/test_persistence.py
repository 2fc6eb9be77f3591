"""Pickle/joblib round trips, CUDA-trained models on CPU-only machines, and
the safe save/load format."""

import pickle
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import torch

from sklm.neural import GRULM, LSTMLM, RNNLM, RecurrentLM

TEST = ["the cat sat", "an unseen word", ""]


@pytest.fixture(params=[RNNLM, LSTMLM, GRULM], ids=lambda c: c.__name__)
def fitted(request, tiny, corpus):
    return tiny(request.param, dropout=0.2, num_layers=2).fit(corpus)


def _same_model(a, b):
    np.testing.assert_array_equal(a.score_samples(TEST), b.score_samples(TEST))
    np.testing.assert_array_equal(a.predict_proba(TEST), b.predict_proba(TEST))
    assert a.sample(3, max_length=5, random_state=0) == b.sample(3, max_length=5, random_state=0)
    assert a.get_params() == b.get_params()
    assert list(a.classes_) == list(b.classes_)
    assert a.history_ == b.history_


def test_pickle_round_trip(fitted):
    copy = pickle.loads(pickle.dumps(fitted))
    _same_model(fitted, copy)
    assert isinstance(copy.module_, torch.nn.Module) and not copy.module_.training


def test_joblib_round_trip(fitted, tmp_path):
    joblib.dump(fitted, tmp_path / "lm.joblib")
    _same_model(fitted, joblib.load(tmp_path / "lm.joblib"))


def test_getstate_does_not_touch_the_live_model(fitted):
    module = fitted.module_
    state = fitted.__getstate__()
    assert fitted.module_ is module and isinstance(fitted.module_, torch.nn.Module)
    # Weights travel as CPU tensors with the config needed to rebuild the network.
    assert set(state["module_"]) == {"config", "state_dict"}
    assert all(t.device.type == "cpu" for t in state["module_"]["state_dict"].values())


def test_cuda_trained_model_loads_on_cpu_with_a_warning(fitted, monkeypatch):
    # Simulation, documented as such: no GPU is available where this test was
    # written. A model fitted on CUDA pickles exactly like this one (weights
    # are moved to CPU tensors by __getstate__) except that its state names
    # the CUDA device it lived on, so we take a CPU model's pickled state and
    # make it name "cuda:0", then unpickle it where CUDA is unavailable.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    state = fitted.__getstate__()
    state["device_"] = "cuda:0"
    blob = pickle.dumps((type(fitted), state))
    cls, loaded_state = pickle.loads(blob)
    copy = cls.__new__(cls)
    with pytest.warns(UserWarning, match="trained on 'cuda:0'.*CPU"):
        copy.__setstate__(loaded_state)
    assert copy.device_ == "cpu"
    assert all(p.device.type == "cpu" for p in copy.module_.parameters())
    np.testing.assert_array_equal(copy.score_samples(TEST), fitted.score_samples(TEST))


def test_cpu_model_unpickles_without_warning(fitted):
    blob = pickle.dumps(fitted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pickle.loads(blob)


def test_save_load_round_trip(fitted, tmp_path):
    path = fitted.save(tmp_path / "model")
    assert path.suffix == ".npz" and path.exists()
    # A plain zip of .npy arrays: nothing in it needs pickle to read.
    with zipfile.ZipFile(path) as z:
        assert all(name.endswith(".npy") for name in z.namelist())
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
    loaded = type(fitted).load(path)
    assert type(loaded) is type(fitted)
    _same_model(fitted, loaded)
    assert loaded.n_parameters_ == fitted.n_parameters_
    _same_model(fitted, RecurrentLM.load(path))


def test_save_load_keeps_unusual_tokens(tiny, tmp_path):
    X = ["naïve café ß", "日本 語", "tab\there", "<unk> x"]
    lm = tiny(LSTMLM).fit(X)
    loaded = LSTMLM.load(lm.save(tmp_path / "u.npz"))
    assert list(loaded.classes_) == list(lm.classes_)
    assert loaded.vocabulary_ == lm.vocabulary_
    np.testing.assert_array_equal(loaded.score_samples(X), lm.score_samples(X))


def test_load_rejects_another_class_and_foreign_files(tiny, corpus, tmp_path):
    path = tiny(GRULM).fit(corpus).save(tmp_path / "gru.npz")
    with pytest.raises(ValueError, match="holds a GRULM, not a LSTMLM"):
        LSTMLM.load(path)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a model written by save"):
        LSTMLM.load(tmp_path / "other.npz")


def test_save_load_of_a_cuda_trained_model_warns(tiny, corpus, tmp_path, monkeypatch):
    # Same simulation as for pickle: the file of a CUDA-trained model differs
    # only in the device its metadata names.
    import json

    lm = tiny(LSTMLM).fit(corpus)
    lm.device_ = "cuda"
    path = lm.save(tmp_path / "m.npz")
    lm.device_ = "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="not available here"):
        loaded = LSTMLM.load(path)
    assert loaded.device_ == "cpu"
    with np.load(path) as data:
        assert json.loads(bytes(data["meta"]))["device"] == "cuda"
    np.testing.assert_array_equal(loaded.score_samples(TEST), lm.score_samples(TEST))


def test_save_unfitted_raises(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LSTMLM().save(tmp_path / "x.npz")


def test_save_accepts_numpy_parameter_values(tiny, corpus, tmp_path):
    lm = tiny(
        LSTMLM,
        hidden_size=np.int64(6),
        learning_rate=np.float32(0.01),
        random_state=np.int64(3),
        softmax="adaptive",
        cutoffs=(np.int64(4),),
    ).fit(corpus)
    loaded = LSTMLM.load(lm.save(tmp_path / "np.npz"))
    assert loaded.get_params()["hidden_size"] == 6 and loaded.get_params()["random_state"] == 3
    assert loaded.get_params()["cutoffs"] == [4]
    np.testing.assert_array_equal(loaded.score_samples(TEST), lm.score_samples(TEST))
