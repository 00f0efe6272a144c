"""Failures on Spark executors come back as one clear abcspark error, raised once."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest
from helpers import run_in_process_group

from abcspark import RejectionABC, SimulationError
from abcspark.examples import NormalMean

MODEL = NormalMean(prior_mean=0.0, prior_sd=2.0, sd=1.0, n_obs=10)
OBSERVED = [0.8]


def fails_far_out(theta, rng):
    if (theta[:, 0] > 6.5).any():  # beyond 3.25 prior sds: not in the dry run's 4 draws
        raise ValueError("mu is too far out")
    return MODEL(theta, rng)


def test_a_deterministic_executor_error_is_the_simulators_own_message(spark, spark_path):
    abc = RejectionABC(MODEL.prior, fails_far_out, batch_size=100, spark=spark)
    with pytest.raises(
        SimulationError,
        match=r"^the simulator raised ValueError: mu is too far out in generation 0, batch "
        r"\d+, at parameters \(mu=",
    ):
        abc.run(OBSERVED, quantile=0.01, n_simulations=100_000, seed=1)


def test_a_deterministic_error_is_retried_once_not_max_failures_times(tmp_path):
    """On local[1,3] Spark would try a failing task three times; the retry's marker stops it.

    The first attempt fails (so a transient fault still recovers on the retry); the retry's
    error is deterministic, so its partition ends with a marker and the driver reruns that
    batch, which raises the simulator's own message. An error that only executors raise is
    reported as such.
    """
    job = Path(__file__).parent / "jobs" / "retry_job.py"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    done = run_in_process_group([sys.executable, str(job), str(tmp_path)], 300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    results = {r["case"]: r for r in map(json.loads, done.stdout.strip().splitlines())}
    for path in ("rdd", "arrow"):  # small rounds' RDD jobs, and mapInPandas
        everywhere, executors_only = (
            results[f"everywhere-{path}"],
            results[f"executors_only-{path}"],
        )
        assert everywhere["type"] == "SimulationError"
        assert everywhere["message"].startswith(
            "the simulator raised ValueError: mu is too far out in generation 0, batch "
        )
        assert (
            "raised on two task attempts on the executors but not when run again on the driver"
            in executors_only["message"]
        )
    attempts = {int(p.name.split("-")[2]) for p in tmp_path.iterdir()}
    assert attempts == {0, 1}  # never the third attempt


def test_an_unpicklable_simulator_gets_a_clear_error(spark):
    lock = threading.Lock()

    def locked(theta, rng):
        with lock:
            return MODEL(theta, rng)

    abc = RejectionABC(MODEL.prior, locked, batch_size=100, spark=spark)
    with pytest.raises(TypeError, match=r"simulate and distance must be picklable .*lock"):
        abc.run(OBSERVED, quantile=0.1, n_simulations=1000, seed=1)


def exits(theta, rng):
    from pyspark import TaskContext

    if TaskContext.get() is not None:
        import os

        os._exit(3)  # a worker that dies
    return MODEL(theta, rng)


def test_a_worker_that_exits_gives_one_abcspark_error_with_the_cause_attached(spark, spark_path):
    abc = RejectionABC(MODEL.prior, exits, batch_size=100, spark=spark)
    with pytest.raises(SimulationError, match=r"a Spark job \(RejectionABC\) failed") as info:
        abc.run(OBSERVED, quantile=0.1, n_simulations=1000, seed=1)
    assert info.value.__cause__ is not None
