"""InterpolatedLM: the linear mixture of language models sharing one vocabulary.

The mixture's next-token distribution is the weighted sum of its
components', ``p(w | h) = sum_k lambda_k p_k(w | h)``, computed in log space
(``log sum_k exp(log lambda_k + log p_k)``) so that nothing underflows on
long samples or rare words. The weights are given, or tuned by EM on held-out
samples exactly as SRILM's ``compute-best-mix`` does.
"""

import sys
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.validation import check_is_fitted

from ._sklearn import Interval, StrOptions, _BaseComposition, _fit_context
from ._validation import check_corpus, read_vocabulary
from .base import LanguageModel, Vocabulary


def _model(component):
    """The language model inside a component (a ``FrozenEstimator`` is unwrapped)."""
    return component.estimator if isinstance(component, FrozenEstimator) else component


def em_weights(log_probs, *, max_iter=1000, tol=1e-7):
    """Mixture weights that maximise the likelihood of held-out tokens (EM).

    The expectation-maximisation of SRILM's ``compute-best-mix``: starting
    from equal weights, each step gives every component the mean, over the
    tokens, of its posterior share ``lambda_k p_k(t) / sum_j lambda_j p_j(t)``.
    Each step never lowers the likelihood, which is concave in the weights,
    so EM climbs to the best mixture.

    Parameters
    ----------
    log_probs : ndarray of shape (n_tokens, n_components)
        Natural-log probability that each component gives each held-out
        token. Tokens no component can predict (all ``-inf``) are left out
        of the estimation: no weights make them possible.
    max_iter : int, default=1000
        Most EM steps.
    tol : float, default=1e-7
        Stop once a step raises the mean log-likelihood per token by less
        than this (in nats).

    Returns
    -------
    weights : ndarray of shape (n_components,)
        Non-negative, summing to one.
    scores : ndarray of shape (n_iter + 1,)
        The mixture's mean log-probability per held-out token at the start
        and after each step (all ``-inf`` if some token is impossible for
        every component).
    converged : bool
        Whether the last step gained less than ``tol``.

    Examples
    --------
    The weights that best mix two models on held-out text, from their
    per-token scores (any models, sharing a vocabulary or not, as long as
    they score the same tokens):

    >>> import numpy as np
    >>> from sklm import NGramLM
    >>> from sklm.mixture import em_weights
    >>> train = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog",
    ...          "the mat was red", "a dog sat", "the cat ran"]
    >>> held_out = ["on the log a cat sat", "the red dog ran on the mat"]
    >>> models = [NGramLM(order=2, smoothing="witten_bell"), NGramLM(order=1, smoothing="add_k")]
    >>> log_probs = np.column_stack(
    ...     [np.concatenate(m.fit(train).score_tokens(held_out)) for m in models]
    ... )
    >>> np.exp(-log_probs.mean(axis=0)).round(2)  # each model's held-out perplexity
    array([ 8.72, 11.86])
    >>> weights, scores, converged = em_weights(log_probs)
    >>> weights.round(3), converged
    (array([0.803, 0.197]), True)
    >>> np.exp(-scores[-1]).round(2)  # the mixture's
    np.float64(8.55)
    >>> bool(np.all(np.diff(scores) >= 0))
    True
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    n_tokens, n_components = log_probs.shape
    possible = np.isfinite(log_probs).any(axis=1)
    lp = log_probs[possible]
    n_possible = len(lp)
    # Impossible tokens put -inf in every score, whatever the weights.
    offset = 0.0 if n_possible == n_tokens else -np.inf
    weights = np.full(n_components, 1.0 / n_components)
    if n_possible == 0 or n_components == 1:
        return weights, np.array([offset if n_possible else -np.inf]), True
    with np.errstate(divide="ignore"):
        joint = lp + np.log(weights)
    total = logsumexp(joint, axis=1)
    mean = total.mean()
    scores = [mean + offset]
    converged = False
    for _ in range(max_iter):
        # The new weight of a component is its mean posterior over the tokens.
        weights = np.exp(logsumexp(joint - total[:, None], axis=0) - np.log(n_possible))
        weights /= weights.sum()
        with np.errstate(divide="ignore"):
            joint = lp + np.log(weights)
        total = logsumexp(joint, axis=1)
        gain, mean = total.mean() - mean, total.mean()
        scores.append(mean + offset)
        if gain < tol:
            converged = True
            break
    return weights, np.array(scores), converged


class InterpolatedLM(LanguageModel, _BaseComposition):
    """Linear interpolation of language models: n-gram and neural alike.

    The next-token distribution is the weighted sum of the components'
    distributions, ``p(w | h) = sum_k weights_[k] * p_k(w | h)``, mixed in
    log space (no underflow). The mixture is itself a language model: it
    scores, predicts, generates, pickles and clones like any sklm model, and
    the chain rule and the rows-sum-to-one rule hold for it because they hold
    for its components.

    The weights are given, or tuned by EM on held-out samples (SRILM's
    ``compute-best-mix``): ``fit`` holds out ``validation_fraction`` of the
    samples, fits the components on the rest, then finds the weights that
    maximise the likelihood of the held-out samples.

    The components must share one vocabulary (identical ``classes_``): give
    them the same ``vocabulary=``, or give it once to the mixture.

    Parameters
    ----------
    estimators : list of (str, estimator) tuples
        The components: sklm language models, each with a name (used in
        ``get_params``/``set_params`` as ``name__param``). A model already
        fitted and wrapped in :class:`sklearn.frozen.FrozenEstimator` is
        used as it is and never refitted; the others are cloned and fitted.
    weights : "em" or array-like of shape (n_components,), default="em"
        ``"em"`` tunes the weights on held-out samples. An array gives them:
        non-negative, summing to one; the components are then fitted on all
        of ``X``. A component of weight 0 is fitted but never consulted.
    validation_fraction : float in (0, 1), default=0.1
        Share of the samples held out to tune the weights (at least one
        sample). When every component is frozen nothing needs fitting, and
        the weights are tuned on the whole of ``X``.
    max_iter : int, default=1000
        Most EM steps.
    tol : float, default=1e-7
        EM stops once a step raises the held-out mean log-likelihood per
        token by less than this (in nats). Each step costs one pass over an
        array of held-out tokens by components: thousands of steps take
        seconds at most.
    refit : bool, default=False
        After tuning the weights, refit the components that are not frozen
        on all of ``X``. By default they keep the fit on the samples not
        held out: the weights were tuned for exactly those models, which a
        refit makes more confident than the held-out samples showed.
        ``refit=True`` gives them 1 / (1 - validation_fraction) times more
        data, which is worth more when data is scarce.
    vocabulary : list, tuple or set of str, str or path-like, default=None
        A fixed vocabulary for every component the mixture fits (it
        overrides their own ``vocabulary``). ``None``: the components fitted
        by the mixture take the vocabulary of the frozen ones when there are
        any, and otherwise learn their own from the samples they are fitted
        on (the same for all of them when their ``min_count`` and
        ``max_vocab`` agree).
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of the held-out samples.
    verbose : int, default=0
        Above 0, say on stderr which component is being fitted and how the
        weights were tuned.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted components, in the order of ``estimators`` (frozen ones
        as given).
    named_estimators_ : :class:`~sklearn.utils.Bunch`
        The fitted components by name.
    weights_ : ndarray of shape (n_components,)
        The mixture weights, summing to one.
    validation_perplexities_ : ndarray of shape (n_components,) or None
        Each component's perplexity on the held-out samples (``None`` when
        the weights were given).
    validation_perplexity_ : float or None
        The mixture's perplexity on the held-out samples with ``weights_``.
    validation_scores_ : ndarray or None
        The mixture's mean log-probability per held-out token at equal
        weights and after each EM step: never decreasing.
    n_iter_ : int
        EM steps taken (0 when the weights were given).
    converged_ : bool
        Whether EM stopped on ``tol`` rather than ``max_iter``.
    vocabulary_ : dict
        Token -> class index, shared by every component.
    classes_ : ndarray of str
        Class index -> token; ``"<unk>"`` and ``"</s>"`` come first.

    See Also
    --------
    sklm.NGramLM : n-gram models, whose smoothings interpolate orders inside
        one model.
    sklm.LSTMLM : a recurrent model, the usual partner of an n-gram model in
        a mixture.

    Notes
    -----
    A component whose scores are not a distribution (``NGramLM`` with
    ``smoothing="stupid_backoff"``) makes the mixture's scores
    pseudo-likelihoods too. Tokens that every component gives probability
    zero (``smoothing="mle"``) keep probability zero and are left out of the
    weight estimation.

    Examples
    --------
    >>> from sklm import InterpolatedLM, NGramLM
    >>> X = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog",
    ...      "the mat was red", "a dog sat", "the cat ran", "on the log a cat sat",
    ...      "the red dog ran on the mat"]
    >>> lm = InterpolatedLM(
    ...     estimators=[
    ...         ("bigram", NGramLM(order=2, smoothing="witten_bell")),
    ...         ("unigram", NGramLM(order=1, smoothing="add_k")),
    ...     ],
    ...     validation_fraction=0.25,
    ...     random_state=0,
    ... ).fit(X)
    >>> lm.weights_.round(2)
    array([0.63, 0.37])
    >>> lm.validation_perplexities_.round(1), round(lm.validation_perplexity_, 1)
    (array([12.8, 14.9]), 12.1)
    >>> lm.predict(["the dog"])
    array(['sat'], dtype=object)
    >>> lm.predict_proba(["the"]).sum().round(12)
    np.float64(1.0)
    >>> lm.set_params(weights=[0.5, 0.5], bigram__order=3).fit(X).weights_
    array([0.5, 0.5])
    """

    _parameter_constraints = {
        "estimators": [list],
        "weights": [StrOptions({"em"}), "array-like"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "refit": ["boolean"],
        "vocabulary": LanguageModel._parameter_constraints["vocabulary"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        estimators,
        weights="em",
        validation_fraction=0.1,
        max_iter=1000,
        tol=1e-7,
        refit=False,
        vocabulary=None,
        random_state=None,
        verbose=0,
    ):
        self.estimators = estimators
        self.weights = weights
        self.validation_fraction = validation_fraction
        self.max_iter = max_iter
        self.tol = tol
        self.refit = refit
        self.vocabulary = vocabulary
        self.random_state = random_state
        self.verbose = verbose

    # nested parameters, as scikit-learn's VotingClassifier -------------------

    def get_params(self, deep=True):
        """Get the parameters, those of the components as ``name__param``.

        Parameters
        ----------
        deep : bool, default=True
            Also return the components and their parameters.

        Returns
        -------
        params : dict
        """
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        """Set parameters; ``name`` replaces a component, ``name__param`` sets one of its.

        Parameters
        ----------
        **params : dict

        Returns
        -------
        self : InterpolatedLM
        """
        return self._set_params("estimators", **params)

    @property
    def named_estimators(self):
        """The components by name (a :class:`~sklearn.utils.Bunch`)."""
        return Bunch(**dict(self.estimators))

    # fit ---------------------------------------------------------------------

    def _check_estimators(self):
        if not self.estimators:
            raise ValueError("estimators is empty; expected a list of (name, model) tuples.")
        try:
            names, components = zip(*self.estimators)
        except (TypeError, ValueError):
            raise ValueError(
                f"estimators must be a list of (name, model) tuples; got {self.estimators!r:.200}."
            ) from None
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"estimator names must be str; got {name!r}.")
        self._validate_names(names)
        self._check_estimators_are_instances(components)
        for name, component in zip(names, components):
            model = _model(component)
            if not isinstance(model, LanguageModel):
                raise TypeError(
                    f"component {name!r} must be an sklm language model (or a fitted one "
                    f"in sklearn.frozen.FrozenEstimator); got {type(model).__name__}."
                )
            if model is not component:
                check_is_fitted(model, msg=f"frozen component {name!r} is not fitted.")
        return list(names), list(components)

    def _check_weights(self, n_components):
        """The given weights as an array, or None for ``"em"``."""
        if isinstance(self.weights, str):
            return None
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.shape != (n_components,):
            raise ValueError(
                f"weights must hold one weight per component ({n_components}); got "
                f"shape {weights.shape}."
            )
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError(f"weights must be finite and non-negative; got {weights.tolist()}.")
        if abs(weights.sum() - 1) > 1e-6:
            raise ValueError(
                f"weights must sum to 1; got {weights.tolist()} (sum {weights.sum():.8g})."
            )
        return weights

    def _shared_vocabulary(self, names, components):
        """The vocabulary every component the mixture fits is given, or None.

        Fails before any fitting when the frozen components already disagree
        with each other or with the ``vocabulary`` parameter.
        """
        wanted = None
        if self.vocabulary is not None:
            wanted = Vocabulary.from_tokens(read_vocabulary(self.vocabulary))
        frozen = [(n, c) for n, c in zip(names, components) if isinstance(c, FrozenEstimator)]
        if wanted is not None:
            reference = ("the vocabulary parameter", wanted.tokens)
        elif frozen:
            reference = (repr(frozen[0][0]), list(frozen[0][1].classes_))
        else:
            return None
        for name, component in frozen:
            _check_same(reference, (repr(name), list(component.classes_)))
        return Vocabulary(reference[1])

    def _fit_component(self, component, samples, vocabulary, name):
        if isinstance(component, FrozenEstimator):
            return component
        model = clone(component)
        if vocabulary is not None and (
            self.vocabulary is not None or model.get_params(deep=False).get("vocabulary") is None
        ):
            # The classes in id order: read back as a vocabulary, exactly these classes_.
            model.set_params(vocabulary=list(vocabulary.tokens))
        if self.verbose:
            print(
                f"[InterpolatedLM] fitting {name!r} on {len(samples)} samples",
                file=sys.stderr,
                flush=True,
            )
        return model.fit(samples)

    def _fit_components(self, names, components, samples, vocabulary):
        """The fitted components, checked to share one vocabulary."""
        fitted = [
            self._fit_component(component, samples, vocabulary, name)
            for name, component in zip(names, components)
        ]
        classes = [list(_model(c).classes_) for c in fitted]
        for name, other in zip(names[1:], classes[1:]):
            _check_same((repr(names[0]), classes[0]), (repr(name), other))
        return fitted

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the components and set (or tune) the weights.

        Parameters
        ----------
        X : iterable of str or of sequences of str
            Training samples. With ``weights="em"``, ``validation_fraction``
            of them (chosen by ``random_state``) are held out to tune the
            weights and the components are fitted on the rest; otherwise the
            components are fitted on all of them. Frozen components are not
            fitted.
        y : None
            Ignored.

        Returns
        -------
        self : InterpolatedLM
            The fitted mixture.
        """
        names, components = self._check_estimators()
        given = self._check_weights(len(components))
        samples = check_corpus(X)
        shared = self._shared_vocabulary(names, components)
        frozen = [isinstance(c, FrozenEstimator) for c in components]
        tune = given is None
        fit_samples, valid_samples = samples, None
        if tune and all(frozen):
            valid_samples = samples
        elif tune:
            fit_samples, valid_samples = self._split(samples)

        fitted = self._fit_components(names, components, fit_samples, shared)

        report = {
            "validation_perplexities_": None,
            "validation_perplexity_": None,
            "validation_scores_": None,
            "n_iter_": 0,
            "converged_": True,
        }
        if tune:
            corpus = _model(fitted[0])._vocabulary.encode(valid_samples, eos=True)
            log_probs = np.column_stack(
                [np.asarray(_model(c)._log_prob_tokens(corpus), np.float64) for c in fitted]
            )
            given, scores, converged = em_weights(log_probs, max_iter=self.max_iter, tol=self.tol)
            if not converged:
                warnings.warn(
                    f"EM did not converge in max_iter={self.max_iter} steps (last gain in "
                    f"held-out log-likelihood {scores[-1] - scores[-2]:.3g} nats per token, "
                    f"tol={self.tol}); raise max_iter or tol.",
                    ConvergenceWarning,
                    stacklevel=2,
                )
            with np.errstate(divide="ignore", over="ignore"):
                mixed = _mix([log_probs[:, k] for k in range(len(fitted))], np.log(given))
            report = {
                "validation_perplexities_": np.exp(-log_probs.mean(axis=0)),
                "validation_perplexity_": float(np.exp(-mixed.mean())),
                "validation_scores_": scores,
                "n_iter_": len(scores) - 1,
                "converged_": converged,
            }
            if self.verbose:
                print(
                    f"[InterpolatedLM] EM: {len(scores) - 1} steps, weights "
                    + ", ".join(f"{n}={w:.4f}" for n, w in zip(names, given))
                    + f"; held-out perplexity {report['validation_perplexity_']:.2f}",
                    file=sys.stderr,
                    flush=True,
                )
            if self.refit and not all(frozen):
                fitted = self._fit_components(names, components, samples, shared)

        # Assigned only now, all at once: a failed fit changes nothing.
        self.__dict__.update(report)
        self.estimators_ = fitted
        self.named_estimators_ = Bunch(**dict(zip(names, fitted)))
        self.weights_ = given
        self._set_vocabulary(_model(fitted[0])._vocabulary)
        return self

    def _split(self, samples):
        """The samples to fit the components on and those held out."""
        n = len(samples)
        n_valid = max(1, int(round(self.validation_fraction * n)))
        if n - n_valid < 1:
            raise ValueError(
                f"weights='em' needs at least 2 samples (one to fit the components on, one "
                f"to tune the weights on with validation_fraction={self.validation_fraction}"
                f"); X has {n}. Give the weights, or freeze fitted components."
            )
        order = check_random_state(self.random_state).permutation(n)
        valid = np.sort(order[:n_valid])
        train = np.sort(order[n_valid:])
        return [samples[i] for i in train], [samples[i] for i in valid]

    # scoring hooks -------------------------------------------------------------

    def _active(self):
        """``(model, log weight)`` of the components with a non-zero weight."""
        return [
            (_model(component), np.log(weight))
            for component, weight in zip(self.estimators_, self.weights_)
            if weight > 0
        ]

    def _log_prob_tokens(self, corpus):
        models, log_weights = zip(*self._active())
        return _mix([m._log_prob_tokens(corpus) for m in models], log_weights)

    def _next_log_proba(self, contexts):
        models, log_weights = zip(*self._active())
        return _mix([m._next_log_proba(contexts) for m in models], log_weights)

    def _generation_start(self, contexts):
        models, log_weights = zip(*self._active())
        states, log_probas = zip(*(m._generation_start(contexts) for m in models))
        return list(states), _mix(log_probas, log_weights)

    def _generation_step(self, state, next_ids, active):
        models, log_weights = zip(*self._active())
        stepped = [m._generation_step(s, next_ids, active) for m, s in zip(models, state)]
        states, log_probas = zip(*stepped)
        return list(states), _mix(log_probas, log_weights)

    # persistence -----------------------------------------------------------------

    _REPORT = ("validation_perplexities_", "validation_scores_")

    def _save_state(self):
        """The fitted state for :func:`sklm.save`: ``(meta, arrays)``.

        ``meta["components"]`` holds the fitted components (estimators, which
        the saver stores as nested ones), ``None`` for a frozen component:
        that one is the ``estimators`` parameter itself, saved with it.
        """
        check_is_fitted(self)
        meta = {
            "names": [name for name, _ in self.estimators],
            "components": [
                None if isinstance(component, FrozenEstimator) else component
                for component in self.estimators_
            ],
            "validation_perplexity": self.validation_perplexity_,
            "n_iter": int(self.n_iter_),
            "converged": bool(self.converged_),
        }
        arrays = {"weights": np.asarray(self.weights_, np.float64)}
        for name in self._REPORT:
            if getattr(self, name) is not None:
                arrays[name.rstrip("_")] = np.asarray(getattr(self, name), np.float64)
        return meta, arrays

    def _load_state(self, meta, arrays, *, verify=True):
        """Restore what :meth:`_save_state` gave, checking it fits the parameters."""
        names = [name for name, _ in self.estimators]
        saved = meta["components"]
        if list(meta["names"]) != names or not isinstance(saved, list) or len(saved) != len(names):
            raise ValueError(
                f"the saved mixture's components {meta['names']!r:.200} are not those of "
                f"its estimators parameter {names}."
            )
        components = []
        for (name, param), component in zip(self.estimators, saved):
            if component is None:
                component = param
                if not isinstance(component, FrozenEstimator):
                    raise ValueError(f"component {name!r} is missing.")
            if not isinstance(_model(component), LanguageModel):
                raise TypeError(f"component {name!r} is not an sklm language model.")
            check_is_fitted(_model(component), msg=f"component {name!r} is not fitted.")
            components.append(component)
        weights = np.asarray(arrays["weights"], np.float64)
        if (
            weights.shape != (len(names),)
            or not np.all(np.isfinite(weights))
            or np.any(weights < 0)
            or abs(weights.sum() - 1) > 1e-6
        ):
            raise ValueError(
                f"the saved weights {weights.tolist()!r:.200} do not fit the {len(names)} "
                "components: one non-negative weight each, summing to 1."
            )
        classes = [list(_model(c).classes_) for c in components]
        for name, other in zip(names[1:], classes[1:]):
            _check_same((repr(names[0]), classes[0]), (repr(name), other))
        validation_perplexity = meta["validation_perplexity"]
        if validation_perplexity is not None:
            validation_perplexity = float(validation_perplexity)
        report = {name: arrays.get(name.rstrip("_")) for name in self._REPORT}
        self.__dict__.update(report)
        self.validation_perplexity_ = validation_perplexity
        self.n_iter_ = int(meta["n_iter"])
        self.converged_ = bool(meta["converged"])
        self.estimators_ = components
        self.named_estimators_ = Bunch(**dict(zip(names, components)))
        self.weights_ = weights
        self._set_vocabulary(_model(components[0])._vocabulary)


def _mix(log_probs, log_weights):
    """``log sum_k exp(log_weights[k] + log_probs[k])``, elementwise, in float64."""
    out = None
    for lp, lw in zip(log_probs, log_weights):
        term = np.asarray(lp, dtype=np.float64) + lw
        out = term if out is None else np.logaddexp(out, term)
    return out


def _check_same(reference, other):
    """Raise a ValueError naming the first difference of two class lists."""
    (ref_name, ref), (name, classes) = reference, other
    if ref == classes:
        return
    if len(ref) != len(classes):
        detail = f"{ref_name} has {len(ref)} classes, {name} has {len(classes)}"
    else:
        i = next(i for i, (a, b) in enumerate(zip(ref, classes)) if a != b)
        detail = f"class {i} is {ref[i]!r} in {ref_name} and {classes[i]!r} in {name}"
    raise ValueError(
        "the components of an InterpolatedLM must share one vocabulary (identical "
        f"classes_), but {detail}. Fit them with one vocabulary: pass vocabulary= to "
        "the InterpolatedLM (every component it fits is given it) or the same "
        "vocabulary= to every component before fitting or freezing it."
    )


__all__ = ["InterpolatedLM", "em_weights"]
