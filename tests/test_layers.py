"""Architecture rules: only a few modules may import dask, and public names carry docstrings."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from numpydoc.docscrape import FunctionDoc

import daskgd
from daskgd import LinearRegression, LogisticRegression, Ridge

PACKAGE = Path(daskgd.__file__).parent
DASK_MODULES = {
    "oracles/dask.py",
    "engine/execution.py",
    "engine/frame.py",
    "io.py",
    "cluster.py",
    "validation.py",
    "monitoring.py",
    "dashboard.py",
}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_graph_and_io_modules_import_dask():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        dask_roots = _imported_roots(path) & {"dask", "distributed"}
        if dask_roots and relative not in DASK_MODULES:
            offenders.append(f"{relative} imports {sorted(dask_roots)}")
    assert offenders == []


def test_pure_math_layers_import_neither_dask_nor_estimators():
    pure = [
        "losses",
        "penalties",
        "objective.py",
        "solvers",
        "stochastic",
        "trees",
        "engine/memory.py",
        "oracles/numpy.py",
        "metrics.py",
        "plotting.py",
    ]
    for name in pure:
        target = PACKAGE / name
        paths = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for path in paths:
            roots = _imported_roots(path)
            assert not roots & {"dask", "distributed", "sklearn"}, path


def test_the_stochastic_modules_load_without_sklearn_or_the_estimators():
    # A worker that unpickles an SGD chunk task imports daskgd.stochastic.steps and
    # the loss it carries (stochastic.objective); the loop and the eta search are
    # held to the same rule, since the estimators hand them scikit-learn models.
    heavy = ["daskgd.estimators", "daskgd.validation", "sklearn", "pandas", "dask", "distributed"]
    code = (
        "import sys\n"
        "import daskgd.stochastic.steps, daskgd.stochastic.objective\n"
        "import daskgd.stochastic.eta, daskgd.stochastic.loop\n"
        f"heavy = {heavy!r}\n"
        "loaded = [m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy)]\n"
        "print(sorted(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_tree_modules_load_without_sklearn_or_the_estimators():
    # A worker that runs a boosting pass imports daskgd.trees.passes (and its kernels).
    heavy = ["daskgd.estimators", "daskgd.validation", "sklearn", "pandas", "dask", "distributed"]
    code = (
        "import sys\n"
        "import daskgd.trees.passes, daskgd.trees.grower, daskgd.trees.predictor\n"
        f"heavy = {heavy!r}\n"
        "loaded = [m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy)]\n"
        "print(sorted(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


PUBLIC_METHODS = ["fit", "predict", "predict_proba", "predict_log_proba", "decision_function"]


def _documented_callables():
    for estimator in (LinearRegression, LogisticRegression, Ridge):
        yield estimator.__name__, estimator.__init__, estimator
        for method in PUBLIC_METHODS:
            if hasattr(estimator, method):
                yield f"{estimator.__name__}.{method}", getattr(estimator, method), None


@pytest.mark.parametrize(("name", "function", "owner"), list(_documented_callables()))
def test_docstrings_document_every_parameter(name, function, owner):
    doc = FunctionDoc(owner if owner is not None else function)
    documented = [param.name.split(":")[0].strip() for param in doc["Parameters"]]
    expected = [p for p in inspect.signature(function).parameters if p != "self"]
    assert documented == expected, name
    if owner is None:
        assert doc["Returns"], f"{name} documents no return value"
