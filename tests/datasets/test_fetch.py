import hashlib
import http.server
import os
import socket
import threading
from functools import partial

import pytest

from sklm.datasets import (
    _fetch,
    clear_data_home,
    fetch_ptb,
    fetch_tiny_shakespeare,
    fetch_wikitext2,
    get_data_home,
)

PTB = {
    "ptb.train.txt": " the cat sat \n a dog ran \n\n",
    "ptb.valid.txt": " the dog sat \n",
    "ptb.test.txt": " a cat ran \n the  end \n",
}


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over a folder; records every path requested."""
    root = tmp_path / "remote"
    root.mkdir()
    requests = []

    class Handler(_Handler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", root, requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _serve(monkeypatch, server, corpus, files):
    url, root, _ = server
    monkeypatch.setitem(_fetch.BASE_URLS, corpus, url)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        monkeypatch.setitem(_fetch.CHECKSUMS, (corpus, name), ("sha256", digest))


def test_fetch_downloads_once_then_reads_the_cache(server, monkeypatch, tmp_path):
    _serve(monkeypatch, server, "ptb", PTB)
    home = tmp_path / "home"
    _, _, requests = server
    train = fetch_ptb(data_home=home)
    assert train.data == ["the cat sat", "a dog ran"]
    assert requests == ["/ptb.train.txt"]
    assert train.filenames == [str(home / "ptb" / "ptb.train.txt")]
    assert (home / "ptb" / "ptb.train.txt").read_text() == PTB["ptb.train.txt"]

    again = fetch_ptb(subset="train", data_home=home)
    assert again.data == train.data
    assert requests == ["/ptb.train.txt"]  # no second download

    everything = fetch_ptb(subset="all", data_home=home)
    assert everything.data == ["the cat sat", "a dog ran", "the dog sat", "a cat ran", "the end"]
    assert sorted(requests) == ["/ptb.test.txt", "/ptb.train.txt", "/ptb.valid.txt"]
    assert sorted(os.listdir(home / "ptb")) == sorted(PTB)  # no temporary files left


def test_wikitext2_and_shakespeare(server, monkeypatch, tmp_path):
    _serve(monkeypatch, server, "wikitext2", {"valid.txt": " \n = Title = \n \n Some text . \n"})
    assert fetch_wikitext2(subset="valid", data_home=tmp_path).data == ["= Title =", "Some text ."]

    lines = [f"line {i}" for i in range(20)]
    _serve(monkeypatch, server, "tiny_shakespeare", {"input.txt": "\n\n".join(lines) + "\n"})
    train = fetch_tiny_shakespeare(data_home=tmp_path)
    test = fetch_tiny_shakespeare(subset="test", data_home=tmp_path)
    assert train.data == lines[:18] and test.data == lines[18:]
    assert fetch_tiny_shakespeare(subset="all", data_home=tmp_path).data == lines
    assert train.filename == str(tmp_path / "tiny_shakespeare" / "input.txt")


def test_md5_checksums_are_supported(server, monkeypatch, tmp_path):
    _serve(monkeypatch, server, "ptb", PTB)
    good = hashlib.md5(PTB["ptb.valid.txt"].encode()).hexdigest()
    monkeypatch.setitem(_fetch.CHECKSUMS, ("ptb", "ptb.valid.txt"), ("md5", good))
    assert fetch_ptb(subset="valid", data_home=tmp_path).data == ["the dog sat"]


def test_unknown_checksum_accepts_the_file(server, monkeypatch, tmp_path):
    _serve(monkeypatch, server, "ptb", PTB)
    monkeypatch.setitem(_fetch.CHECKSUMS, ("ptb", "ptb.test.txt"), None)
    assert fetch_ptb(subset="test", data_home=tmp_path).data == ["a cat ran", "the end"]


def test_checksum_mismatch_keeps_no_file(server, monkeypatch, tmp_path):
    _serve(monkeypatch, server, "ptb", PTB)
    monkeypatch.setitem(_fetch.CHECKSUMS, ("ptb", "ptb.valid.txt"), ("sha256", "0" * 64))
    with pytest.raises(OSError, match=r"sha256 .* expected 0{64}.*not kept"):
        fetch_ptb(subset="valid", data_home=tmp_path)
    assert os.listdir(tmp_path / "ptb") == []


def test_recorded_checksums_reject_other_content(server, monkeypatch, tmp_path):
    # The real table: the served stand-in is not the real PTB test file.
    url, root, _ = server
    monkeypatch.setitem(_fetch.BASE_URLS, "ptb", url)
    (root / "ptb.test.txt").write_text(PTB["ptb.test.txt"])
    with pytest.raises(OSError, match="dd65dff31e70846b"):
        fetch_ptb(subset="test", data_home=tmp_path)
    assert os.listdir(tmp_path / "ptb") == []


def test_missing_remote_file_is_a_clear_error(server, monkeypatch, tmp_path):
    url, _, _ = server
    monkeypatch.setitem(_fetch.BASE_URLS, "ptb", url)
    target = tmp_path / "ptb" / "ptb.valid.txt"
    with pytest.raises(OSError, match="could not download") as info:
        fetch_ptb(subset="valid", data_home=tmp_path)
    assert url + "ptb.valid.txt" in str(info.value)
    assert str(target) in str(info.value)
    assert not target.exists()


def test_offline_names_the_url_and_where_to_put_the_file(monkeypatch, tmp_path):
    # A port nothing listens on: the connection is refused, as when offline.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    monkeypatch.setitem(_fetch.BASE_URLS, "wikitext2", url)
    with pytest.raises(OSError, match="could not download") as info:
        fetch_wikitext2(subset="test", data_home=tmp_path)
    message = str(info.value)
    assert url + "test.txt" in message
    assert str(tmp_path / "wikitext2" / "test.txt") in message
    assert "refused" in message.lower()
    assert os.listdir(tmp_path / "wikitext2") == []


def test_no_download_when_not_allowed(server, monkeypatch, tmp_path):
    _serve(monkeypatch, server, "ptb", PTB)
    _, _, requests = server
    with pytest.raises(OSError, match="download_if_missing=False"):
        fetch_ptb(subset="valid", data_home=tmp_path, download_if_missing=False)
    assert requests == []
    fetch_ptb(subset="valid", data_home=tmp_path)
    assert fetch_ptb(subset="valid", data_home=tmp_path, download_if_missing=False).data


def test_bad_parameters():
    with pytest.raises(ValueError, match="subset"):
        fetch_ptb(subset="dev")
    with pytest.raises(ValueError, match="subset"):
        fetch_tiny_shakespeare(subset="valid")
    with pytest.raises(ValueError, match="download_if_missing"):
        fetch_wikitext2(download_if_missing="yes")


def test_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SKLM_DATA", str(tmp_path / "env"))
    assert get_data_home() == str(tmp_path / "env")
    assert (tmp_path / "env").is_dir()
    monkeypatch.delenv("SKLM_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == str(tmp_path / "sklm_data")
    assert get_data_home(tmp_path / "x") == str(tmp_path / "x")
    clear_data_home(tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_real_checksum_table_is_complete():
    for corpus, parts in _fetch.FILES.items():
        for name in parts.values():
            checksum = _fetch.CHECKSUMS[(corpus, name)]
            if checksum is not None:
                algorithm, digest = checksum
                assert len(digest) == hashlib.new(algorithm).digest_size * 2
