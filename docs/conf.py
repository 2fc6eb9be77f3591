"""Sphinx configuration of the sklm documentation.

Build (offline, warnings as errors) from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The examples gallery runs every ``examples/plot_*.py`` script at the size
that shows its lesson (see the build times on the gallery's index page);
pass ``-D plot_gallery=0`` to build the pages without running the scripts.
"""

import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import sklm  # noqa: E402

project = "sklm"
author = "the sklm developers"
copyright = "2026, the sklm developers"
release = sklm.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

# The benchmark figures are written in Markdown by the benchmark scripts'
# authors; myst reads them as they are, so the numbers live in one file.
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
]
root_doc = "index"
default_role = "literal"

# API reference ----------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# "See Also" entries name scikit-learn and torch objects that have no page in
# an offline build; they stay plain text instead of failing the build.
numpydoc_xref_param_type = False

# Examples gallery --------------------------------------------------------------
# Every page shows its lesson as the script runs it: no quick mode here.
# Each example writes its figure and a JSON of its numbers into
# SKLM_EXAMPLE_OUTDIR; CI checks the pages' claims on that JSON
# (tests/test_examples.py). The backend is chosen here, not in the scripts,
# so that their downloaded notebooks plot inline.
os.environ["SKLM_EXAMPLE_QUICK"] = "0"
os.environ.setdefault("SKLM_EXAMPLE_OUTDIR", str(HERE / "_build" / "example_figures"))
os.environ.setdefault("MPLBACKEND", "Agg")
# One torch thread: the recorded build times do not depend on the number
# of cores, and the build leaves the other cores alone.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Offline, the temperature example falls back to the built-in corpus; the
# data home keeps any download out of the user's home directory.
os.environ.setdefault("SKLM_DATA", str(HERE / "_build" / "sklm_data"))

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("sklm",),
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 1,
    "write_computation_times": False,
}

# Matplotlib warns about a non-interactive backend when examples call show().
warnings.filterwarnings(
    "ignore", category=UserWarning, message="FigureCanvasAgg is non-interactive"
)

# HTML -------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklm {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False
