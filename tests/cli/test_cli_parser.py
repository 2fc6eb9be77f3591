import re
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

import sklm
from sklm.cli import COMMANDS, build_parser, main
from sklm.ngram import SMOOTHINGS


def _subparsers(parser):
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return action.choices


def test_help(cli):
    code, out, _ = cli.run("--help")
    assert code == 0
    for command in COMMANDS:
        assert command in out
    assert "examples:" in out and "exit status" in out
    for command in COMMANDS:
        code, out, _ = cli.run(command, "--help")
        assert code == 0
        assert f"usage: sklm {command}" in out and "examples:" in out
        assert "--quiet" in out


def test_every_command_takes_quiet():
    parser = build_parser()
    assert set(_subparsers(parser)) == set(COMMANDS)
    required = {"demo": [], "fit": ["t.txt", "-o", "m.sklm"], "score": ["m.sklm", "t.txt"],
                "sample": ["m.sklm"]}  # fmt: skip
    for command, args in required.items():
        assert parser.parse_args([command, *args, "--quiet"]).quiet is True
        assert parser.parse_args([command, *args, "-q"]).quiet is True
        assert parser.parse_args([command, *args]).quiet is False


def _help_defaults(text):
    """Option -> the '(default: ...)' its help shows."""
    entries = re.split(r"\n(?=  -|\S)", text)
    found = {}
    for entry in entries:
        entry = " ".join(entry.split())
        option = re.match(r"(?:-\w(?: \S+)?, )?(--[a-z-]+)", entry)
        default = re.search(r"\(default: ([^()]*)\)$", entry)
        if option and default:
            found[option.group(1)] = default.group(1)
    return found


def test_fit_help_defaults_are_the_estimators(cli):
    code, out, _ = cli.run("fit", "--help")
    assert code == 0
    shown = _help_defaults(out)
    ngram = sklm.NGramLM().get_params()
    lstm = sklm.LSTMLM().get_params()
    expected = {
        "--order": ngram["order"], "--smoothing": ngram["smoothing"], "--alpha": ngram["alpha"],
        "--backoff": ngram["backoff"], "--min-count": ngram["min_count"],
        "--embedding-dim": lstm["embedding_dim"], "--hidden-size": lstm["hidden_size"],
        "--num-layers": lstm["num_layers"], "--dropout": lstm["dropout"],
        "--max-epochs": lstm["max_epochs"], "--learning-rate": lstm["learning_rate"],
        "--batch-size": lstm["batch_size"], "--softmax": lstm["softmax"],
        "--device": lstm["device"],
    }  # fmt: skip
    for option, value in expected.items():
        assert shown[option] == str(value), (option, shown.get(option))
    # None reads as what it means.
    assert shown["--max-time"].startswith("None: no limit")
    assert shown["--discount"].startswith("None: estimated")


def test_fit_passes_only_the_options_given(cli, files, tmp_path):
    import joblib

    train, _ = files
    path = tmp_path / "m.pkl"
    code, _, err = cli.run("fit", train, "-o", path, "-q")
    assert code == 0, err
    # Every parameter left out is the estimator's own default.
    assert joblib.load(path).get_params() == sklm.NGramLM().get_params()


def test_smoothing_choices_are_the_library_list():
    parser = build_parser()
    fit = _subparsers(parser)["fit"]
    (smoothing,) = [a for a in fit._actions if a.dest == "smoothing"]
    assert tuple(smoothing.choices) == SMOOTHINGS


def test_usage_errors_exit_2(cli, files, tmp_path):
    train, test = files
    code, _, err = cli.run()
    assert code == 2 and "required" in err
    code, _, err = cli.run("fit", "x.txt", "-o", "m.pkl", "--smoothing", "magic")
    assert code == 2 and "invalid choice" in err
    code, _, err = cli.run("fit", "x.txt", "-o", "m.pkl", "--order", "0")
    assert code == 2 and "positive integer" in err
    code, _, err = cli.run("frobnicate")
    assert code == 2
    code, _, err = cli.run("fit", train, "-o", tmp_path / "m.bin")
    cli.assert_error(code, err, "m.bin", ".sklm", ".arpa", status=2)
    code, _, err = cli.run("score", tmp_path / "model.txt", test)
    cli.assert_error(code, err, "model.txt", "cannot tell the model format", status=2)
    code, _, err = cli.run("fit", train, "-o", tmp_path / "m.pkl", "--model", "lstm",
                           "--order", 3, "--alpha", 0.5)  # fmt: skip
    cli.assert_error(code, err, "--order, --alpha apply to --model ngram only", status=2)
    assert not list(tmp_path.glob("m.*"))


def test_failed_runs_exit_1(cli, files, tmp_path):
    _, test = files
    code, _, err = cli.run("score", tmp_path / "nope.arpa", test)
    cli.assert_error(code, err, "nope.arpa", "no such file", status=1)


def test_python_dash_m():
    result = subprocess.run(
        [sys.executable, "-m", "sklm", "--version"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert result.stdout.startswith("sklm ")
    result = subprocess.run(
        [sys.executable, "-m", "sklm", "fit"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "required" in result.stderr


def test_console_script_is_main():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "sklm"]
    assert script.value == "sklm.cli:main"
    assert script.load() is main


def test_traceback_flag_reraises(files, tmp_path):
    _, test = files
    with pytest.raises(Exception, match="no such file"):
        main(["--traceback", "score", str(tmp_path / "nope.pkl"), str(test)])


def test_help_and_ngram_commands_do_not_import_torch(files, tmp_path):
    train, test = files
    code = (
        "import contextlib, io, sys\n"
        "from sklm.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    for argv in (['--help'], ['demo', '--help'], ['score', '--help'],\n"
        f"                 ['fit', {str(train)!r}, '-o', {str(tmp_path / 'm.sklm')!r}, '-q'],\n"
        f"                 ['score', {str(tmp_path / 'm.sklm')!r}, {str(test)!r}, '-q']):\n"
        "        assert main(argv) == 0, argv\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
