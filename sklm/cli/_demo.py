"""``sklm demo``: the tour, on the built-in corpus.

The demo is a list of sections (:data:`DEMO_SECTIONS`), each a function
``section(ctx)`` that reads and extends a shared :class:`DemoContext`; a new
section is one more function appended to that list.
"""

import argparse
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..ngram import SMOOTHINGS
from ._common import estimator_class

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
    from ..datasets import load_pydoc
    from ..preprocessing import Tokenizer

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
    from ..metrics import oov_report, perplexity
    from ..ngram import NGramLM

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
                f"  {smoothing:<20} order {order}  fit {fit_s:5.2f} s   test perplexity {ppl:10.2f}"
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
            f"  With min_count={DEMO_MIN_COUNT} no word of the vocabulary is seen only once, so the"
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
    from ..metrics import perplexity

    params = dict(DEMO_NEURAL_PARAMS)
    if ctx.args.quick:
        params.update(DEMO_NEURAL_QUICK)
    params.update(
        max_time=ctx.args.max_time,
        n_threads=ctx.args.threads,
        random_state=ctx.args.seed,
        verbose=0 if ctx.args.quiet else 1,
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
    if not ctx.args.quiet:
        ctx.print("  Progress on stderr (verbose=1): one line per epoch.")
    total = time.perf_counter()
    for name in DEMO_NEURAL:
        model = estimator_class(name)(**params)
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
    rows = [
        (f"kneser_ney order {o}", p)
        for (sm, o), p in ctx.perplexities.items()
        if sm == "kneser_ney"
    ]
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
    ctx.print("A language model ranks candidate sentences by probability, as speech and OCR")
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


def run_demo(args, out):
    start = time.perf_counter()
    ctx = DemoContext(args=args, out=out)
    for section in DEMO_SECTIONS:
        section(ctx)
    ctx.print()
    ctx.print(f"Demo finished in {time.perf_counter() - start:.1f} s.")
    return 0
