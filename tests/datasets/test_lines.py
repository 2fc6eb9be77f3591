import gzip

import pytest

from sklm.datasets import load_lines


def _write(tmp_path, data, name="corpus.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_one_sample_per_non_empty_line(tmp_path):
    path = _write(tmp_path, b"the cat\tsat \r\n\n   \n\xc2\xa0\n  a  dog\n\nlast line without end")
    assert load_lines(path) == ["the cat sat", "a dog", "last line without end"]
    assert load_lines(str(path)) == load_lines(path)
    # Without normalisation only the line endings go; blank lines still do.
    assert load_lines(path, normalize=False) == [
        "the cat\tsat ",
        "  a  dog",
        "last line without end",
    ]


def test_only_newline_ends_a_line(tmp_path):
    # A lone carriage return or a Unicode line separator is inside a line,
    # as KenLM reads it; split() still treats it as whitespace.
    path = _write(tmp_path, "a\rb\u2028c\nd\n".encode())
    assert load_lines(path, normalize=False) == ["a\rb\u2028c", "d"]
    assert load_lines(path) == ["a b c", "d"]


def test_byte_order_mark_dropped(tmp_path):
    path = _write(tmp_path, "\ufeffhello world\nx\n".encode())
    assert load_lines(path) == ["hello world", "x"]
    assert load_lines(path, normalize=False)[0] == "hello world"


def test_unicode_and_other_encodings(tmp_path):
    text = "天气 很 好\nnaïve café\n"
    assert load_lines(_write(tmp_path, text.encode())) == ["天气 很 好", "naïve café"]
    latin = _write(tmp_path, "naïve café\n".encode("latin-1"), "latin.txt")
    assert load_lines(latin, encoding="latin-1") == ["naïve café"]
    with pytest.raises(ValueError, match="0x0A"):
        load_lines(latin, encoding="utf-16")
    with pytest.raises(ValueError, match="no-such-codec"):
        load_lines(latin, encoding="no-such-codec")
    with pytest.raises(TypeError, match="encoding"):
        load_lines(latin, encoding=8)


def test_gzip_by_content_not_name(tmp_path):
    data = gzip.compress(b"one two\n\nthree\n")
    assert load_lines(_write(tmp_path, data, "c.txt.gz")) == ["one two", "three"]
    assert load_lines(_write(tmp_path, data, "c.txt")) == ["one two", "three"]


def test_damaged_gzip(tmp_path):
    data = gzip.compress(b"one two\n" * 1000)
    path = _write(tmp_path, data[: len(data) // 2], "cut.gz")
    with pytest.raises(ValueError, match=r"cut\.gz.*damaged gzip"):
        load_lines(path)


def test_not_utf8_names_file_and_line(tmp_path):
    path = _write(tmp_path, b"fine\nalso fine\nbad \xff byte\n", "bin.txt")
    with pytest.raises(ValueError, match=r"bin\.txt', line 3: not utf-8 text"):
        load_lines(path)


@pytest.mark.parametrize("data", [b"", b"\n \n\t\n"])
def test_no_sample(tmp_path, data):
    path = _write(tmp_path, data, "empty.txt")
    with pytest.raises(ValueError, match=r"empty\.txt.*no non-empty line"):
        load_lines(path)


def test_missing_file_folder_and_bad_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_lines(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="folder"):
        load_lines(tmp_path)
    for bad in (None, 3, b"x.txt", ["x.txt"]):
        with pytest.raises(TypeError, match="path"):
            load_lines(bad)


def test_pathlike(tmp_path):
    class Where:
        def __fspath__(self):
            return str(tmp_path / "p.txt")

    (tmp_path / "p.txt").write_text("x y\n", encoding="utf-8")
    assert load_lines(Where()) == ["x y"]
