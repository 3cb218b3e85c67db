"""Sphinx configuration of gradkit's documentation site.

Build (from the repository root; warnings are errors):

    .venv/bin/pip install -e ".[docs]"
    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

The site is built like NumPy's, SciPy's and scikit-learn's: pydata-sphinx-theme, numpydoc
docstrings, autosummary pages generated for every public name (docs/api/ lists them;
tests/test_docstrings.py checks that it lists all of them), Markdown pages through MyST,
and tutorials that are MyST-NB Markdown notebooks, executed at build time.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import gradkit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # pytest_gradkit (a top-level module) for the testing page

project = "gradkit"
author = "the gradkit authors"
copyright = "the gradkit authors"  # noqa: A001  (Sphinx's name)
release = gradkit.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",  # Markdown pages (it includes myst-parser) and executed Markdown notebooks
]

# Developer notes are for whoever works on gradkit next, not for its users.
exclude_patterns = ["_build", "dev-notes.md", "**.ipynb_checkpoints",
                    "torch_names.txt", "jupyter_execute"]
templates_path = ["_templates"]
root_doc = "index"

# ---- warnings are errors (sphinx-build -W): broken references fail the build -------------
nitpicky = True
# Types that appear in signatures or docstrings and belong to other projects (the build
# works offline: no intersphinx inventories are fetched).
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|cupy|cp|cupyx|array_api_strict|array_api_compat|torch|pytest|_pytest"
               r"|matplotlib|sklearn|safetensors)(\..*)?"),
    (r"py:.*", r"(collections\.abc|typing|types|pathlib|os|contextlib|threading)\..*"),
]

# ---- autodoc / autosummary / numpydoc -----------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # types are written in the numpydoc Parameters sections
autodoc_default_options = {"members": False}
add_module_names = False
numpydoc_show_class_members = False  # the class template lists members (autosummary)
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = False
# numpydoc's own checks of each docstring, as errors (tests/test_docstrings.py checks the
# sections that every public name needs; this catches what would render wrongly)
numpydoc_validation_checks: set[str] = set()


# Docstrings not in numpydoc form (no section such as Parameters, underlined with dashes:
# every public name has them, but a class page also lists members that
# tests/test_docstrings.py does not check, such as a layer's own forward) are shown as
# written, in a literal block under their summary line, so that plain-text conventions (`*args`,
# `name_`) cannot break the build. Once a docstring has numpydoc sections it is rendered
# as numpydoc, and anything in it that does not render fails the build.
_SECTION_RULE = re.compile(r"^\s*-{3,}\s*$")
_RST_SPECIAL = re.compile(r"([\\*_|`])")


def _literal_legacy_docstring(app, what, name, obj, options, lines):
    if not lines or any(_SECTION_RULE.match(line) for line in lines):
        return
    text = [line.rstrip() for line in lines]
    first_blank = text.index("") if "" in text else len(text)
    summary = " ".join(line.strip() for line in text[:first_blank])
    rest = text[first_blank:]
    while rest and not rest[0]:
        rest.pop(0)
    lines[:] = [_RST_SPECIAL.sub(r"\\\1", summary)]
    if rest:
        lines += ["", "::", ""] + ["    " + line if line else "" for line in rest]


def setup(app):
    app.connect("autodoc-process-docstring", _literal_legacy_docstring, priority=100)


# ---- MyST and MyST-NB: tutorials are Markdown notebooks, executed at build time ----------
myst_enable_extensions = ["colon_fence", "dollarmath", "amsmath"]
myst_heading_anchors = 3
# "cache": each notebook runs at build time (jupyter-cache, in docs/_build/.jupyter_cache),
# and again only when its code changes. A cell that raises fails the build.
nb_execution_mode = os.environ.get("GRADKIT_DOCS_EXECUTE", "cache")
nb_execution_timeout = 300
# Each page runs in a temporary working directory (as tests/test_tutorials.py runs it), so
# the files a tutorial writes (checkpoints, plots) do not land in docs/tutorials/.
nb_execution_in_temp = True
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# ---- HTML -------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"gradkit {release}"
html_static_path: list[str] = []
html_theme_options = {
    "github_url": "https://github.com/gradkit/gradkit",
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
