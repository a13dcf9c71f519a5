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
import signal
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
    "external_scheduler.py": "scheduler and worker stopped",
    "fit_zarr.py": "nothing spilled to disk",
    "follow_fit.py": "state.json: LogisticRegression (lbfgs) finished",
    "sgd_averaging.py": "sequential SGD equals scikit-learn's partial_fit loop",
    "sklearn_pipeline.py": "same best C and the same cross-validated scores",
}


def test_the_examples_are_found():
    assert len(SCRIPTS) >= len(EXPECTED_OUTPUT)
    assert set(EXPECTED_OUTPUT) <= {script.name for script in SCRIPTS}


def _kill_group(pid: int) -> None:
    """SIGKILL every process left in the session that ``pid`` leads."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.stem for script in SCRIPTS])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    environment.pop("DASK_SCHEDULER_ADDRESS", None)  # the examples start clusters of their own
    started = time.monotonic()
    # In a session of its own, so that whatever it started (cluster processes) goes too.
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        stdout, stderr = process.communicate()
        pytest.fail(f"{script.name} ran past {TIMEOUT:.0f}s.\nstdout:\n{stdout}\nstderr:\n{stderr}")
    finally:
        _kill_group(process.pid)  # anything left behind
    seconds = time.monotonic() - started
    report = f"{script.name} ({seconds:.1f}s)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    assert process.returncode == 0, f"exit status {process.returncode}: {report}"
    assert stdout.strip(), f"printed nothing: {report}"
    expected = EXPECTED_OUTPUT.get(script.name)
    if expected is not None:
        assert expected in stdout, f"no {expected!r} in the output: {report}"
    print(f"{script.name}: {seconds:.1f}s")
