"""The same posterior, bit for bit, from spark-submit and the pyspark shell on the cluster."""

import re
from pathlib import Path

import numpy as np
import pytest
from cluster_models import SEED, SETTINGS

from abcspark import PMCABC, Posterior
from abcspark.examples import HeightModel, height_problem

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]
PRIOR, _, OBSERVED = height_problem()


def assert_same(got, expected):
    np.testing.assert_array_equal(got.samples.to_numpy(), expected.samples.to_numpy())
    np.testing.assert_array_equal(got.weights, expected.weights)
    np.testing.assert_array_equal(got.distances, expected.distances)
    for column in ("epsilon", "n_simulations", "n_failed"):
        np.testing.assert_array_equal(got.history[column], expected.history[column])


def executor_logs(cluster, output):
    """stderr files of the executors of the application named in a driver's log."""
    application = re.search(r"app-\d{14}-\d{4}", output).group()
    return sorted(cluster.log_dir.glob(f"worker-*/{application}/*/stderr"))


def test_spark_submit_of_the_main_job_matches_the_local_runs(cluster, drivers, spark, tmp_path):
    job = ROOT / "abcspark" / "__main__.py"
    options = ["--particles", "200", "--generations", "3", "--seed", "11"]
    command = ["spark-submit", "--master", cluster.master_url, job, *options]
    code, output = drivers.run("main", [*command, "--output", tmp_path / "out"])
    assert code == 0, output[-3000:]
    assert f"shipped abcspark to the executors of {cluster.master_url}" in output
    assert len(executor_logs(cluster, output)) == 2  # one executor on each worker
    got = Posterior.load(str(tmp_path / "out" / "posterior"))
    assert got.metadata["engine"] == "spark"
    assert (tmp_path / "out" / "posterior.png").stat().st_size > 0
    pmc = dict(n_particles=200, generations=3, progress=False)
    assert_same(got, PMCABC(PRIOR, HeightModel(), engine="numpy", **pmc).run(OBSERVED, seed=11))
    assert_same(got, PMCABC(PRIOR, HeightModel(), spark=spark, **pmc).run(OBSERVED, seed=11))


SHELL = """
import numpy as np
from abcspark import PMCABC, get_spark
from abcspark.examples import height_problem

def simulate(theta, rng):
    draws = rng.normal(theta[:, :1], theta[:, 1:2], size=(len(theta), 67))
    return np.stack([draws.mean(axis=-1), draws.std(axis=-1, ddof=1)], axis=-1)

prior, _, observed = height_problem()
print("shell session:", get_spark() is spark, spark.sparkContext.master)
pmc = PMCABC(prior, simulate, n_particles=200, generations=3, batch_size=100, progress=False)
pmc.run(observed, seed={seed}).save({output!r})
print("saved")
"""


def test_pyspark_shell_runs_notebook_code_on_its_own_session(cluster, drivers, tmp_path):
    output = tmp_path / "posterior"
    code, log = drivers.run(
        "shell",
        ["pyspark", "--master", cluster.master_url],
        stdin=SHELL.format(seed=SEED, output=str(output)),
        PYSPARK_DRIVER_PYTHON_OPTS="-i",
    )
    assert code == 0 and "saved" in log, log[-3000:]
    assert f"shell session: True {cluster.master_url}" in log
    assert len(executor_logs(cluster, log)) == 2
    expected = PMCABC(PRIOR, HeightModel(), **SETTINGS, engine="numpy").run(OBSERVED, seed=SEED)
    assert_same(Posterior.load(str(output)), expected)
