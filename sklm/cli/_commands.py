"""``sklm fit``, ``sklm score`` and ``sklm sample``: each ``run_<name>(args, out) -> status``."""

import json
import math
import sys
import time

import numpy as np

from ._common import (
    MODELS,
    PROG,
    CommandError,
    UsageError,
    check_output_format,
    describe_model,
    estimator_class,
    final_step,
    load_model,
    read_samples,
    save_model,
    warn,
)

LN10 = math.log(10)

# The options of `sklm fit` that only one kind of model takes: option dest ->
# the estimator parameter it sets. Options left out keep the estimator's
# default, which `sklm fit --help` reads from the estimator itself.
NGRAM_OPTIONS = {
    "order": "order",
    "smoothing": "smoothing",
    "alpha": "alpha",
    "discount": "discount",
    "backoff": "backoff",
    "prune": "prune",
    "prune_entropy": "prune_entropy",
}
NEURAL_OPTIONS = {
    "embedding_dim": "embedding_dim",
    "hidden_size": "hidden_size",
    "num_layers": "num_layers",
    "dropout": "dropout",
    "max_epochs": "max_epochs",
    "max_time": "max_time",
    "learning_rate": "learning_rate",
    "batch_size": "batch_size",
    "softmax": "softmax",
    "device": "device",
    "threads": "n_threads",
    "seed": "random_state",
}
COMMON_OPTIONS = {"min_count": "min_count", "max_vocab": "max_vocab", "vocabulary": "vocabulary"}


def _option(dest):
    return "--" + dest.replace("_", "-")


def model_params(args):
    """The estimator class name and parameters that the options of ``sklm fit`` ask for."""
    neural = args.model != "ngram"
    own, other = (NEURAL_OPTIONS, NGRAM_OPTIONS) if neural else (NGRAM_OPTIONS, NEURAL_OPTIONS)
    wrong = [_option(dest) for dest in other if getattr(args, dest) is not None]
    if wrong:
        kind = "--model ngram" if neural else "the neural models (--model rnn, lstm, gru)"
        raise UsageError(
            f"{', '.join(wrong)} {'applies' if len(wrong) == 1 else 'apply'} to {kind} "
            f"only, not to --model {args.model}"
        )
    params = {
        param: getattr(args, dest)
        for dest, param in {**COMMON_OPTIONS, **own}.items()
        if getattr(args, dest) is not None
    }
    if neural:
        params["verbose"] = 0 if args.quiet else 1  # progress on stderr
    return MODELS[args.model], params


def run_fit(args, out):
    from ..io import check_writable

    name, params = model_params(args)
    # Fail before the work, not after it: the format, then the folder.
    out_format = check_output_format(name, args.output)
    check_writable(args.output, name="--output")
    samples = read_samples(args.train)
    model = estimator_class(name)(**params)
    start = time.perf_counter()
    model.fit(samples)
    elapsed = time.perf_counter() - start
    n_tokens = sum(len(s.split()) for s in samples)
    if out_format == "arpa" and model.get_params()["smoothing"] == "stupid_backoff":
        warn(
            "fit",
            "stupid_backoff scores are not probabilities; the ARPA file holds them as they are",
            quiet=args.quiet,
        )
    save_model(model, args.output)
    epochs = ""
    if hasattr(model, "history_"):
        epochs = f" ({len(model.history_)} epoch{'s' if len(model.history_) != 1 else ''})"
    print(
        f"fitted {describe_model(model)} on {len(samples):,} lines, "
        f"{n_tokens:,} tokens in {elapsed:.2f} s{epochs}; wrote {args.output}",
        file=out,
    )
    return 0


# score -------------------------------------------------------------------------


def _model_input(model, samples):
    """What the language model of ``model`` scores: the samples, through a Pipeline's steps."""
    lm = final_step(model)
    if lm is model:
        return lm, samples
    return lm, model[:-1].transform(samples)


def _tokens(sample):
    return sample.split() if isinstance(sample, str) else list(sample)


def score_report(lm, X):
    """Every figure ``sklm score`` prints about ``X``.

    Returns a dict: the per-prediction arrays (``log_probs``, ``oov``,
    ``lengths``: the n-gram lengths or None, ``offsets``) and the summary
    (``summary``: KenLM's figures and SRILM's ``ngram -ppl`` ones).
    """
    from ..metrics import oov_flags

    per_sample = lm.score_tokens(X)
    log_probs = np.concatenate(per_sample)
    oov = oov_flags(lm, X)
    matched_lengths = getattr(lm, "matched_lengths", None)
    lengths = np.concatenate(matched_lengths(X)) if matched_lengths is not None else None
    sizes = np.fromiter(map(len, per_sample), np.int64, len(per_sample))
    offsets = np.concatenate([[0], np.cumsum(sizes)])

    n_samples = len(per_sample)
    n_predictions = len(log_probs)
    n_words = n_predictions - n_samples
    n_oov = int(oov.sum())
    total = float(log_probs.sum())
    in_vocabulary = log_probs[~oov]
    # SRILM's ngram -ppl: OOVs and zero-probability words are left out of the
    # log-probability and of the counts; </s> counts in ppl, not in ppl1.
    zero = np.isneginf(in_vocabulary)
    n_zero = int(zero.sum())
    logprob10 = float(in_vocabulary[~zero].sum()) / LN10
    denominator = n_words - n_oov - n_zero

    def perplexity(exponent):
        # A perplexity too large for a float is infinite, silently.
        with np.errstate(over="ignore"):
            return float(np.exp(np.float64(exponent)))

    summary = {
        "samples": n_samples,
        "tokens": n_words,
        "predictions": n_predictions,
        "oovs": n_oov,
        "oov_rate": n_oov / max(n_words, 1),
        "log_prob": total,
        "log10_prob": total / LN10,
        "perplexity": perplexity(-total / n_predictions),
        "perplexity_excluding_oovs": (
            perplexity(-in_vocabulary.sum() / len(in_vocabulary)) if len(in_vocabulary) else None
        ),
        "srilm": {
            "sentences": n_samples,
            "words": n_words,
            "oovs": n_oov,
            "zeroprobs": n_zero,
            "logprob": logprob10,
            "ppl": (
                perplexity(-logprob10 * LN10 / (denominator + n_samples))
                if denominator + n_samples > 0
                else None
            ),
            "ppl1": perplexity(-logprob10 * LN10 / denominator) if denominator > 0 else None,
        },
    }
    return {
        "log_probs": log_probs,
        "oov": oov,
        "lengths": lengths,
        "offsets": offsets,
        "summary": summary,
    }


def _number(value):
    """``value`` for JSON: None where it is not finite (JSON has no infinity)."""
    return value if value is not None and math.isfinite(value) else None


def _finite_or_none(figures):
    return {k: _number(v) if isinstance(v, float) else v for k, v in figures.items()}


def _per_token_rows(report, X):
    """One tuple per prediction: sample, position, token, log10, ln, n-gram length, OOV."""
    log_probs, oov, lengths = report["log_probs"], report["oov"], report["lengths"]
    index = 0
    for i, sample in enumerate(X):
        for position, token in enumerate([*_tokens(sample), "</s>"]):
            value = float(log_probs[index])
            length = None if lengths is None else int(lengths[index])
            yield i, position, token, value / LN10, value, length, bool(oov[index])
            index += 1


def _format_float(value):
    return "-inf" if value == -math.inf else repr(value)


def _print_text(args, model, report, X, samples, out):
    summary = report["summary"]
    if args.per_token:
        columns = ["sample", "position", "token", "log10_prob", "log_prob"]
        if report["lengths"] is not None:
            columns.append("ngram_length")
        print("\t".join([*columns, "oov"]), file=out)
        for i, position, token, log10, ln, length, oov in _per_token_rows(report, X):
            cells = [str(i), str(position), token, _format_float(log10), _format_float(ln)]
            if length is not None:
                cells.append(str(length))
            print("\t".join([*cells, str(int(oov))]), file=out)
        print(file=out)
    if args.per_line:
        totals = np.add.reduceat(report["log_probs"], report["offsets"][:-1])
        for text, log_prob in zip(samples, totals):
            print(f"{log_prob:.4f}\t{text}", file=out)
        print(file=out)
    srilm = summary["srilm"]

    def fixed(value):
        return "undefined" if value is None else f"{value:.4f}"

    rows = [
        ("model", f"{args.model} ({describe_model(model)})"),
        ("samples", f"{summary['samples']:,}"),
        (
            "tokens",
            f"{summary['tokens']:,} (+ {summary['samples']:,} </s> = "
            f"{summary['predictions']:,} predictions)",
        ),
        ("OOVs", f"{summary['oovs']:,} ({100 * summary['oov_rate']:.2f} % of tokens)"),
        (
            "log-prob",
            f"{summary['log_prob']:.4f} (natural log; log10 {summary['log10_prob']:.4f})",
        ),
        ("perplexity", fixed(summary["perplexity"])),
        ("perplexity excluding OOVs", fixed(summary["perplexity_excluding_oovs"])),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}", file=out)
    print(file=out)
    print("As SRILM's ngram -ppl reports it (OOVs and zero probabilities left out):", file=out)
    print(
        f"file {args.test}: {srilm['sentences']} sentences, {srilm['words']} words, "
        f"{srilm['oovs']} OOVs",
        file=out,
    )
    print(
        f"{srilm['zeroprobs']} zeroprobs, logprob= {srilm['logprob']:.4f} "
        f"ppl= {fixed(srilm['ppl'])} ppl1= {fixed(srilm['ppl1'])}",
        file=out,
    )


def _print_json(args, model, report, X, samples, out):
    summary = report["summary"]
    document = {
        "model": str(args.model),
        "description": describe_model(model),
        "test": str(args.test),
        **_finite_or_none(summary),
        "srilm": _finite_or_none(summary["srilm"]),
    }
    if args.per_line:
        totals = np.add.reduceat(report["log_probs"], report["offsets"][:-1])
        document["per_line"] = [
            {"sample": i, "log_prob": _number(float(t)), "text": text}
            for i, (t, text) in enumerate(zip(totals, samples))
        ]
    if args.per_token:
        document["per_token"] = [
            {
                "sample": i,
                "position": position,
                "token": token,
                "log10_prob": _number(log10),
                "log_prob": _number(ln),
                **({} if length is None else {"ngram_length": length}),
                "oov": oov,
            }
            for i, position, token, log10, ln, length, oov in _per_token_rows(report, X)
        ]
    print(json.dumps(document, ensure_ascii=False, allow_nan=False), file=out)


def run_score(args, out):
    model = load_model(args.model, command="score", quiet=args.quiet)
    samples = read_samples(args.test)
    lm, X = _model_input(model, samples)
    report = score_report(lm, X)
    nan = np.isnan(report["log_probs"])
    if nan.any():
        first = int(np.argmax(nan))
        sample = int(np.searchsorted(report["offsets"], first, side="right")) - 1
        raise CommandError(
            f"{args.model}: the model gives NaN log-probabilities ({int(nan.sum()):,} of "
            f"{len(nan):,} predictions; the first at sample {sample}, position "
            f"{first - int(report['offsets'][sample])}), so its perplexity is undefined: "
            "the model file is damaged or its parameters overflowed; refit it"
        )
    (_print_json if args.json else _print_text)(args, model, report, X, samples, out)
    perplexity = report["summary"]["perplexity"]
    if not math.isfinite(perplexity):
        n_zero = int(np.isneginf(report["log_probs"]).sum())
        print(
            f"{PROG} score: error: the perplexity is infinite: the model gives probability 0 "
            f"to {n_zero:,} of the {len(report['log_probs']):,} predictions (as "
            "smoothing='mle' does for events unseen in training); SRILM's figures above "
            "leave them out (as zeroprobs, or as OOVs)",
            file=sys.stderr,
        )
        return 1
    return 0


# sample ------------------------------------------------------------------------


def run_sample(args, out):
    from ..generation import generate

    model = load_model(args.model, command="sample", quiet=args.quiet)
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
