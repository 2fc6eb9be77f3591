"""Inputs: generators through every pipeline, tables refused, paths typed,
long tokens scored as text."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

import sklm
from sklm import LSTMLM, NGramLM, Tokenizer

pytestmark = pytest.mark.filterwarnings("ignore:.*cannot estimate the discounts:UserWarning")

X = ["the cat sat on the mat", "the dog sat on the log", "a cat ran after the dog"]
TEST = ["the cat sat", "a dog ran", ""]
TINY = dict(
    embedding_dim=6, hidden_size=7, max_epochs=1, batch_size=3, device="cpu", random_state=0
)
MODELS = [NGramLM(order=2), NGramLM(order=3, smoothing="witten_bell"), LSTMLM(**TINY)]


@pytest.mark.parametrize("model", MODELS, ids=repr)
@pytest.mark.parametrize("tokenizer", [Tokenizer(), Tokenizer(analyzer="char")], ids=repr)
def test_generators_work_through_a_pipeline(model, tokenizer):
    from_list = make_pipeline(tokenizer, model).fit(X)
    from_generator = make_pipeline(tokenizer, model).fit(x for x in X)
    assert list(from_generator[-1].classes_) == list(from_list[-1].classes_)
    for method in ("score", "score_samples", "predict_proba", "predict"):
        expected = getattr(from_list, method)(TEST)
        np.testing.assert_array_equal(getattr(from_generator, method)(t for t in TEST), expected)


def test_tokenizer_fit_transform_reads_a_generator_once():
    texts = iter(X)
    assert Tokenizer().fit_transform(texts) == Tokenizer().transform(X)
    assert next(texts, None) is None


def test_a_model_reads_a_generator_once():
    lm = NGramLM(order=2).fit(x.split() for x in X)
    np.testing.assert_array_equal(lm.score_samples(iter(TEST)), lm.score_samples(TEST))


class _FakeFrame:
    """What a pandas or polars DataFrame looks like to a validator."""

    columns = ["text"]
    shape = (3, 1)

    def __iter__(self):
        return iter(self.columns)


TABLES = [np.array(X)[:, None], np.array([x.split()[:3] for x in X]), _FakeFrame()]


@pytest.mark.parametrize("table", TABLES, ids=["column", "matrix", "frame"])
def test_tables_are_refused_by_every_public_method(table):
    lm = NGramLM(order=2).fit(X)
    pipe = make_pipeline(Tokenizer(), NGramLM(order=2)).fit(X)
    calls = [
        NGramLM().fit,
        lm.score,
        lm.score_samples,
        lm.score_tokens,
        lm.predict_proba,
        lm.predict,
        lm.predict_log_proba,
        pipe.fit,
        pipe.score,
        Tokenizer().fit,
        Tokenizer().transform,
        Tokenizer().fit_transform,
        Tokenizer().inverse_transform,
    ]
    before = lm.score_samples(TEST)
    for call in calls:
        with pytest.raises(ValueError, match=r"2-D array|a table"):
            call(table)
    np.testing.assert_array_equal(lm.score_samples(TEST), before)


def test_a_pandas_column_is_a_sequence_of_texts():
    pd = pytest.importorskip("pandas")
    column = pd.DataFrame({"text": X})["text"]
    lm = NGramLM(order=2).fit(column)
    np.testing.assert_array_equal(lm.score_samples(column), lm.score_samples(X))
    with pytest.raises(ValueError, match="a table"):
        lm.score(pd.DataFrame({"text": X}))


@pytest.mark.parametrize("path", [None, b"model.sklm", 3, ["a"]], ids=repr)
def test_paths_must_be_str_or_path_like(path, tmp_path):
    lm = NGramLM(order=1).fit(X)
    with pytest.raises(TypeError, match="str or os.PathLike"):
        sklm.save(lm, path)
    with pytest.raises(TypeError, match="str or os.PathLike"):
        sklm.load(path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [4_000_000])
def test_a_long_token_scores_as_text_as_it_does_as_a_token(size):
    # Linear in the token's bytes: a quadratic or per-word Python loop would
    # make this 4 MB token take minutes instead of a fraction of a second.
    lm = NGramLM(order=3).fit(X + ["x" * 20 + " cat", "y" * 9 + " dog"])
    long = "x" * size
    texts = [long, "x" * 20 + " cat", "the " + long + " sat", "y" * 9 + " " + "z" * 17]
    tokens = [t.split() for t in texts]
    np.testing.assert_array_equal(lm.score_samples(texts), lm.score_samples(tokens))
    for a, b in zip(lm.score_tokens(texts), lm.score_tokens(tokens)):
        np.testing.assert_array_equal(a, b)
