"""The documentation site (docs/): its API reference lists every public name, and its
pass-graph picture is the engine's real graph.

The site itself is built by ``make docs`` (which ``make test`` runs) with warnings as
errors; these tests stay fast and build nothing with Sphinx. They check the sources:
that every estimator of :mod:`daskgd.registry` and every name of ``daskgd.__all__``
(and the functions users call in io, evaluation, cluster, monitoring,
serialization and checkpoint) is in an ``autosummary`` of ``docs/api.rst`` (or a ``py:data``
directive), that each listed name imports, and that the picture's generator draws
the keys and dependencies of a pass that the engine builds. When ``docs/_build``
exists they also check the built pages.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

import daskgd
from daskgd import registry

DOCS = Path(__file__).resolve().parent.parent / "docs"
API = DOCS / "api.rst"
BUILT = DOCS / "_build" / "html"

#: Functions and classes of the plumbing modules that users call.
USER_FUNCTIONS = {
    "daskgd.io": ["load", "load_zarr", "write_synthetic", "plan_chunks"],
    "daskgd.evaluation": ["evaluate"],
    "daskgd.cluster": ["start_local_cluster", "close_client", "connect", "tls_security"],
    "daskgd.monitoring": ["make_callback"],
    "daskgd.serialization": ["save_model", "load_model", "read_header"],
    "daskgd.checkpoint": ["Checkpoint", "CheckpointMismatchError", "fingerprint"],
}


def documented_names(source: str) -> dict[str, str]:
    """Full name -> directive of every name in an autosummary or ``py:data`` of ``source``.

    Relative names in an autosummary are completed with the module of the nearest
    ``currentmodule`` or ``automodule`` above it, as Sphinx does.
    """
    names: dict[str, str] = {}
    module = None
    in_summary = False
    for line in source.splitlines():
        directive = re.match(r"\.\. (?:currentmodule|automodule|module):: (\S+)", line)
        if directive:
            module = None if directive.group(1) == "None" else directive.group(1)
        data = re.match(r"\.\. (?:py:data|autodata):: (\S+)", line)
        if data:
            names[data.group(1)] = "data"
        if line.startswith(".. autosummary::"):
            in_summary = True
            continue
        if in_summary:
            if line.strip() and not line.startswith("   "):
                in_summary = False
                continue
            entry = line.strip()
            if not entry or entry.startswith(":"):
                continue
            if module is not None and not entry.startswith(f"{module}."):
                entry = f"{module}.{entry}"
            names[entry] = "autosummary"
    return names


@pytest.fixture(scope="module")
def documented() -> dict[str, str]:
    return documented_names(API.read_text(encoding="utf-8"))


def test_the_parser_completes_relative_names() -> None:
    source = (
        ".. currentmodule:: daskgd.io\n\n.. autosummary::\n   :toctree: generated\n\n"
        "   load\n   daskgd.io.load_zarr\n\nText.\n\n   not_an_entry\n"
    )
    assert documented_names(source) == {
        "daskgd.io.load": "autosummary",
        "daskgd.io.load_zarr": "autosummary",
    }


def test_every_registry_estimator_is_in_the_api_reference(documented) -> None:
    missing = [
        name for name in registry.estimator_names() if documented.get(f"daskgd.{name}") is None
    ]
    assert not missing, f"docs/api.rst lists no autosummary entry for {missing}"


def test_every_name_of_daskgd_all_is_in_the_api_reference(documented) -> None:
    missing = [name for name in daskgd.__all__ if f"daskgd.{name}" not in documented]
    assert not missing, f"docs/api.rst does not list {missing}"
    # The estimators are summarised (a page each), not only named.
    for name in registry.estimator_names():
        assert documented[f"daskgd.{name}"] == "autosummary", name


def test_every_estimator_has_a_numpydoc_docstring() -> None:
    """A docstring built by concatenation must be assigned to ``__doc__``: a bare
    expression in the class body is not a docstring (seven estimators had none)."""
    for name in registry.estimator_names():
        doc = getattr(daskgd, name).__doc__
        assert doc, f"{name} has no docstring"
        for section in ("Parameters\n    ----------", "Attributes\n    ----------"):
            assert section in doc, f"{name}'s docstring has no {section.splitlines()[0]}"


@pytest.mark.parametrize("module", sorted(USER_FUNCTIONS))
def test_the_functions_users_call_are_in_the_api_reference(documented, module) -> None:
    missing = [name for name in USER_FUNCTIONS[module] if f"{module}.{name}" not in documented]
    assert not missing, f"docs/api.rst does not list {module}.{missing}"


def test_every_listed_name_exists(documented) -> None:
    """A name left in the reference after it was removed or renamed fails here."""
    unresolved = []
    for full in documented:
        parts = full.split(".")
        for split in range(len(parts) - 1, 0, -1):
            try:
                target = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            try:
                for attribute in parts[split:]:
                    target = getattr(target, attribute)
            except AttributeError:
                unresolved.append(full)
            break
        else:
            unresolved.append(full)
    assert not unresolved, unresolved


# ---- the picture of one pass ----


@pytest.fixture(scope="module")
def docs_extension():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        yield importlib.import_module("daskgd_docs")
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def test_the_pass_graph_is_the_engines_newton_pass(docs_extension) -> None:
    nodes, edges = docs_extension.pass_graph(n_chunks=4, split_every=2)
    by_kind: dict[str, list[str]] = {}
    for node in nodes:
        by_kind.setdefault(node.kind, []).append(node.label)
    assert sorted(by_kind["chunk"]) == [f"daskgd-loss-grad-hess {i}" for i in range(4)]
    assert sorted(by_kind["combine"]) == [
        "daskgd-reduce (0, 0)",
        "daskgd-reduce (0, 2)",
        "daskgd-reduce (1, 0)",
    ]
    assert by_kind["broadcast"] == ["daskgd-coef"]
    assert sorted(by_kind["derived"]) == [f"daskgd-y {i}" for i in range(4)]
    labels = {node.key: node.label for node in nodes}
    into: dict[str, set[str]] = {}
    for source, target in edges:
        into.setdefault(labels[target], set()).add(labels[source])
    # Each chunk step reads its own chunk of X, its encoded labels and the coefficients.
    for i in range(4):
        assert into[f"daskgd-loss-grad-hess {i}"] == {
            f"X chunk {i}",
            f"daskgd-y {i}",
            "daskgd-coef",
        }
        assert into[f"daskgd-y {i}"] == {f"y chunk {i}"}
    # The combine tree merges by chunk index, two at a time.
    assert into["daskgd-reduce (0, 0)"] == {"daskgd-loss-grad-hess 0", "daskgd-loss-grad-hess 1"}
    assert into["daskgd-reduce (1, 0)"] == {"daskgd-reduce (0, 0)", "daskgd-reduce (0, 2)"}
    # The default fan-in of 8 makes one combine over 4 chunks.
    wide, _ = docs_extension.pass_graph(n_chunks=4, split_every=8)
    assert [n.label for n in wide if n.kind == "combine"] == ["daskgd-reduce (0, 0)"]


def test_the_picture_shows_the_solver_auto_picks(docs_extension) -> None:
    """The page says the pass is Newton's, what solver="auto" picks for the problem."""
    from daskgd.losses import BinaryLogLoss
    from daskgd.objective import LinearObjective
    from daskgd.penalties import L2
    from daskgd.solvers import choose_solver

    objective = LinearObjective(BinaryLogLoss(), L2(1.0), 3, 1, True)
    assert choose_solver(objective) == "newton"
    page = (DOCS / "user-guide" / "task-graphs.md").read_text(encoding="utf-8")
    assert '"loss_grad_hess"' in page and "../_generated/pass-graph.svg" in page


def test_the_svg_is_deterministic_and_names_every_task(docs_extension) -> None:
    nodes, edges = docs_extension.pass_graph()
    first = docs_extension.graph_svg(nodes, edges)
    second = docs_extension.graph_svg(*docs_extension.pass_graph())  # new frame, new tokens
    assert first == second
    assert first.startswith("<svg ") and first.rstrip().endswith("</svg>")
    assert first.count("<line ") == len(edges)
    for node in nodes:
        assert f">{node.label}</text>" in first
    assert not re.search(r"[0-9a-f]{32}", first), "a random token leaked into the picture"


def test_the_cli_help_directive_covers_every_subcommand(docs_extension) -> None:
    titles = [title for title, _ in docs_extension.cli_help_texts()]
    assert titles[0] == "daskgd"
    assert {"daskgd make-data", "daskgd fit", "daskgd predict", "daskgd evaluate"} <= set(titles)
    fit_help = dict(docs_extension.cli_help_texts())["daskgd fit"]
    for cli_name in registry.cli_models():
        assert cli_name in fit_help


# ---- the built site, when there is one ----


@pytest.mark.skipif(not BUILT.exists(), reason="docs/_build not built (make docs)")
def test_the_built_site_has_a_page_per_estimator_and_fetches_nothing() -> None:
    for name in registry.estimator_names():
        page = BUILT / "generated" / f"daskgd.{name}.html"
        assert page.exists(), page
        assert name in page.read_text(encoding="utf-8")
    for page in ("index", "getting-started", "api", "comparison", "architecture"):
        assert (BUILT / f"{page}.html").exists(), page
    assert (BUILT / "user-guide" / "task-graphs.html").exists()
    remote = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=\"(?:https?:)?//")
    for page in BUILT.rglob("*.html"):
        match = remote.search(page.read_text(encoding="utf-8"))
        assert match is None, f"{page} loads {match.group(0)!r} from the network"
