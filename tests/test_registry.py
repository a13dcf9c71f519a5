"""The estimator registry and its three views: ``daskgd``, ``daskgd.estimators``, the CLI."""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.base import is_classifier, is_regressor

import daskgd
import daskgd.estimators
from daskgd import cli, registry
from daskgd.registry import ESTIMATORS, EstimatorEntry

PACKAGE = Path(daskgd.__file__).parent
NAMES = {entry.name for entry in ESTIMATORS}


def test_names_and_cli_names_are_unique():
    assert len(NAMES) == len(ESTIMATORS)
    models = [entry for entry in ESTIMATORS if entry.kind != "transformer"]
    assert len({entry.cli_name for entry in models}) == len(models)
    assert all(entry.cli_name is None for entry in ESTIMATORS if entry not in models)
    assert {entry.kind for entry in ESTIMATORS} <= {"regressor", "classifier", "transformer"}


@pytest.mark.parametrize("entry", ESTIMATORS, ids=lambda entry: entry.name)
def test_every_entry_is_importable_from_every_view(entry: EstimatorEntry):
    cls = registry.estimator_class(entry.name)
    assert cls.__name__ == entry.name
    assert cls.__module__ == entry.module
    assert getattr(daskgd, entry.name) is cls
    assert getattr(daskgd.estimators, entry.name) is cls
    if entry.cli_name is not None:
        assert registry.estimator_class(cli.MODELS[entry.cli_name]) is cls


@pytest.mark.parametrize("entry", ESTIMATORS, ids=lambda entry: entry.name)
def test_kind_is_what_scikit_learn_says(entry: EstimatorEntry):
    estimator = registry.estimator_class(entry.name)()
    assert is_classifier(estimator) == (entry.kind == "classifier")
    assert is_regressor(estimator) == (entry.kind == "regressor")
    assert set(registry.estimator_names(entry.kind)) >= {entry.name}


def test_all_lists_exactly_the_registry():
    assert set(daskgd.__all__) - {"__version__"} == NAMES
    assert "__version__" in daskgd.__all__
    assert set(daskgd.estimators.__all__) == NAMES
    assert NAMES <= set(dir(daskgd))


def test_a_name_outside_the_registry_is_no_attribute():
    with pytest.raises(AttributeError, match="no attribute 'LassoLars'"):
        daskgd.LassoLars  # noqa: B018
    assert not hasattr(daskgd, "LassoLars")
    with pytest.raises(KeyError, match="not a daskgd estimator"):
        registry.estimator_class("LassoLars")


def test_cli_models_come_from_the_registry_under_the_same_names():
    # The command line names are public: changing one breaks users' scripts.
    assert cli.MODELS == {
        "linear": "LinearRegression",
        "ridge": "Ridge",
        "lasso": "Lasso",
        "elastic-net": "ElasticNet",
        "lasso-cv": "LassoCV",
        "elastic-net-cv": "ElasticNetCV",
        "huber": "HuberRegressor",
        "poisson": "PoissonRegressor",
        "gamma": "GammaRegressor",
        "tweedie": "TweedieRegressor",
        "logistic": "LogisticRegression",
        "logistic-cv": "LogisticRegressionCV",
        "svm": "LinearSVC",
        "sgd-classifier": "SGDClassifier",
        "sgd-regressor": "SGDRegressor",
        "hgb-classifier": "HistGradientBoostingClassifier",
        "hgb-regressor": "HistGradientBoostingRegressor",
    }
    assert cli.MODELS == registry.cli_models()
    assert set(cli.MODELS.values()) == set(registry.estimator_names("regressor")) | set(
        registry.estimator_names("classifier")
    )


def test_cli_model_choices_are_the_registry_cli_names():
    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    model = next(a for a in commands.choices["fit"]._actions if "--model" in a.option_strings)
    models = [entry for entry in ESTIMATORS if entry.cli_name is not None]
    assert model.choices == sorted(entry.cli_name for entry in models)
    for entry in models:
        args = parser.parse_args(["fit", "data.zarr", "--model", entry.cli_name, "-o", "m"])
        assert cli.MODELS[args.model] == entry.name


def _type_checking_imports(path: Path) -> set[tuple[str, str]]:
    """(module, name) of the imports under ``if TYPE_CHECKING:`` in ``path``."""
    imports = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
                assert statement.module is not None
                imports |= {(statement.module, alias.name) for alias in statement.names}
    return imports


@pytest.mark.parametrize("path", ["__init__.py", "estimators/__init__.py"])
def test_type_checking_imports_match_the_registry(path: str):
    expected = {(entry.module, entry.name) for entry in ESTIMATORS}
    assert _type_checking_imports(PACKAGE / path) == expected


def _loaded_after(code: str) -> dict[str, bool]:
    """Whether scikit-learn and NumPy are imported after ``code``, in a fresh interpreter."""
    report = (
        "import json, sys\nprint(json.dumps({m: m in sys.modules for m in ('sklearn', 'numpy')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded: dict[str, bool] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_import_daskgd_imports_neither_sklearn_nor_numpy():
    code = "import daskgd, daskgd.registry\ndir(daskgd)\ndaskgd.registry.cli_models()"
    assert _loaded_after(code) == {"sklearn": False, "numpy": False}


def test_the_cli_module_does_not_import_sklearn():
    assert _loaded_after("import daskgd.cli")["sklearn"] is False


def test_an_estimator_attribute_imports_sklearn():
    # The check above is not vacuous: asking for a class does import scikit-learn.
    assert _loaded_after("import daskgd\ndaskgd.LinearRegression")["sklearn"] is True
