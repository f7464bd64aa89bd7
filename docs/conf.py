"""Sphinx configuration of the scaledetect documentation.

Build (from the repository root, after ``pip install -e '.[docs]'``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Math is rendered by MathJax 3 shipped inside the ``sphinx-mathjax-offline`` package and copied
into ``_build/html/_static/mathjax``: the pages show their equations without a network.
``_ext/scaledetect_docs.py`` renders the CLI reference from the argument parsers, the API index
from ``scaledetect.__all__``, and runs ``analysis/tour.py`` at build time.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # document this checkout, not whatever is installed
sys.path.insert(0, str(HERE / "_ext"))

import scaledetect  # noqa: E402

project = "scaledetect"
author = "scaledetect developers"
copyright = "scaledetect developers, BSD-3-Clause"  # noqa: A001
version = release = scaledetect.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
    "scaledetect_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_ext"]
myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
# the one custom docstring section in the package (TaskSpec): render it like Notes
napoleon_custom_sections = [("Positions", "Notes")]

html_theme = "alabaster"
html_title = f"scaledetect {release}"
html_static_path = []
html_theme_options = {"description": "How CNNs lose spatial information with training",
                      "fixed_sidebar": True, "page_width": "1100px", "sidebar_width": "230px"}
