import pytest
from sklearn.pipeline import make_pipeline
from toy import AddOneBigramLM

from sklm import Tokenizer, generate

TEXTS = ["The cat sat.", "The dog sat.", "A cat ran!"]


def test_generate_from_a_text_prompt_returns_text():
    pipe = make_pipeline(Tokenizer(), AddOneBigramLM()).fit(TEXTS)
    texts = generate(pipe, "The cat", n_samples=3, max_length=5, random_state=0)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    assert all(t.startswith("the cat") for t in texts)
    assert texts == generate(pipe, "The cat", n_samples=3, max_length=5, random_state=0)


def test_generate_greedy_matches_sample_and_decodes_with_tokenizer():
    pipe = make_pipeline(Tokenizer(), AddOneBigramLM()).fit(TEXTS)
    tokens = pipe[-1].sample(prompt=["the"], temperature=0, max_length=6)[0]
    expected = pipe[0].inverse_transform([["the", *tokens]])[0]
    assert generate(pipe, "The", temperature=0, max_length=6) == [expected]
    only_new = generate(pipe, "The", temperature=0, max_length=6, include_prompt=False)
    assert only_new == pipe[0].inverse_transform([tokens])


def test_generate_on_a_bare_model_joins_with_spaces():
    lm = AddOneBigramLM().fit(["a b", "b a"])
    out = generate(lm, "a", max_length=3, random_state=0)
    assert out[0].split()[0] == "a"


def test_generate_rejects_non_text_prompt():
    lm = AddOneBigramLM().fit(["a b"])
    with pytest.raises(TypeError, match="prompt"):
        generate(lm, ["a"])
