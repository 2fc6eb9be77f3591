"""Checks of the documentation that need no documentation tools.

The site itself is built by Sphinx in a separate CI step (see
docs/conf.py): ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
These tests keep the pages honest between builds: the quickstart's code
runs, the doctests of the user guide pass, the API reference lists every
public name, and every link to an example points at a script that exists.
"""

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sklm
import sklm.datasets
import sklm.metrics
import sklm.ngram
import sklm.plotting

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(
    p
    for p in DOCS.rglob("*.rst")
    if "_build" not in p.parts
    and "_templates" not in p.parts
    and "auto_examples" not in p.parts
    and "gen_modules" not in p.parts
)


def _code_blocks(text, language):
    pattern = re.compile(rf"\.\. code-block:: {language}\n\n((?:   .*\n|\n)+)")
    return [
        "\n".join(line[3:] for line in block.splitlines()).strip("\n") + "\n"
        for block in pattern.findall(text)
    ]


def test_quickstart_runs_and_prints_what_it_shows(tmp_path):
    text = (DOCS / "quickstart.rst").read_text(encoding="utf-8")
    code = _code_blocks(text, "python")
    shown = _code_blocks(text, "text")
    assert len(code) == len(shown) >= 6
    # One subprocess runs the blocks in order, as a reader would, and marks
    # where the output of each block ends.
    marker = "----- end of block -----"
    script = "".join(f"{block}print({marker!r})\n" for block in code)
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    printed = result.stdout.split(marker + "\n")[:-1]
    assert len(printed) == len(code)
    for block, out, expected in zip(code, printed, shown):
        # The figures depend on the Python version (the built-in corpus is
        # its documentation) and on torch's numerics; the shape of each
        # output does not, and the persistence checks must print True.
        assert len(out.splitlines()) == len(expected.splitlines()), (block, out, expected)
    assert printed[-1].split() == ["True", "True"]


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if ">>> " in p.read_text(encoding="utf-8")],
    ids=lambda p: str(p.relative_to(DOCS)),
)
def test_doctests_of_the_pages(page):
    result = doctest.testfile(
        str(page),
        module_relative=False,
        verbose=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted > 0
    assert result.failed == 0


def _documented_names():
    text = (DOCS / "api.rst").read_text(encoding="utf-8")
    names, module = set(), None
    for line in text.splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            module = match.group(1)
        elif re.match(r"   [A-Za-z_]\w*$", line) and module is not None:
            names.add(f"{module}.{line.strip()}")
    return names


@pytest.mark.parametrize(
    "module",
    [sklm, sklm.metrics, sklm.datasets, sklm.ngram, sklm.plotting],
    ids=lambda m: m.__name__,
)
def test_api_reference_lists_every_public_name(module):
    documented = _documented_names()
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        # A name re-exported by several modules is documented once.
        homes = {f"{module.__name__}.{name}", f"sklm.{name}"}
        if not homes & documented:
            missing.append(f"{module.__name__}.{name} ({type(obj).__name__})")
    assert not missing, f"not in docs/api.rst: {missing}"


def test_api_reference_names_exist():
    for dotted in _documented_names():
        module, name = dotted.rsplit(".", 1)
        assert hasattr(sys.modules.get(module) or __import__(module, fromlist=[name]), name), dotted


def test_links_to_examples_point_at_scripts():
    examples = {p.stem for p in (ROOT / "examples").glob("plot_*.py")}
    for page in PAGES:
        for target in re.findall(
            r"sphx_glr_auto_examples_(\w+)\.py", page.read_text(encoding="utf-8")
        ):
            assert target in examples, f"{page.name} links to a missing example {target}"


def test_toctrees_name_existing_pages():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"\.\. toctree::\n((?:   .*\n|\n)+)", text):
            if ":glob:" in block:
                continue
            for entry in re.findall(r"^   ([\w/]+)$", block, flags=re.M):
                if entry.startswith("auto_examples/"):
                    continue  # made by sphinx-gallery from examples/
                path = page.parent / entry
                assert path.with_suffix(".rst").exists() or path.with_suffix(".md").exists(), (
                    f"{page.name}: toctree entry {entry!r} has no page"
                )
