"""Every script in ``examples/`` runs to the end, as ``python examples/NAME.py``, and says so.

The scripts are found by glob, so a new example is tested without being listed
here. Each runs in its own process (the examples that start a LocalCluster
need a ``__main__`` of their own) from an empty working directory, within a
time limit; its standard error is shown when it fails. An example asserts its
own key claim (equal coefficients, equal scores, ...); this test checks that it
finished and printed what it is about.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
TIMEOUT = 120.0  # seconds per example; each takes well under 30 on 2 busy cores

#: A line each example prints once its work is done; an example not listed here
#: must still print something.
EXPECTED_OUTPUT = {
    "checkpoint_resume.py": "equal the uninterrupted fit's",
    "cli_workflow.py": "predictions.npy: accuracy",
    "external_scheduler.py": "scheduler and workers stopped",
    "fit_zarr.py": "nothing spilled to disk",
    "follow_fit.py": "state.json: LogisticRegression (lbfgs) finished",
    "sgd_averaging.py": "sequential SGD equals scikit-learn's partial_fit loop",
    "sklearn_pipeline.py": "same best C and the same cross-validated scores",
}


def test_the_examples_are_found():
    assert len(SCRIPTS) >= len(EXPECTED_OUTPUT)
    assert set(EXPECTED_OUTPUT) <= {script.name for script in SCRIPTS}


def _text(output: str | bytes | None) -> str:
    """Captured output as text (a ``TimeoutExpired`` holds bytes, whatever ``text`` was)."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.stem for script in SCRIPTS])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    environment.pop("DASK_SCHEDULER_ADDRESS", None)  # the CLI example starts its own clusters
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(
            f"{script.name} ran past {TIMEOUT:.0f}s.\nstdout:\n{_text(error.stdout)}\n"
            f"stderr:\n{_text(error.stderr)}"
        )
    seconds = time.monotonic() - started
    report = f"{script.name} ({seconds:.1f}s)\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, f"exit status {done.returncode}: {report}"
    assert done.stdout.strip(), f"printed nothing: {report}"
    expected = EXPECTED_OUTPUT.get(script.name)
    if expected is not None:
        assert expected in done.stdout, f"no {expected!r} in the output: {report}"
    print(f"{script.name}: {seconds:.1f}s")
