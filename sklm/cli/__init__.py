"""The ``sklm`` command: a demo on the built-in corpus, and fit / score / sample on files.

- ``_parser``: the argument parser (help defaults read from the estimators);
- ``_commands``: ``fit``, ``score`` and ``sample``, each a function
  ``run_<name>(args, out)`` that writes to ``out`` and returns an exit status;
- ``_demo``: the demo, a list of sections sharing a context;
- ``_common``: what they share (model files, text files, errors).

:func:`main` parses the arguments, runs the command, and turns an error into
a one-line message on stderr: exit status 1 for a failed run, 2 for a usage
error.
"""

import os
import sys
import warnings

from ._commands import run_fit, run_sample, run_score
from ._common import PROG, CommandError, UsageError, load_model, save_model
from ._demo import DEMO_NEURAL, DEMO_SECTIONS, DemoContext, run_demo
from ._parser import build_parser

COMMANDS = {"demo": run_demo, "fit": run_fit, "score": run_score, "sample": run_sample}


def _silence_stdout():
    """Send what is left to write on stdout nowhere (its reader has gone)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is no file (a test's capture): nothing is flushed at exit


def main(argv=None):
    """Run the ``sklm`` command and return its exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success; 1 when the run fails (a file that cannot be read or
        written, a model that cannot score the text, an infinite or NaN
        perplexity); 2 on a usage error (an unknown option or value, options
        that do not go together). The error's one-line message is printed
        on stderr; ``--traceback`` shows the full traceback instead.

    Examples
    --------
    >>> from sklm.cli import main
    >>> main(["--version"])
    sklm ...
    0
    >>> main(["score", "no-such-model.arpa", "test.txt"])  # the message goes to stderr
    1
    >>> main(["score", "model.txt", "test.txt"])  # no model format is named .txt
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 2

    def show_warning(message, category, filename, lineno, file=None, line=None):
        if not args.quiet:
            print(f"{PROG} {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            # One readable line per warning rather than Python's source excerpt.
            warnings.showwarning = show_warning
            return COMMANDS[args.command](args, sys.stdout)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into a program that stopped reading (e.g. head).
        _silence_stdout()
        return 0
    except Exception as exc:
        if args.traceback:
            raise
        message = str(exc) or type(exc).__name__
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1


__all__ = [
    "COMMANDS",
    "DEMO_NEURAL",
    "DEMO_SECTIONS",
    "CommandError",
    "DemoContext",
    "UsageError",
    "build_parser",
    "load_model",
    "main",
    "save_model",
]
