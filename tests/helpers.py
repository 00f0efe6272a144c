"""What several test modules share: posteriors compared bit for bit, and bounded subprocesses.

pytest puts this folder on ``sys.path`` (it holds ``conftest.py`` and no ``__init__.py``), so
the test modules below it import it as ``from helpers import ...``.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any, Sequence

import numpy as np
import pandas as pd


def assert_same_posterior(a: Any, b: Any) -> None:
    """Assert that two posteriors hold the same particles, weights, distances and history."""
    np.testing.assert_array_equal(a.samples.to_numpy(), b.samples.to_numpy())
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.distances, b.distances)
    np.testing.assert_array_equal(a.history["epsilon"], b.history["epsilon"])
    counts = ["n_simulations", "n_after_last"]
    np.testing.assert_array_equal(a.history[counts], b.history[counts])
    assert (a.earlier is None) == (b.earlier is None)  # the generations adjust() pools
    if a.earlier is not None:
        pd.testing.assert_frame_equal(a.earlier, b.earlier)


def run_in_process_group(
    command: Sequence[str], timeout: float, **popen: Any
) -> subprocess.CompletedProcess:
    """Run ``command`` in a process group of its own and return its exit code and text output.

    If it overruns ``timeout`` seconds, the whole group (a driver's JVM and Python workers, the
    ranks under mpirun) gets SIGTERM, then SIGKILL 10 s later, and ``TimeoutExpired`` is raised.
    ``popen`` (``env``, ``cwd``) goes to :class:`subprocess.Popen`.
    """
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, out, err)
