"""Sphinx configuration: the API reference from the numpy-style docstrings, the user guide
from the README, the notebooks as pages. Build: ``sphinx-build -W -b html docs docs/_build``."""

import abcspark

project = "abcspark"
author = "the abcspark authors"
release = abcspark.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "myst_nb",
]
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"  # the numpy-style "Parameters" sections say the types
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
nb_execution_mode = "off"  # tests/test_notebooks.py executes them; here they are read
myst_heading_anchors = 3
doctest_global_setup = "import numpy as np\nimport pandas as pd\nfrom abcspark import *"
exclude_patterns = ["_build", "notebooks/.ipynb_checkpoints"]
html_theme = "alabaster"
smartquotes = False  # "..." and quotes as written in the docstrings


def setup(app):
    """The README's charts are Mermaid blocks (GitHub draws them); here they show as text."""
    from pygments.lexers.special import TextLexer

    app.add_lexer("mermaid", TextLexer)
