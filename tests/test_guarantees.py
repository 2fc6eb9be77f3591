"""The Guarantees page names only tests that exist."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _test_names(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_test_named_on_the_guarantees_page_exists():
    text = (ROOT / "docs" / "guarantees.rst").read_text(encoding="utf-8")
    named = re.findall(r"``(tests/[\w/]+\.py)::(\w+)``", text)
    assert len(named) > 30
    missing = [
        f"{f}::{n}" for f, n in named if not (ROOT / f).exists() or n not in _test_names(ROOT / f)
    ]
    assert not missing, f"docs/guarantees.rst names missing tests: {missing}"
    # The bad-input matrix is named by function, in its own file.
    bare = set(re.findall(r"``(test_\w+)``", text))
    assert bare <= _test_names(ROOT / "tests" / "test_bad_inputs.py")
