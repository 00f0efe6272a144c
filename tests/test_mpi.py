"""The MPI engine under mpirun: the same posteriors as the NumPy and Spark engines, bit for bit.

Needs Open MPI (``mpirun``) and mpi4py; without them the tests skip, unless
``ABCSPARK_REQUIRE_MPI`` is set (CI sets it after installing both), where they fail instead.
"""

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abcspark import Posterior

JOBS = Path(__file__).parent / "jobs"
sys.path.insert(0, str(JOBS))
from mpi_models import twin_heights  # noqa: E402
from mpi_run import HEIGHTS, run_pmc, run_rejection  # noqa: E402

MPIRUN = shutil.which("mpirun")
HAVE_MPI = MPIRUN is not None and importlib.util.find_spec("mpi4py") is not None
if not HAVE_MPI and not os.environ.get("ABCSPARK_REQUIRE_MPI"):
    pytest.skip(
        "needs Open MPI's mpirun and mpi4py (apt-get install openmpi-bin libopenmpi-dev; "
        "pip install mpi4py); set ABCSPARK_REQUIRE_MPI=1 to fail instead of skipping",
        allow_module_level=True,
    )


def environment():
    root = str(JOBS.parent.parent)
    return dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))


def run(command, timeout=240):
    """Run ``command`` in its own process group; stop the whole group if it overruns."""
    process = subprocess.Popen(
        command,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
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
    return process.returncode, out, err


def mpirun(ranks, *arguments):
    command = [MPIRUN, "--oversubscribe", "--allow-run-as-root", "-np", str(ranks)]
    return run([*command, sys.executable, str(JOBS / "mpi_run.py"), *map(str, arguments)])


def roundtrip(posterior, path):
    """Save and load, as the MPI job's posteriors were (loading renormalizes the weights)."""
    posterior.save(str(path))
    return Posterior.load(str(path))


def assert_same(a, b):
    np.testing.assert_array_equal(a.samples.to_numpy(), b.samples.to_numpy())
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.distances, b.distances)
    np.testing.assert_array_equal(a.history["n_simulations"], b.history["n_simulations"])
    np.testing.assert_array_equal(a.history["epsilon"], b.history["epsilon"])


@pytest.fixture(scope="module")
def on_mpi(tmp_path_factory):
    """``mpirun -np 3`` of the job for each model, run once: model -> folder of posteriors."""
    done = {}

    def output(model):
        if model not in done:
            folder = tmp_path_factory.mktemp(model)
            code, _, err = mpirun(3, folder, model)
            assert code == 0, err[-3000:]
            done[model] = folder
        return done[model]

    return output


@pytest.mark.parametrize(
    "model, reference", [("plain", HEIGHTS), ("ranked", twin_heights)], ids=["plain", "ranked"]
)
def test_mpi_runs_match_the_numpy_engine(tmp_path, on_mpi, model, reference):
    for name, sample in (("pmc", run_pmc), ("rejection", run_rejection)):
        posterior = Posterior.load(str(on_mpi(model) / name))
        assert posterior.metadata["engine"] == "mpi"
        assert posterior.metadata["parallelism"] == (2 if model == "plain" else 1)
        assert_same(posterior, roundtrip(sample(reference, engine="numpy"), tmp_path / name))


def test_mpi_pmc_matches_spark(tmp_path, on_mpi, spark):
    on_spark = roundtrip(run_pmc(HEIGHTS, spark=spark, parallelism=2), tmp_path / "spark")
    assert_same(Posterior.load(str(on_mpi("plain") / "pmc")), on_spark)


def test_mpi_ranks_must_fill_model_instances(tmp_path):
    code, _, err = mpirun(4, tmp_path / "out", "ranked")
    assert code != 0
    assert "must be a multiple of process_per_model=2 (got 3); start mpirun -np 3" in err


def test_mpi_engine_needs_two_ranks():
    code, _, err = run([sys.executable, "-c", "from abcspark.mpi import MPIEngine; MPIEngine()"])
    assert code != 0
    assert "ValueError: the MPI engine needs at least 2 ranks (got 1)" in err


def test_mpi_engine_without_mpi4py():
    hidden = "import sys; sys.modules['mpi4py'] = None\n"  # as if mpi4py were not installed
    code, _, err = run(
        [sys.executable, "-c", hidden + "from abcspark.mpi import MPIEngine; MPIEngine()"]
    )
    assert code != 0
    assert "ImportError: engine='mpi' needs mpi4py and an MPI library" in err
    assert "pip install 'abcspark[mpi]'" in err
