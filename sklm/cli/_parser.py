"""The argument parser of the ``sklm`` command.

An option that sets an estimator parameter has no default of its own: left
out, the estimator's default applies, and ``--help`` reads that default from
the estimator's ``get_params()`` when it is shown (so the help never states a
default that the estimator does not have, and a neural class, hence torch,
is imported only for ``sklm fit --help``).
"""

import argparse
import math
import textwrap

from ._common import MODEL_SUFFIXES, MODELS, NEURAL_MODELS, PROG

_DESCRIPTION = """\
Language models as scikit-learn estimators. Fit n-gram and recurrent
neural (RNN, LSTM, GRU) models on text files, score test files
(perplexity, OOV figures, per-token reports), and generate text. Text
files hold one sample (sentence) per line, split on whitespace as KenLM
does; blank lines are skipped. Natural log throughout, unless a column
says log10.

exit status: 0 success, 1 a failed run (unreadable file, a model that
cannot score the text, ...), 2 a usage error (unknown option, options
that do not go together)."""

_EPILOG = """\
examples:
  sklm demo                                  the tour, on the built-in corpus
  sklm fit train.txt -o model.arpa --order 5
  sklm fit train.txt -o lstm.sklm --model lstm --max-epochs 5
  sklm score model.arpa test.txt
  sklm score model.arpa test.txt --per-token --json
  sklm sample model.sklm --n 3 --prompt "the" --seed 0

run 'sklm COMMAND --help' for the options of a command."""

_MODEL_HELP = (
    "a saved model: .sklm (sklm.save; runs no code when loaded), .arpa/.arpa.gz, "
    ".npz (neural) or .pkl/.pickle/.joblib (a pickle: trusted files only)"
)


def _para(text):
    return textwrap.fill(text, width=79)


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


def _estimator_default(classes, param):
    """``param``'s default in ``classes``, as ``get_params()`` gives it."""
    from ._common import estimator_class

    values = {name: estimator_class(name)().get_params()[param] for name in classes}
    if len({repr(v) for v in values.values()}) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{name}: {value}" for name, value in values.items())


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends ``(default: ...)`` read from the estimators to the options that set a parameter."""

    def _get_help_string(self, action):
        text = action.help or ""
        source = getattr(action, "estimator_default", None)
        if source is not None:
            classes, param, meaning = source
            value = _estimator_default(classes, param)
            shown = f"{value}: {meaning}" if value is None and meaning else f"{value}"
            # argparse %-formats the help text.
            text = f"{text} (default: {shown.replace('%', '%%')})"
        return text


def _param_option(group, *flags, classes, param, none_means=None, **kwargs):
    """An option setting ``param`` of ``classes``, its help default read from them."""
    action = group.add_argument(*flags, default=None, **kwargs)
    action.estimator_default = (tuple(classes), param, none_means)
    return action


def _common_options():
    """The options of every command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="nothing on stderr but errors: no progress, no warnings",
    )
    return common


def _add_demo(commands, common):
    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="fit and compare n-gram and neural models on the built-in corpus",
        description=_para(
            "Fit n-gram models of every order up to --max-order with each smoothing "
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
        formatter_class=_HelpFormatter,
    )
    demo.add_argument(
        "--max-order",
        type=_positive_int,
        default=5,
        metavar="N",
        help="highest n-gram order fitted (default: %(default)s)",
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="use a tenth of the corpus and tiny networks (a fast check that everything runs)",
    )
    demo.add_argument(
        "--no-neural",
        dest="neural",
        action="store_false",
        help="leave out the neural models (no PyTorch needed)",
    )
    demo.add_argument(
        "--max-time",
        type=_positive_float,
        default=40.0,
        metavar="SECONDS",
        help="training time limit of each neural model (default: %(default)g)",
    )
    demo.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        metavar="N",
        help="CPU threads of each neural model (default: %(default)s; small networks gain "
        "little from more, and lose much on a busy machine)",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed of the neural models and the samples (default: %(default)s)",
    )


def _add_fit(commands, common):
    from ..ngram import SMOOTHINGS

    all_models = tuple(MODELS.values())
    fit = commands.add_parser(
        "fit",
        parents=[common],
        help="fit an n-gram or neural model on a text file and save it",
        description=_para(
            "Fit a model on TRAIN (one sample per line) and save it: an NGramLM (the "
            "default), or with --model rnn, lstm or gru an RNNLM, LSTMLM or GRULM (progress "
            "on stderr). The format follows the output name: .sklm (sklm.save: any model, "
            "exact, runs no code when loaded: the one to share), .arpa/.arpa.gz (n-grams: "
            "the ARPA text format that KenLM, SRILM and others read), .npz (neural models) "
            "or .pkl/.pickle/.joblib (a pickle: exact, but loading it runs code). The "
            "output's folder is checked before training; the file is replaced only once "
            "it is written whole."
        ),
        epilog=(
            "examples:\n"
            "  sklm fit train.txt -o model.arpa.gz\n"
            "  sklm fit train.txt -o model.sklm --order 4 --smoothing witten_bell\n"
            "  sklm fit train.txt -o addk.sklm --smoothing add_k --alpha 0.1 --min-count 2\n"
            "  sklm fit train.txt -o lstm.sklm --model lstm --hidden-size 256 --max-time 600"
        ),
        formatter_class=_HelpFormatter,
    )
    fit.add_argument(
        "train", metavar="TRAIN", help="training text, one sample per line ('-': stdin)"
    )
    fit.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="MODEL",
        help="where to save the model: " + ", ".join(MODEL_SUFFIXES),
    )
    fit.add_argument(
        "--model",
        choices=tuple(MODELS),
        default="ngram",
        help="ngram: NGramLM (default); rnn, lstm, gru: RNNLM, LSTMLM, GRULM",
    )
    _param_option(
        fit,
        "--min-count",
        type=_positive_int,
        metavar="N",
        classes=all_models,
        param="min_count",
        help="words seen fewer than N times become <unk>",
    )
    _param_option(
        fit,
        "--max-vocab",
        type=_positive_int,
        metavar="N",
        classes=all_models,
        param="max_vocab",
        none_means="no limit",
        help="keep only the N most frequent words",
    )
    _param_option(
        fit,
        "--vocabulary",
        metavar="FILE",
        classes=all_models,
        param="vocabulary",
        none_means="learnt from TRAIN",
        help="a fixed vocabulary: a UTF-8 file of one word per line, as SRILM's -vocab; "
        "other words are <unk>, and --min-count and --max-vocab are ignored",
    )

    ngram = fit.add_argument_group("n-gram options (--model ngram)")
    ngram_model = ("NGramLM",)
    _param_option(
        ngram, "--order", type=_positive_int, metavar="N", classes=ngram_model,
        param="order", help="n-gram order",
    )  # fmt: skip
    _param_option(
        ngram, "--smoothing", choices=SMOOTHINGS, classes=ngram_model, param="smoothing",
        help="smoothing method",
    )  # fmt: skip
    _param_option(
        ngram, "--alpha", type=float, classes=ngram_model, param="alpha",
        help="add_k: pseudo-count added to every count",
    )  # fmt: skip
    _param_option(
        ngram, "--discount", type=float, classes=ngram_model, param="discount",
        none_means="estimated from the counts of counts",
        help="absolute_discounting: the discount",
    )  # fmt: skip
    _param_option(
        ngram, "--backoff", type=float, classes=ngram_model, param="backoff",
        help="stupid_backoff: the back-off factor",
    )  # fmt: skip
    _param_option(
        ngram, "--prune", type=int, nargs="+", metavar="N", classes=ngram_model,
        param="prune", none_means="no pruning",
        help="count thresholds per order, as lmplz --prune: an n-gram of order k >= 2 seen "
        "at most the k-th threshold times is dropped (e.g. --prune 0 1 1)",
    )  # fmt: skip
    _param_option(
        ngram, "--prune-entropy", type=_positive_float, metavar="THRESHOLD",
        classes=ngram_model, param="prune_entropy", none_means="no pruning",
        help="entropy-based pruning, as SRILM's ngram -prune: drop the n-grams whose removal "
        "raises the perplexity by a relative amount below THRESHOLD (e.g. 1e-8)",
    )  # fmt: skip

    nn = fit.add_argument_group("neural options (--model rnn, lstm, gru)")
    for flags, kwargs in [
        (("--embedding-dim",), dict(type=_positive_int, metavar="N", param="embedding_dim",
                                    help="size of the word embeddings")),
        (("--hidden-size",), dict(type=_positive_int, metavar="N", param="hidden_size",
                                  help="size of the recurrent state")),
        (("--num-layers",), dict(type=_positive_int, metavar="N", param="num_layers",
                                 help="stacked recurrent layers")),
        (("--dropout",), dict(type=float, metavar="P", param="dropout", help="dropout rate")),
        (("--max-epochs",), dict(type=_positive_int, metavar="N", param="max_epochs",
                                 help="passes over the training data")),
        (("--max-time",), dict(type=_positive_float, metavar="SECONDS", param="max_time",
                               none_means="no limit", help="stop training after this long")),
        (("--learning-rate",), dict(type=_positive_float, metavar="LR", param="learning_rate",
                                    help="the optimizer's learning rate")),
        (("--batch-size",), dict(type=_positive_int, metavar="N", param="batch_size",
                                 help="samples per batch")),
        (("--softmax",), dict(param="softmax",
                              help="output layer: full, or adaptive (faster on large "
                              "vocabularies)")),
        (("--device",), dict(param="device", help="auto (CUDA, then MPS, then CPU), cpu, "
                             "cuda, cuda:1 or mps")),
        (("--threads",), dict(type=_positive_int, metavar="N", param="n_threads",
                              none_means="torch's, one per core", help="CPU threads of torch")),
        (("--seed",), dict(type=int, param="random_state", none_means="a fresh draw",
                           help="random seed of the weights and batch order")),
    ]:  # fmt: skip
        _param_option(nn, *flags, classes=NEURAL_MODELS, **kwargs)


def _add_score(commands, common):
    score = commands.add_parser(
        "score",
        parents=[common],
        help="perplexity, OOV figures and per-token reports of a model on a text file",
        description=_para(
            "Score TEST (one sample per line) with a saved model: perplexity (each line "
            "scored from <s> to </s>, OOVs as <unk>, as KenLM's query reports it), the "
            "perplexity excluding OOVs and the OOV count, then the figures of SRILM's "
            "ngram -ppl (sentences, words, OOVs, zeroprobs, logprob in log10, ppl, ppl1). "
            "--per-token first prints one tab-separated line per predicted token, as "
            "KenLM's query does. A model that gives NaN makes the run fail (exit status "
            "1) before anything is printed; an infinite perplexity (a probability of 0) "
            "is printed, then the run fails with a message."
        ),
        epilog=(
            "per-token columns: sample and position (from 0), the token (</s> last), its\n"
            "log10 and natural-log probability, the length of the n-gram that matched\n"
            "(n-gram models only), and 1 if the token is out of the vocabulary.\n\n"
            "examples:\n  sklm score model.arpa test.txt\n"
            "  sklm score model.sklm test.txt --per-line\n"
            "  sklm score model.arpa test.txt --per-token > tokens.tsv\n"
            "  sklm score model.arpa test.txt --json"
        ),
        formatter_class=_HelpFormatter,
    )
    score.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    score.add_argument("test", metavar="TEST", help="test text, one sample per line ('-': stdin)")
    score.add_argument(
        "--per-line",
        action="store_true",
        help="first print each line's total log-probability (natural log) and text",
    )
    score.add_argument(
        "--per-token",
        action="store_true",
        help="first print one line per predicted token (see below)",
    )
    score.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document: the summary, and the per-line and per-token "
        "figures when asked for (null where a value is infinite)",
    )


def _add_sample(commands, common):
    sample = commands.add_parser(
        "sample",
        parents=[common],
        help="generate text from a saved model",
        description=_para(
            "Generate text: each sample continues the prompt until </s> or --max-length "
            "tokens. One sample per output line, prompt included."
        ),
        epilog=(
            "examples:\n"
            "  sklm sample model.sklm\n"
            '  sklm sample model.arpa --n 5 --prompt "the company" --top-p 0.9 --seed 0\n'
            '  sklm sample model.sklm --temperature 0 --prompt "in the"   (greedy)'
        ),
        formatter_class=_HelpFormatter,
    )
    sample.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    sample.add_argument(
        "--n", type=_positive_int, default=5, help="number of samples (default: %(default)s)"
    )
    sample.add_argument("--prompt", default=None, help="text to continue (default: none)")
    sample.add_argument(
        "--max-length",
        type=int,
        default=50,
        metavar="N",
        help="most tokens generated per sample (default: %(default)s)",
    )
    sample.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="below 1 sharper, above 1 flatter, 0 greedy (default: %(default)g)",
    )
    sample.add_argument(
        "--top-k",
        type=int,
        default=None,
        metavar="K",
        help="sample among the K most likely tokens",
    )
    sample.add_argument(
        "--top-p",
        type=float,
        default=None,
        metavar="P",
        help="nucleus sampling: among the most likely tokens of total probability P",
    )
    sample.add_argument(
        "--seed", type=int, default=None, help="random seed (the same seed gives the same samples)"
    )


def build_parser():
    """The argument parser of the ``sklm`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        ``parse_args`` gives a namespace whose ``command`` names the
        subcommand (``demo``, ``fit``, ``score`` or ``sample``).
    """
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of an error"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_options()
    _add_demo(commands, common)
    _add_fit(commands, common)
    _add_score(commands, common)
    _add_sample(commands, common)
    return parser
