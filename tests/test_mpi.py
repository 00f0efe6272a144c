"""The MPI engine under mpirun: the same posteriors as the NumPy and Spark engines, bit for bit.

Needs Open MPI (``mpirun``) and mpi4py; without them the tests skip, unless
``ABCSPARK_REQUIRE_MPI`` is set (CI sets it after installing both), where they fail instead.
"""

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest
from helpers import assert_same_posterior, run_in_process_group

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


def run(command):
    """Run ``command`` with this checkout on PYTHONPATH, stopped if it overruns 240 s."""
    pythonpath = os.pathsep.join([str(JOBS.parent.parent), os.environ.get("PYTHONPATH", "")])
    return run_in_process_group(command, timeout=240, env=dict(os.environ, PYTHONPATH=pythonpath))


def mpirun(ranks, *arguments):
    command = [MPIRUN, "--oversubscribe", "--allow-run-as-root", "-np", str(ranks)]
    return run([*command, sys.executable, str(JOBS / "mpi_run.py"), *map(str, arguments)])


def roundtrip(posterior, path):
    """Save and load, as the MPI job's posteriors were (loading renormalizes the weights)."""
    posterior.save(str(path))
    return Posterior.load(str(path))


@pytest.fixture(scope="module")
def on_mpi(tmp_path_factory):
    """``mpirun -np 3`` of the job for each model, run once: model -> folder of posteriors."""
    done = {}

    def output(model):
        if model not in done:
            folder = tmp_path_factory.mktemp(model)
            job = mpirun(3, folder, model)
            assert job.returncode == 0, job.stderr[-3000:]
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
        assert_same_posterior(
            posterior, roundtrip(sample(reference, engine="numpy"), tmp_path / name)
        )


def test_mpi_pmc_matches_spark(tmp_path, on_mpi, spark):
    on_spark = roundtrip(run_pmc(HEIGHTS, spark=spark, parallelism=2), tmp_path / "spark")
    assert_same_posterior(Posterior.load(str(on_mpi("plain") / "pmc")), on_spark)


def test_mpi_ranks_must_fill_model_instances(tmp_path):
    done = mpirun(4, tmp_path / "out", "ranked")
    assert done.returncode != 0
    assert "must be a multiple of process_per_model=2 (got 3); start mpirun -np 3" in done.stderr


def test_mpi_engine_needs_two_ranks():
    done = run([sys.executable, "-c", "from abcspark.engines.mpi import MPIEngine; MPIEngine()"])
    assert done.returncode != 0
    assert "ValueError: the MPI engine needs at least 2 ranks (got 1)" in done.stderr


def test_mpi_engine_without_mpi4py():
    hidden = "import sys; sys.modules['mpi4py'] = None\n"  # as if mpi4py were not installed
    done = run(
        [sys.executable, "-c", hidden + "from abcspark.engines.mpi import MPIEngine; MPIEngine()"]
    )
    assert done.returncode != 0
    assert "ImportError: engine='mpi' needs mpi4py and an MPI library" in done.stderr
    assert "pip install 'abcspark[mpi]'" in done.stderr
