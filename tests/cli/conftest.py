import re
import warnings

import pytest

from sklm import NGramLM
from sklm.cli import main

TRAIN = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat saw a dog",
    "the dog saw the cat",
    "a dog sat on a mat",
    "the cat ran",
]
TEST = ["the cat sat on a log", "a bird sat", "the dog ran on the mat"]


class Cli:
    """Runs ``sklm`` in-process and reads what it printed."""

    TRAIN = TRAIN
    TEST = TEST

    def __init__(self, capsys):
        self.capsys = capsys

    def run(self, *argv):
        code = main([str(a) for a in argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    @staticmethod
    def field(output, name):
        match = re.search(rf"^{re.escape(name)}\s+(\S+)", output, re.MULTILINE)
        assert match, output
        return match.group(1)

    @staticmethod
    def reference(X, **params):
        # The toy corpora are too small to estimate Kneser-Ney discounts.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return NGramLM(**params).fit(X)

    @staticmethod
    def assert_error(code, err, *needles, status=1):
        assert code == status, err
        assert "Traceback" not in err
        assert err.startswith("sklm ")
        for needle in needles:
            assert needle in err, err


@pytest.fixture
def cli(capsys):
    return Cli(capsys)


@pytest.fixture
def files(tmp_path):
    train = tmp_path / "train.txt"
    # Blank and padded lines: skipped and normalised, as documented.
    padded = "\n".join("  " + s for s in TRAIN[3:])
    train.write_text("\n".join(TRAIN[:3]) + "\n\n   \n" + padded + "\n")
    test = tmp_path / "test.txt"
    test.write_text("\n".join(TEST) + "\n")
    return train, test
