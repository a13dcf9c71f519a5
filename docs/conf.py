"""Sphinx configuration of daskgd's documentation.

Built offline (``make docs``): no intersphinx inventories, no script or font from
the network; the pass-graph picture is drawn from daskgd's engine at build time
(``_ext/daskgd_docs.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import daskgd  # noqa: E402

project = "daskgd"
author = "daskgd developers"
copyright = "daskgd developers"  # noqa: A001 (Sphinx's name)
version = release = daskgd.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "daskgd_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated/*.md", "**/.ipynb_checkpoints"]
templates_path = ["_templates"]

# ---- API reference ----
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# ---- Markdown ----
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# ---- HTML: pydata-sphinx-theme, everything served from the build ----
html_theme = "pydata_sphinx_theme"
html_title = f"daskgd {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "icon_links": [],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# Pages without sub-pages need no section navigation; the comparison's wide table
# gets the room.
html_sidebars = {"index": [], "getting-started": [], "comparison": [], "architecture": []}
html_show_sourcelink = False
html_last_updated_fmt = None


def _skip_scikit_learn_members(app, what, name, obj, skip, options):  # noqa: ANN001, ANN202
    """Leave out the methods a class inherits from scikit-learn (``score``, ``set_output``,
    ``get_params``, the metadata-routing ``set_*_request`` ...).

    They behave as scikit-learn documents them, and their docstrings link to
    scikit-learn's own glossary and user guide, which this site does not have
    (``docs/api.rst`` says so).
    """
    module = getattr(obj, "__module__", None) or ""
    if module == "sklearn" or module.startswith("sklearn."):
        return True
    if name == "get_metadata_routing" or (name.startswith("set_") and name.endswith("_request")):
        return True
    return None


def setup(app):  # noqa: ANN001, ANN201
    app.connect("autodoc-skip-member", _skip_scikit_learn_members)
