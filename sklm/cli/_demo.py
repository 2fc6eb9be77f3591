"""The ``sklm`` command: a demo on the built-in corpus, and fit / score / sample on files.

Every subcommand is a function ``_run_<name>(args, out)`` that writes to
``out`` and returns an exit status; :func:`main` parses the arguments, calls
it, and turns any error into a one-line message on stderr and exit status 2.

The demo is a list of sections (:data:`DEMO_SECTIONS`), each a function
``section(ctx)`` that reads and extends a shared :class:`DemoContext`; a new
section is one more function appended to that list.
"""

import argparse
import math
import sys
import textwrap
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROG = "sklm"
SMOOTHINGS = (
    "kneser_ney",
    "witten_bell",
    "absolute_discounting",
    "add_k",
    "stupid_backoff",
    "mle",
)
# Words seen once in the demo's training part become <unk>, so <unk> is
# trained like any word (the PTB convention) and every model, stupid_backoff
# included, can score the test part's unseen words.
DEMO_MIN_COUNT = 2
# The recurrent models of the demo: sized to train in well under a minute
# each on two CPU cores and still reach the perplexity of the bigram models
# (more epochs overfit this small corpus). --quick shrinks them further.
DEMO_NEURAL = ("RNNLM", "LSTMLM", "GRULM")
DEMO_NEURAL_PARAMS = dict(
    embedding_dim=64,
    hidden_size=128,
    learning_rate=3e-3,
    batch_size=32,
    max_epochs=6,
    softmax="adaptive",
    min_count=DEMO_MIN_COUNT,
)
DEMO_NEURAL_QUICK = dict(embedding_dim=16, hidden_size=32, max_epochs=2)
# `sklm fit --model NAME`: the estimator class each name fits.
MODELS = {"ngram": "NGramLM", "rnn": "RNNLM", "lstm": "LSTMLM", "gru": "GRULM"}
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
_ARPA_SUFFIXES = (".arpa", ".arpa.gz")
_NPZ_SUFFIXES = (".npz",)


class CommandError(Exception):
    """An error the user can fix; printed without a traceback."""


# reading and writing ---------------------------------------------------------


def _read_lines(path):
    """The non-empty lines of a text file (``-`` for stdin), whitespace-normalised."""
    if str(path) == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            raise CommandError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise CommandError(f"{path}: is a directory, expected a text file") from None
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
    samples = [" ".join(line.split()) for line in lines]
    samples = [s for s in samples if s]
    if not samples:
        raise CommandError(f"{path}: no non-empty line; expected one sample per line")
    return samples


def _format(path):
    name = str(path).lower()
    if name.endswith(_ARPA_SUFFIXES):
        return "arpa"
    if name.endswith(_PICKLE_SUFFIXES):
        return "pickle"
    if name.endswith(_NPZ_SUFFIXES):
        return "npz"
    raise CommandError(
        f"{path}: cannot tell the model format from the file name; use "
        + ", ".join(_PICKLE_SUFFIXES + _ARPA_SUFFIXES + _NPZ_SUFFIXES)
    )


def _is_language_model(obj):
    from sklearn.pipeline import Pipeline

    from .base import LanguageModel

    if isinstance(obj, Pipeline):
        obj = obj[-1]
    return isinstance(obj, LanguageModel)


def load_model(path):
    """Load a model saved by ``sklm fit`` (or joblib/pickle), an ARPA file or a ``.npz`` file.

    A ``.npz`` file is a neural model written by ``RecurrentLM.save`` (read
    with ``RecurrentLM.load``, which runs no code from the file). Pickle
    files run code when loaded: load only files you trust.
    """
    kind = _format(path)
    if not Path(path).is_file():
        raise CommandError(f"{path}: no such file")
    if kind == "arpa":
        from .ngram import NGramLM

        return NGramLM.from_arpa(path)
    if kind == "npz":
        from .neural import RecurrentLM

        try:
            return RecurrentLM.load(path)
        except Exception as exc:  # a zip or npz that is not ours: many error types
            raise CommandError(
                f"{path}: not a neural model written by sklm ({type(exc).__name__}: {exc})"
            ) from None
    import joblib

    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling raises anything the file asks for
        raise CommandError(
            f"{path}: not a readable model file ({type(exc).__name__}: {exc})"
        ) from None
    if not _is_language_model(model):
        raise CommandError(
            f"{path}: holds a {type(model).__name__}, not an sklm language model "
            "or a Pipeline ending in one"
        )
    return model


def _check_format(model_name, path):
    """Fail before any work when ``path``'s format cannot hold a ``model_name`` model."""
    kind = _format(path)
    if kind == "arpa" and model_name != "NGramLM":
        raise CommandError(
            f"{path}: ARPA files hold n-gram models only; save a {model_name} as "
            ".npz (safe to share) or .pkl/.joblib"
        )
    if kind == "npz" and model_name == "NGramLM":
        raise CommandError(
            f"{path}: .npz files hold neural models (RNNLM, LSTMLM, GRULM) only; save an "
            "NGramLM as .arpa/.arpa.gz or .pkl/.joblib"
        )
    return kind


def save_model(model, path):
    """Save ``model`` in the format its file name says (see :func:`load_model`)."""
    kind = _check_format(type(model).__name__, path)
    if kind == "arpa":
        model.to_arpa(path)
    elif kind == "npz":
        model.save(path)
    else:
        import joblib

        joblib.dump(model, path)


def _describe_model(model):
    from sklearn.pipeline import Pipeline

    lm = model[-1] if isinstance(model, Pipeline) else model
    params = lm.get_params(deep=False)
    names = ("order", "smoothing", "embedding_dim", "hidden_size", "num_layers")
    shown = {k: params[k] for k in names if k in params}
    text = type(lm).__name__ + "(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"
    if lm is not model:
        text = "Pipeline(..., " + text + ")"
    return f"{text}, {len(lm.classes_):,} types"


# fit / score / sample ----------------------------------------------------------


# The options of `sklm fit` that only one kind of model takes: option dest ->
# the estimator parameter it sets.
_NGRAM_OPTIONS = {
    "order": "order", "smoothing": "smoothing", "alpha": "alpha",
    "discount": "discount", "backoff": "backoff",
}
_NEURAL_OPTIONS = {
    "embedding_dim": "embedding_dim", "hidden_size": "hidden_size",
    "num_layers": "num_layers", "dropout": "dropout", "max_epochs": "max_epochs",
    "max_time": "max_time", "learning_rate": "learning_rate", "batch_size": "batch_size",
    "softmax": "softmax", "device": "device", "threads": "n_threads", "seed": "random_state",
}


def _option(dest):
    return "--" + dest.replace("_", "-")


def _model_params(args):
    """The estimator class name and parameters that the options of ``sklm fit`` ask for."""
    neural = args.model != "ngram"
    own, other = (_NEURAL_OPTIONS, _NGRAM_OPTIONS) if neural else (_NGRAM_OPTIONS, _NEURAL_OPTIONS)
    wrong = [_option(dest) for dest in other if getattr(args, dest) is not None]
    if wrong:
        kind = "--model ngram" if neural else "the neural models (--model rnn, lstm, gru)"
        raise CommandError(
            f"{', '.join(wrong)} {'applies' if len(wrong) == 1 else 'apply'} to {kind} "
            f"only, not to --model {args.model}"
        )
    params = {"min_count": args.min_count}
    if args.max_vocab is not None:
        params["max_vocab"] = args.max_vocab
    for dest, param in own.items():
        if getattr(args, dest) is not None:
            params[param] = getattr(args, dest)
    if neural:
        params["verbose"] = 0 if args.quiet else 1  # progress on stderr
    else:
        params.setdefault("order", 3)
        params.setdefault("smoothing", "kneser_ney")
    return MODELS[args.model], params


def _estimator_class(name):
    # sklm imports torch only when a neural class is asked for.
    import sklm

    return getattr(sklm, name)


def _run_fit(args, out):
    name, params = _model_params(args)
    out_format = _check_format(name, args.output)  # fail before the work, not after it
    samples = _read_lines(args.train)
    model = _estimator_class(name)(**params)
    start = time.perf_counter()
    model.fit(samples)
    elapsed = time.perf_counter() - start
    n_tokens = sum(len(s.split()) for s in samples)
    if out_format == "arpa" and params.get("smoothing") == "stupid_backoff":
        print(
            f"{PROG} fit: note: stupid_backoff scores are not probabilities; "
            "the ARPA file holds them as they are",
            file=sys.stderr,
        )
    save_model(model, args.output)
    epochs = ""
    if hasattr(model, "history_"):
        epochs = f" ({len(model.history_)} epoch{'s' if len(model.history_) != 1 else ''})"
    print(
        f"fitted {_describe_model(model)} on {len(samples):,} lines, "
        f"{n_tokens:,} tokens in {elapsed:.2f} s{epochs}; wrote {args.output}",
        file=out,
    )
    return 0


def _run_score(args, out):
    from .metrics import oov_report

    model = load_model(args.model)
    samples = _read_lines(args.test)
    if args.per_line:
        per_line = model.score_samples(samples)
        for text, log_prob in zip(samples, per_line):
            print(f"{log_prob:.4f}\t{text}", file=out)
        print(file=out)
    report = oov_report(model, samples)
    n_tokens = report["n_predictions"] - report["n_samples"]
    rows = [
        ("model", f"{args.model} ({_describe_model(model)})"),
        ("samples", f"{report['n_samples']:,}"),
        ("tokens", f"{n_tokens:,} (+ {report['n_samples']:,} </s> = "
                   f"{report['n_predictions']:,} predictions)"),
        ("OOVs", f"{report['n_oov']:,} ({100 * report['oov_rate']:.2f} % of tokens)"),
        ("log-prob", f"{report['log_prob']:.4f} (natural log; "
                     f"log10 {report['log_prob'] / math.log(10):.4f})"),
        ("perplexity", f"{report['perplexity']:.4f}"),
        ("perplexity excluding OOVs", f"{report['perplexity_excluding_oov']:.4f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}", file=out)
    return 0


def _run_sample(args, out):
    from .generation import generate

    model = load_model(args.model)
    texts = generate(
        model,
        args.prompt,
        n_samples=args.n,
        max_length=args.max_length,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        random_state=args.seed,
    )
    for text in texts:
        print(text, file=out)
    return 0


# demo ----------------------------------------------------------------------------


@dataclass
class DemoContext:
    """What the demo sections share: the options, the data and the fitted models."""

    args: argparse.Namespace
    out: object
    tokenizer: object = None
    train: list = field(default_factory=list)  # token lists
    test: list = field(default_factory=list)
    models: dict = field(default_factory=dict)  # (smoothing, order) -> fitted NGramLM
    perplexities: dict = field(default_factory=dict)  # (smoothing, order) -> float
    neural: dict = field(default_factory=dict)  # class name -> fitted RNNLM/LSTMLM/GRULM
    neural_perplexities: dict = field(default_factory=dict)  # class name -> float

    def print(self, *parts, **kwargs):
        print(*parts, file=self.out, flush=True, **kwargs)

    def heading(self, title):
        self.print()
        self.print(title)
        self.print("=" * len(title))

    def best(self, smoothing="kneser_ney"):
        """The order of ``smoothing`` with the lowest test perplexity, and its model."""
        orders = [o for (s, o) in self.perplexities if s == smoothing]
        order = min(orders, key=lambda o: self.perplexities[smoothing, o])
        return order, self.models[smoothing, order]


def _demo_corpus(ctx):
    from .datasets import load_pydoc
    from .preprocessing import Tokenizer

    ctx.heading("The corpus")
    train, test = load_pydoc(subset="train"), load_pydoc(subset="test")
    train_texts, test_texts = train.data, test.data
    if ctx.args.quick:
        # Every tenth sentence: same variety, a tenth of the work.
        train_texts, test_texts = train_texts[::10], test_texts[::10]
    ctx.tokenizer = Tokenizer()  # lowercase words, punctuation as separate tokens
    ctx.train = ctx.tokenizer.transform(train_texts)
    ctx.test = ctx.tokenizer.transform(test_texts)
    n_train = sum(map(len, ctx.train))
    n_test = sum(map(len, ctx.test))
    counts = Counter(t for s in ctx.train for t in s)
    types = len(counts)
    ctx.print(
        f"CPython {train.python_version} reference documentation (sklm.datasets.load_pydoc),"
        " one sentence per sample,"
    )
    ctx.print("tokenized with sklm.Tokenizer() (lowercase; punctuation marks are tokens).")
    ctx.print(f"  train: {len(ctx.train):,} sentences, {n_train:,} tokens, {types:,} types")
    ctx.print(f"  test:  {len(ctx.test):,} sentences, {n_test:,} tokens")
    n_vocab = len({t for s in ctx.train for t in s if counts[t] >= DEMO_MIN_COUNT})
    ctx.print(
        f"  vocabulary: the {n_vocab:,} words seen at least {DEMO_MIN_COUNT} times in train "
        "(min_count); the others read as <unk>"
    )
    ctx.print(f"  e.g. {train_texts[0]!r}")
    ctx.print(f"    -> {ctx.train[0]}")


def _fit_quietly(model, X):
    """Fit ``model``; return the distinct warning messages instead of printing them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    return list(dict.fromkeys(str(w.message) for w in caught))


def _demo_perplexity(ctx):
    from .metrics import oov_report, perplexity
    from .ngram import NGramLM

    orders = range(1, ctx.args.max_order + 1)
    ctx.heading(f"Perplexity of n-gram models, orders 1 to {ctx.args.max_order}")
    ctx.print("Each model is fitted on the train sentences and scored on the test sentences.")
    total = time.perf_counter()
    shown = set()
    for smoothing in SMOOTHINGS:
        for order in orders:
            model = NGramLM(order=order, smoothing=smoothing, min_count=DEMO_MIN_COUNT)
            start = time.perf_counter()
            notes = _fit_quietly(model, ctx.train)
            fit_s = time.perf_counter() - start
            with np.errstate(divide="ignore", over="ignore"):
                ppl = perplexity(model, ctx.test)
            ctx.models[smoothing, order] = model
            ctx.perplexities[smoothing, order] = ppl
            ctx.print(
                f"  {smoothing:<20} order {order}  fit {fit_s:5.2f} s   "
                f"test perplexity {ppl:10.2f}"
            )
            for note in notes:
                if note not in shown:  # the same fallback recurs at every order
                    shown.add(note)
                    ctx.print(f"      note: {note}")
    ctx.print(f"  ({len(SMOOTHINGS) * len(orders)} models in {time.perf_counter() - total:.1f} s)")

    ctx.print()
    ctx.print("Test perplexity (lower is better):")
    ctx.print(f"  {'smoothing':<20}" + "".join(f"{'order ' + str(o):>12}" for o in orders))
    for smoothing in SMOOTHINGS:
        cells = "".join(f"{ctx.perplexities[smoothing, o]:12.2f}" for o in orders)
        mark = " *" if smoothing == "stupid_backoff" else ""
        ctx.print(f"  {smoothing:<20}{cells}{mark}")
    ctx.print("  mle gives any n-gram unseen in training probability 0, so one such n-gram")
    ctx.print("  in the test set makes its perplexity infinite: the reason smoothing exists.")
    ctx.print("  * stupid_backoff scores are not normalised probabilities: a pseudo-perplexity,")
    ctx.print("    not comparable with the others.")
    if shown:
        ctx.print(
            f"  With min_count={DEMO_MIN_COUNT} no word of the vocabulary is seen only once,"
            " so the"
        )
        ctx.print("  unigram discounts (estimated from the words seen once and twice) fall back")
        ctx.print("  to fixed values where the raw unigram counts are used.")

    order, best = ctx.best()
    report = oov_report(best, ctx.test)
    ctx.print()
    ctx.print(f"Out-of-vocabulary words (kneser_ney, order {order}):")
    ctx.print(
        f"  {report['n_oov']:,} of {report['n_predictions'] - report['n_samples']:,} test tokens "
        f"are outside the vocabulary (OOV rate {100 * report['oov_rate']:.2f} %);"
    )
    ctx.print(
        f"  perplexity {report['perplexity']:.2f} with them (scored as <unk>), "
        f"{report['perplexity_excluding_oov']:.2f} without them."
    )


def _demo_neural(ctx):
    if not ctx.args.neural:
        return
    from .metrics import perplexity

    params = dict(DEMO_NEURAL_PARAMS)
    if ctx.args.quick:
        params.update(DEMO_NEURAL_QUICK)
    params.update(
        max_time=ctx.args.max_time,
        n_threads=ctx.args.threads,
        random_state=ctx.args.seed,
        verbose=1,
    )
    ctx.heading("Recurrent neural models")
    ctx.print("RNNLM, LSTMLM and GRULM (sklm.neural, PyTorch), fitted and scored on the same")
    ctx.print(f"sentences, with the same vocabulary (min_count={DEMO_MIN_COUNT}) as the n-grams:")
    ctx.print(
        f"  embedding_dim={params['embedding_dim']}, hidden_size={params['hidden_size']}, "
        f"softmax={params['softmax']!r}, learning_rate={params['learning_rate']}, "
        f"batch_size={params['batch_size']},"
    )
    ctx.print(
        f"  at most {params['max_epochs']} epochs or {params['max_time']:g} s each "
        f"(max_epochs, max_time), {params['n_threads']} CPU "
        f"thread{'s' if params['n_threads'] != 1 else ''} (n_threads)."
    )
    ctx.print("  Progress on stderr (verbose=1): one line per epoch.")
    total = time.perf_counter()
    for name in DEMO_NEURAL:
        model = _estimator_class(name)(**params)
        ctx.print(f"  {name}: training ...")
        start = time.perf_counter()
        model.fit(ctx.train)
        fit_s = time.perf_counter() - start
        ppl = perplexity(model, ctx.test)
        ctx.neural[name] = model
        ctx.neural_perplexities[name] = ppl
        n_epochs = len(model.history_)
        stopped = "" if model.history_[-1]["complete"] else ", stopped by max_time"
        ctx.print(
            f"  {name:<20} {n_epochs} epoch{'s' if n_epochs != 1 else ' '}  "
            f"fit {fit_s:5.2f} s   test perplexity {ppl:10.2f}   "
            f"({model.n_parameters_:,} weights on {model.device_}{stopped})"
        )
    ctx.print(f"  ({len(DEMO_NEURAL)} models in {time.perf_counter() - total:.1f} s)")

    # Side by side with the n-grams: the normalised kneser_ney models of
    # every order (stupid_backoff's pseudo-perplexity does not compare).
    rows = [(f"kneser_ney order {o}", p) for (sm, o), p in ctx.perplexities.items()
            if sm == "kneser_ney"]
    rows += list(ctx.neural_perplexities.items())
    best_order, _ = ctx.best()
    ctx.print()
    ctx.print("Test perplexity, neural and n-gram (lower is better):")
    ctx.print(f"  {'model':<24}{'perplexity':>12}")
    best = min(rows, key=lambda r: r[1])[0]
    for label, ppl in rows:
        mark = "  <- lowest" if label == best else ""
        ctx.print(f"  {label:<24}{ppl:12.2f}{mark}")
    ngram_best = ctx.perplexities["kneser_ney", best_order]
    neural_best = min(ctx.neural_perplexities, key=ctx.neural_perplexities.get)
    ctx.print(
        f"  Best n-gram: kneser_ney order {best_order} ({ngram_best:.2f}); "
        f"best neural: {neural_best} ({ctx.neural_perplexities[neural_best]:.2f})."
    )
    if ngram_best <= ctx.neural_perplexities[neural_best]:
        ctx.print("  On a corpus this small, counts with Kneser-Ney smoothing are hard to beat;")
        ctx.print("  with more data and training (the Penn Treebank, WikiText) recurrent models")
        ctx.print("  overtake them.")

    seed = ctx.args.seed
    detok = ctx.tokenizer.inverse_transform
    prompt = ctx.tokenizer.tokenize("The default value")
    ctx.print()
    ctx.print(f"Samples (seed {seed}) of each: a sentence (temperature 1), and a continuation")
    ctx.print("of a prompt (temperature 0.8, top_p 0.95):")
    for name, model in ctx.neural.items():
        free = model.sample(1, max_length=40, random_state=seed)[0]
        cont = model.sample(
            1, prompt=prompt, max_length=40, temperature=0.8, top_p=0.95, random_state=seed
        )[0]
        ctx.print(f"  {name}:")
        ctx.print("    " + detok([free])[0])
        ctx.print("    " + detok([prompt + cont])[0])


def _demo_generation(ctx):
    # A trigram model: the higher orders mostly replay training sentences
    # word for word on a corpus this small.
    order = min(3, ctx.args.max_order)
    model = ctx.models["kneser_ney", order]
    seed = ctx.args.seed
    ctx.heading(f"Generation (kneser_ney, order {order}, seed {seed})")
    detok = ctx.tokenizer.inverse_transform
    ctx.print("Sampled sentences (temperature 1):")
    for tokens in model.sample(3, max_length=40, random_state=seed):
        ctx.print("  " + detok([tokens])[0])
    ctx.print("Continuations of a prompt (temperature 0.8, top_p 0.95):")
    prompt = ctx.tokenizer.tokenize("The default value")
    for tokens in model.sample(
        3, prompt=prompt, max_length=40, temperature=0.8, top_p=0.95, random_state=seed
    ):
        ctx.print("  " + detok([prompt + tokens])[0])
    greedy = model.sample(1, prompt=prompt, max_length=40, temperature=0)[0]
    ctx.print("Greedy (temperature 0): always the most likely next token:")
    ctx.print("  " + detok([prompt + greedy])[0])


# Sentences that read naturally in this corpus: the shuffles of each should
# rank below it. The second group keeps the words and changes one of them.
_SCORING_SENTENCE = "If the argument is omitted, the default value is used."
_SCORING_VARIANTS = (
    "The exception is raised if the key is not found.",
    "The exception is raised if the key is not find.",
    "The exception is raise if the key is not found.",
    "The exception are raised if the key is not found.",
)


def _rank(ctx, candidates, models):
    tokens = ctx.tokenizer.transform(candidates)
    scores = {name: m.score_samples(tokens) for name, m in models.items()}
    first = next(iter(models))
    order = np.argsort(-scores[first], kind="stable")
    header = "".join(f"{name:>18}" for name in models)
    ctx.print(f"  rank{header}  sentence")
    for rank, i in enumerate(order, 1):
        cells = "".join(f"{scores[name][i]:18.2f}" for name in models)
        ctx.print(f"  {rank:>4}{cells}  {candidates[i]}")


def _demo_scoring(ctx):
    order, model = ctx.best()
    ctx.heading("Scoring: which sentence is more likely?")
    ctx.print(
        "A language model ranks candidate sentences by probability, as speech and OCR"
    )
    ctx.print("systems do when they rescore their hypotheses. Log-probabilities (natural log):")
    models = {f"kneser_ney {order}-gram": model}
    if ("kneser_ney", 1) in ctx.models:
        models["kneser_ney 1-gram"] = ctx.models["kneser_ney", 1]
    if ctx.neural:
        name = min(ctx.neural_perplexities, key=ctx.neural_perplexities.get)
        models[name] = ctx.neural[name]
    rng = np.random.RandomState(ctx.args.seed)
    words = _SCORING_SENTENCE.split()
    candidates = [_SCORING_SENTENCE]
    while len(candidates) < 5:
        shuffled = " ".join(rng.permutation(words))
        if shuffled not in candidates:
            candidates.append(shuffled)
    ctx.print()
    ctx.print("Word order (the sentence and shuffles of its words):")
    _rank(ctx, candidates, models)
    ctx.print("  A unigram model gives every shuffle the same score: only context sees order.")
    ctx.print()
    ctx.print("Word choice (one word changed):")
    _rank(ctx, list(_SCORING_VARIANTS), models)


DEMO_SECTIONS = [_demo_corpus, _demo_perplexity, _demo_neural, _demo_generation, _demo_scoring]


def _run_demo(args, out):
    start = time.perf_counter()
    ctx = DemoContext(args=args, out=out)
    for section in DEMO_SECTIONS:
        section(ctx)
    ctx.print()
    ctx.print(f"Demo finished in {time.perf_counter() - start:.1f} s.")
    return 0


# argument parsing ------------------------------------------------------------------


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


_DESCRIPTION = """\
Language models as scikit-learn estimators. Fit n-gram and recurrent
neural (RNN, LSTM, GRU) models on text files, score test files
(perplexity, OOV figures), and generate text. Text files hold one sample
(sentence) per line, split on whitespace as KenLM does; blank lines are
skipped. Natural log throughout."""

_EPILOG = """\
examples:
  sklm demo                                  the tour, on the built-in corpus
  sklm fit train.txt -o model.arpa --order 5
  sklm fit train.txt -o lstm.npz --model lstm --max-epochs 5
  sklm score model.arpa test.txt
  sklm sample model.pkl --n 3 --prompt "the" --seed 0

run 'sklm COMMAND --help' for the options of a command."""


def _para(text):
    return textwrap.fill(text, width=79)


_MODEL_HELP = "a saved model: .pkl/.pickle/.joblib (joblib), .arpa/.arpa.gz or .npz (neural)"


def build_parser():
    """The argument parser of the ``sklm`` command."""
    from . import __version__

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG, description=_DESCRIPTION, epilog=_EPILOG, formatter_class=fmt
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of an error"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="fit and compare n-gram and neural models on the built-in corpus",
        description=_para(
            "Fit n-gram models of every order up to --max-order with each main smoothing "
            "on the reference documentation shipped with Python (no download) and print "
            "a perplexity table and the OOV rate; train small RNN, LSTM and GRU models "
            "on the same data (a minute or so on two CPU cores, progress on stderr) and "
            "print their perplexity next to the n-grams' with samples of their text; "
            "then generate sentences and rank candidate sentences by probability."
        ),
        epilog=(
            "examples:\n  sklm demo\n  sklm demo --max-order 3 --seed 1\n"
            "  sklm demo --no-neural          (n-grams only: a few seconds)\n"
            "  sklm demo --quick              (a tenth of the corpus, tiny networks)"
        ),
        formatter_class=fmt,
    )
    demo.add_argument(
        "--max-order", type=_positive_int, default=5, metavar="N",
        help="highest n-gram order fitted (default: 5)",
    )
    demo.add_argument(
        "--quick", action="store_true",
        help="use a tenth of the corpus and tiny networks (a fast check that everything runs)",
    )
    demo.add_argument(
        "--no-neural", dest="neural", action="store_false",
        help="leave out the neural models (no PyTorch needed)",
    )
    demo.add_argument(
        "--max-time", type=_positive_float, default=40.0, metavar="SECONDS",
        help="training time limit of each neural model (default: 40)",
    )
    demo.add_argument(
        "--threads", type=_positive_int, default=1, metavar="N",
        help="CPU threads of each neural model (default: 1; small networks gain little "
        "from more, and lose much on a busy machine)",
    )
    demo.add_argument(
        "--seed", type=int, default=0,
        help="random seed of the neural models and the samples (default: 0)",
    )
    demo.set_defaults(run=_run_demo)

    fit = commands.add_parser(
        "fit",
        help="fit an n-gram or neural model on a text file and save it",
        description=_para(
            "Fit a model on TRAIN (one sample per line) and save it: an NGramLM (the "
            "default), or with --model rnn, lstm or gru an RNNLM, LSTMLM or GRULM (progress "
            "on stderr). The format follows the output name: .pkl/.pickle/.joblib (joblib, "
            "exact, loads back any model), .arpa/.arpa.gz (n-grams: the ARPA text format "
            "that KenLM, SRILM and others read) or .npz (neural models: JSON and arrays, "
            "runs no code when loaded, safe to share)."
        ),
        epilog=(
            "examples:\n"
            "  sklm fit train.txt -o model.arpa.gz\n"
            "  sklm fit train.txt -o model.pkl --order 4 --smoothing witten_bell\n"
            "  sklm fit train.txt -o addk.pkl --smoothing add_k --alpha 0.1 --min-count 2\n"
            "  sklm fit train.txt -o lstm.npz --model lstm --hidden-size 256 --max-time 600"
        ),
        formatter_class=fmt,
    )
    fit.add_argument(
        "train", metavar="TRAIN", help="training text, one sample per line ('-': stdin)"
    )
    fit.add_argument(
        "-o", "--output", required=True, metavar="MODEL", help="where to save the model"
    )
    fit.add_argument(
        "--model", choices=tuple(MODELS), default="ngram",
        help="ngram: NGramLM (default); rnn, lstm, gru: RNNLM, LSTMLM, GRULM",
    )
    fit.add_argument(
        "--min-count", type=_positive_int, default=1, metavar="N",
        help="words seen fewer than N times become <unk> (default: 1)",
    )
    fit.add_argument(
        "--max-vocab", type=_positive_int, metavar="N",
        help="keep only the N most frequent words",
    )
    ngram = fit.add_argument_group("n-gram options (--model ngram)")
    ngram.add_argument(
        "--order", type=_positive_int, metavar="N", help="n-gram order (default: 3)"
    )
    ngram.add_argument(
        "--smoothing", choices=SMOOTHINGS, help="smoothing method (default: kneser_ney)"
    )
    ngram.add_argument("--alpha", type=float, help="add_k: pseudo-count added to every count")
    ngram.add_argument("--discount", type=float, help="absolute_discounting: the discount")
    ngram.add_argument("--backoff", type=float, help="stupid_backoff: the back-off factor")
    nn_options = fit.add_argument_group("neural options (--model rnn, lstm, gru)")
    nn_options.add_argument("--embedding-dim", type=_positive_int, metavar="N",
                    help="size of the word embeddings (default: 64)")
    nn_options.add_argument("--hidden-size", type=_positive_int, metavar="N",
                    help="size of the recurrent state (default: 128)")
    nn_options.add_argument("--num-layers", type=_positive_int, metavar="N",
                    help="stacked recurrent layers (default: 1)")
    nn_options.add_argument("--dropout", type=float, metavar="P", help="dropout rate (default: 0)")
    nn_options.add_argument("--max-epochs", type=_positive_int, metavar="N",
                    help="passes over the training data (default: 10)")
    nn_options.add_argument("--max-time", type=_positive_float, metavar="SECONDS",
                    help="stop training after this long (default: no limit)")
    nn_options.add_argument("--learning-rate", type=_positive_float, metavar="LR",
                    help="Adam's learning rate (default: 0.001)")
    nn_options.add_argument("--batch-size", type=_positive_int, metavar="N",
                    help="samples per batch (default: 20)")
    nn_options.add_argument("--softmax", choices=("full", "adaptive"),
                    help="output layer; adaptive is faster on large vocabularies (default: full)")
    nn_options.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 or mps")
    nn_options.add_argument("--threads", type=_positive_int, metavar="N",
                    help="CPU threads of torch (default: torch's, one per core)")
    nn_options.add_argument("--seed", type=int, help="random seed of the weights and batch order")
    nn_options.add_argument("--quiet", action="store_true", help="no progress on stderr")
    fit.set_defaults(run=_run_fit)

    score = commands.add_parser(
        "score",
        help="perplexity and OOV figures of a model on a text file",
        description=_para(
            "Score TEST (one sample per line) with a saved model: perplexity (each line "
            "scored from <s> to </s>, OOVs as <unk>, as KenLM's query reports it), the "
            "perplexity excluding OOVs, and the OOV count."
        ),
        epilog=(
            "examples:\n  sklm score model.arpa test.txt\n"
            "  sklm score model.pkl test.txt --per-line"
        ),
        formatter_class=fmt,
    )
    score.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    score.add_argument("test", metavar="TEST", help="test text, one sample per line ('-': stdin)")
    score.add_argument(
        "--per-line", action="store_true",
        help="first print each line's total log-probability (natural log) and text",
    )
    score.set_defaults(run=_run_score)

    sample = commands.add_parser(
        "sample",
        help="generate text from a saved model",
        description=_para(
            "Generate text: each sample continues the prompt until </s> or --max-length "
            "tokens. One sample per output line, prompt included."
        ),
        epilog=(
            "examples:\n"
            "  sklm sample model.pkl\n"
            '  sklm sample model.arpa --n 5 --prompt "the company" --top-p 0.9 --seed 0\n'
            "  sklm sample model.pkl --temperature 0 --prompt \"in the\"   (greedy)"
        ),
        formatter_class=fmt,
    )
    sample.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    sample.add_argument("--n", type=_positive_int, default=5, help="number of samples (default: 5)")
    sample.add_argument("--prompt", default=None, help="text to continue (default: none)")
    sample.add_argument(
        "--max-length", type=int, default=50, metavar="N",
        help="most tokens generated per sample (default: 50)",
    )
    sample.add_argument(
        "--temperature", type=float, default=1.0,
        help="below 1 sharper, above 1 flatter, 0 greedy (default: 1)",
    )
    sample.add_argument(
        "--top-k", type=int, default=None, metavar="K",
        help="sample among the K most likely tokens",
    )
    sample.add_argument(
        "--top-p", type=float, default=None, metavar="P",
        help="nucleus sampling: among the most likely tokens of total probability P",
    )
    sample.add_argument(
        "--seed", type=int, default=None,
        help="random seed (the same seed gives the same samples)",
    )
    sample.set_defaults(run=_run_sample)
    return parser


def main(argv=None):
    """Run the ``sklm`` command and return its exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 2 on a usage error or a failure (its one-line message
        is printed on stderr; ``--traceback`` shows the full traceback).

    Examples
    --------
    >>> from sklm.cli import main
    >>> main(["--version"])
    sklm ...
    0
    >>> main(["score", "no-such-model.pkl", "test.txt"])  # the message goes to stderr
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 2
    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{PROG} {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            # One readable line per warning rather than Python's source excerpt.
            warnings.showwarning = show_warning
            return args.run(args, sys.stdout)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into a program that stopped reading (e.g. head).
        return 0
    except Exception as exc:
        if args.traceback:
            raise
        message = str(exc) or type(exc).__name__
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
