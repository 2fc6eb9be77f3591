"""Tokenizer: texts in, token lists out, and back again."""

import json
import re
import unicodedata
from numbers import Integral

from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._sklearn import Interval, StrOptions, _fit_context
from .._validation import _describe, check_not_table
from ._bpe import decode_bpe, encode_bpe, learn_bpe

# A word is a run of letters, digits or underscores (any script), possibly
# joined by an apostrophe or hyphen ("don't", "well-known"); every other
# non-space character stands alone, so punctuation becomes its own token.
DEFAULT_TOKEN_PATTERN = r"\w+(?:['’\-]\w+)*|[^\w\s]"

_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}»”’]|'s\b|n't\b)")
_NO_SPACE_AFTER = re.compile(r"([(\[{«“]) ")


def _check_texts(X, name="X"):
    check_not_table(X, name)
    if X is None:
        raise ValueError(f"{name} is None; expected an iterable of texts (str).")
    if isinstance(X, (str, bytes)):
        raise ValueError(
            f"{name} is a single {type(X).__name__}; expected an iterable of texts "
            "(for one text, pass [text] or use Tokenizer.tokenize(text))."
        )
    if isinstance(X, dict):
        raise TypeError(f"{name} must be an iterable of str, not a dict; got {_describe(X)}.")
    try:
        texts = list(X)
    except TypeError:
        raise TypeError(f"{name} must be an iterable of str; got {_describe(X)}.") from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] must be a str; got {_describe(text)}.")
    return texts


class Tokenizer(TransformerMixin, BaseEstimator):
    """Split texts into tokens for a language model.

    With ``analyzer="word"`` or ``"char"`` a stateless transformer (``fit``
    learns nothing); ``analyzer="bpe"`` learns its subword units in ``fit``.
    ``transform`` maps each text to a list of tokens and ``inverse_transform``
    joins token lists back into text. Works on any Unicode text; Chinese,
    Japanese and other texts without spaces are best modelled with
    ``analyzer="char"``, which needs no segmenter.

    Parameters
    ----------
    analyzer : {"word", "char", "bpe"} or callable, default="word"
        ``"word"``: the matches of ``token_pattern``. ``"char"``: every
        character, spaces and newlines included. ``"bpe"``: byte-level
        byte-pair encoding (subword units) learnt in ``fit`` with Hugging Face
        ``tokenizers`` (``pip install "sklm[bpe]"``); any text is covered,
        tokens hold no whitespace (a space is the ``"Ġ"`` that opens a token)
        and ``inverse_transform`` gives the text back exactly (as lowercased
        and normalised; set ``lowercase=False, normalize=None`` for the raw
        text). A callable maps one text to a list of str tokens.
    lowercase : bool, default=True
        Lowercase the text first (Unicode-aware ``str.lower``).
    token_pattern : str or None, default=None
        Regular expression of a word for ``analyzer="word"``. ``None`` uses
        the default: runs of letters/digits (any script), keeping inner
        apostrophes and hyphens, with every punctuation mark its own token.
        Use ``r"\\S+"`` to split on whitespace only, like KenLM.
    normalize : {"NFC", "NFKC"} or None, default="NFC"
        Unicode normalisation applied before tokenizing, so that visually
        identical words get identical tokens.
    vocab_size : int, default=1000
        ``analyzer="bpe"`` only: the most subword units (the 256 byte symbols
        included) that ``fit`` learns.

    Attributes
    ----------
    bpe_model_ : str
        ``analyzer="bpe"``: the learnt model (merges and units) as JSON.
    bpe_vocabulary_ : dict
        ``analyzer="bpe"``: subword unit to its id in ``bpe_model_``.

    See Also
    --------
    sklm.generate : generate text from a Tokenizer + LM pipeline.

    Examples
    --------
    >>> from sklm import Tokenizer
    >>> tok = Tokenizer()
    >>> tok.fit_transform(["The cat sat.", "Don't panic!"])
    [['the', 'cat', 'sat', '.'], ["don't", 'panic', '!']]
    >>> tok.inverse_transform([['the', 'cat', 'sat', '.']])
    ['the cat sat.']
    >>> Tokenizer(analyzer="char").transform(["你好"])
    [['你', '好']]
    """

    _parameter_constraints = {
        "analyzer": [StrOptions({"word", "char", "bpe"}), callable],
        "vocab_size": [Interval(Integral, 1, None, closed="left")],
        "lowercase": ["boolean"],
        "token_pattern": [str, None],
        "normalize": [StrOptions({"NFC", "NFKC"}), None],
    }

    def __init__(
        self,
        *,
        analyzer="word",
        lowercase=True,
        token_pattern=None,
        normalize="NFC",
        vocab_size=1000,
    ):
        self.analyzer = analyzer
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.normalize = normalize
        self.vocab_size = vocab_size

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Only subword units are learnt from the data.
        tags.requires_fit = self.analyzer == "bpe"
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Validate the parameters; nothing is learnt.

        Parameters
        ----------
        X : iterable of str, default=None
            Ignored (validated when given).
        y : None
            Ignored.

        Returns
        -------
        self : Tokenizer
        """
        if self.analyzer == "bpe":
            if X is None:
                raise ValueError('Tokenizer(analyzer="bpe") learns its merges in fit: X is needed.')
            serialized = learn_bpe(map(self._prepare, _check_texts(X)), self.vocab_size)
            self.bpe_model_ = serialized
            self.bpe_vocabulary_ = json.loads(serialized)["model"]["vocab"]
        elif X is not None:
            _check_texts(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit, then tokenize ``X``, reading it once.

        The same as ``fit(X).transform(X)``, except that ``X`` may be a
        generator: a pipeline's ``fit`` passes its input through here, so a
        generator reaches the model whole.

        Parameters
        ----------
        X : iterable of str
            The texts.
        y : None
            Ignored.

        Returns
        -------
        tokens : list of list of str
        """
        self._validate_params()  # parameters first, as fit checks them
        texts = _check_texts(X)
        return self.fit(texts, y).transform(texts)

    def _split(self):
        if callable(self.analyzer):
            return self.analyzer
        if self.analyzer == "char":
            return list
        try:
            pattern = re.compile(self.token_pattern or DEFAULT_TOKEN_PATTERN)
        except re.error as exc:
            raise ValueError(
                f"token_pattern {self.token_pattern!r} is not a valid regex: {exc}"
            ) from None
        return pattern.findall

    def _prepare(self, text):
        if self.normalize is not None:
            text = unicodedata.normalize(self.normalize, text)
        return text.lower() if self.lowercase else text

    def tokenize(self, text):
        """Tokenize one text.

        Parameters
        ----------
        text : str

        Returns
        -------
        tokens : list of str
        """
        return self.transform([text])[0]

    def transform(self, X):
        """Tokenize each text.

        Parameters
        ----------
        X : iterable of str
            The texts (a bare str is an error: wrap one text in a list).

        Returns
        -------
        tokens : list of list of str
        """
        self._validate_params()
        texts = _check_texts(X)
        if self.analyzer == "bpe":
            check_is_fitted(self, "bpe_model_")
            return encode_bpe(self.bpe_model_, [self._prepare(text) for text in texts])
        split = self._split()
        out = []
        for i, text in enumerate(texts):
            tokens = split(self._prepare(text))
            if callable(self.analyzer):
                tokens = list(tokens)
                for token in tokens:
                    if not isinstance(token, str):
                        raise TypeError(
                            f"the analyzer callable returned {_describe(token)} for "
                            f"X[{i}]; it must return a list of str."
                        )
            out.append(tokens)
        return out

    def _save_state(self):
        """The fitted state for :func:`sklm.save`: the BPE model's JSON, if any."""
        if self.analyzer == "bpe":
            return {"bpe_model": self.bpe_model_}, {}
        return {}, {}

    def _load_state(self, meta, arrays, *, verify=True):
        """Set the fitted state read by :func:`sklm.load` (checked, never run)."""
        if arrays or set(meta) != ({"bpe_model"} if self.analyzer == "bpe" else set()):
            raise ValueError(f"not the fitted state of a Tokenizer(analyzer={self.analyzer!r}).")
        if self.analyzer != "bpe":
            return
        model = meta["bpe_model"]
        vocabulary = json.loads(model)["model"]["vocab"] if isinstance(model, str) else None
        if not isinstance(vocabulary, dict) or not all(
            isinstance(k, str) and type(v) is int for k, v in vocabulary.items()
        ):
            raise ValueError("the BPE model holds no table of subword units.")
        self.bpe_model_ = model
        self.bpe_vocabulary_ = vocabulary

    def detokenize(self, tokens):
        """Join one token list back into text (see :meth:`inverse_transform`)."""
        return self.inverse_transform([tokens])[0]

    def inverse_transform(self, X):
        """Join token lists back into texts.

        Characters are concatenated as they are. Words are joined by spaces,
        without a space before closing punctuation or after an opening
        bracket, so the text reads naturally; lowercasing is not undone.

        Parameters
        ----------
        X : iterable of sequences of str

        Returns
        -------
        texts : list of str
        """
        self._validate_params()
        check_not_table(X)
        if X is None or isinstance(X, (str, bytes)):
            raise ValueError(f"X must be an iterable of token lists; got {_describe(X)}.")
        texts = []
        for i, tokens in enumerate(X):
            if isinstance(tokens, str) or not all(isinstance(t, str) for t in tokens):
                raise TypeError(
                    f"X[{i}] must be a sequence of str tokens; got {_describe(tokens)}."
                )
            if self.analyzer == "char":
                texts.append("".join(tokens))
            elif self.analyzer == "bpe":
                texts.append(decode_bpe(tokens))
            else:
                text = " ".join(tokens)
                text = _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))
                texts.append(text)
        return texts
