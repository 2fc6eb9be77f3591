"""Text generation from a language model or a Tokenizer + LM pipeline."""

from sklearn.pipeline import Pipeline


def generate(model, prompt=None, *, n_samples=1, include_prompt=True, **sample_params):
    """Generate text from a fitted language model or pipeline.

    The one call that turns a text prompt into text: the prompt goes through
    the pipeline's transformers (a :class:`~sklm.Tokenizer`), the final
    language model continues it with :meth:`~sklm.base.LanguageModel.sample`,
    and the tokens are joined back into text with the last transformer's
    ``inverse_transform`` (or with spaces for a bare model).

    Parameters
    ----------
    model : fitted Pipeline ending in a language model, or a language model
    prompt : str, default=None
        Text to continue; ``None`` starts a new text.
    n_samples : int, default=1
        Number of texts to generate.
    include_prompt : bool, default=True
        Start each returned text with the (tokenized, then joined) prompt.
    **sample_params
        ``max_length``, ``temperature``, ``top_k``, ``top_p``,
        ``random_state``, passed to ``sample``.

    Returns
    -------
    texts : list of str

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklm import NGramLM, Tokenizer, generate
    >>> lm = NGramLM(order=2, smoothing="witten_bell")
    >>> pipe = make_pipeline(Tokenizer(), lm).fit(["The cat sat.", "The dog sat.", "A cat ran."])
    >>> generate(pipe, "the dog", temperature=0)
    ['the dog sat.']
    """
    if prompt is not None and not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str or None; got {type(prompt).__name__}.")
    if isinstance(model, Pipeline):
        transformers, lm = model[:-1], model[-1]
    else:
        transformers, lm = None, model
    if prompt is None:
        prompt_tokens = []
    elif transformers is not None and len(transformers):
        prompt_tokens = transformers.transform([prompt])[0]
    else:
        prompt_tokens = prompt.split()
    samples = lm.sample(n_samples, prompt=prompt_tokens, **sample_params)
    if include_prompt:
        samples = [list(prompt_tokens) + s for s in samples]
    decoder = None
    if transformers is not None and len(transformers):
        last = transformers[-1]
        decoder = getattr(last, "inverse_transform", None)
    if decoder is not None:
        return decoder(samples)
    return [" ".join(s) for s in samples]
