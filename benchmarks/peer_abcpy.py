"""ABCpy 0.6.3's PMCABC on the height problem, run under ABCpy's own python (setup_abcpy.sh).

The model is ABCpy's own Normal(mu, sigma) with 67 draws per simulation
(``n_samples_per_param=67``), the summaries are mean and sd (ddof=1) and the distance is
ABCpy's Euclidean on them, as in abcspark. ``epsilon_percentile=0`` makes ABCpy follow the given
epsilon schedule exactly.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from typing import List, Optional

import numpy as np


def _mean_sd_statistics():
    from abcpy.statistics import Statistics

    class MeanSd(Statistics):
        """Mean and sd (ddof=1) of one data set: one row of two statistics."""

        def __init__(self):
            super().__init__(degree=1, cross=False)

        def statistics(self, data):
            values = np.asarray(data, dtype=np.float64).ravel()
            return np.array([[values.mean(), values.std(ddof=1)]])

    return MeanSd()


def pmc(
    heights: List[float],
    epsilons: List[Optional[float]],
    n_particles: int,
    seed: int,
    backend: str,
    parallelism: int = 2,
) -> dict:
    """Run ABCpy's PMCABC with ``backend`` 'spark' (local[parallelism]) or 'dummy'."""
    import logging

    from abcpy.continuousmodels import Normal, Uniform
    from abcpy.distances import Euclidean
    from abcpy.inferences import PMCABC

    logging.getLogger("py4j").setLevel(logging.WARNING)
    started = time.perf_counter()
    if backend == "spark":
        from abcpy.backends import BackendSpark
        from pyspark.sql import SparkSession

        os.environ["PYSPARK_PYTHON"] = sys.executable  # Python workers need ABCpy's python
        spark = (
            SparkSession.builder.master(f"local[{parallelism}]")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        engine = BackendSpark(spark.sparkContext, parallelism=parallelism)
    else:
        from abcpy.backends import BackendDummy

        engine = BackendDummy()
    session_seconds = time.perf_counter() - started
    mu = Uniform([[150], [200]], name="mu")
    sigma = Uniform([[5], [25]], name="sigma")
    height = Normal([mu, sigma], name="height")
    sampler = PMCABC([height], [Euclidean(_mean_sd_statistics())], engine, seed=seed)
    schedule = [1e300 if e is None or not np.isfinite(e) else e for e in epsilons]
    run_started = time.perf_counter()
    journal = sampler.sample(
        [list(heights)],
        steps=len(schedule),
        epsilon_init=schedule,
        n_samples=n_particles,
        n_samples_per_param=len(heights),
        epsilon_percentile=0,
    )
    run_seconds = time.perf_counter() - run_started
    params = journal.get_parameters()
    weights = np.asarray(journal.get_weights(), dtype=np.float64).ravel()
    weights = weights / weights.sum()
    moments = {}
    for name in ("mu", "sigma"):
        values = np.asarray(params[name], dtype=np.float64).ravel()
        mean = float(weights @ values)
        moments[f"{name}_mean"] = mean
        moments[f"{name}_sd"] = float(np.sqrt(weights @ (values - mean) ** 2))
    if backend == "spark":
        spark.stop()
    return {
        "session_seconds": session_seconds,
        "run_seconds": run_seconds,
        "n_simulations": int(journal.number_of_simulations[-1]),
        "final_epsilon": float(schedule[-1]),
        "python_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": os.getloadavg()[0],
        **moments,
    }
