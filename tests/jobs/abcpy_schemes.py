"""ABCpy 0.6.3's own inference schemes on abcspark's backend, against ABCpy's BackendDummy.

Runs in ABCpy's virtual environment (benchmarks/setup_abcpy.sh). Each scheme runs twice with
the same seed and a deterministic distance (Euclidean): on BackendDummy and on
abcspark.abcpy_backend.BackendSpark (local[2], two attempts per task). "pmcabc_retried" uses a model
that fails the first attempt of every second partition's task, so Spark retries them. Prints
one JSON line: for each scheme, the journal fields that differ (none expected), the number of
particles and simulations, and the seconds both runs took.

Usage: python abcpy_schemes.py [SCHEME ...]   (default: all of them)
"""

import json
import sys
import time

import numpy as np
from abcpy.backends import BackendDummy
from abcpy.continuousmodels import Normal, Uniform
from abcpy.distances import Euclidean
from abcpy.inferences import PMCABC, SMCABC, RejectionABC
from abcpy.statistics import Identity

from abcspark.abcpy_backend import BackendSpark
from abcspark.examples import height_observations

OBSERVED = [height_observations().tolist()]


class FlakyNormal(Normal):
    """ABCpy's Normal, except in the first attempt of odd-numbered Spark tasks: it raises."""

    def forward_simulate(self, input_values, k, rng, mpi_comm=None):
        from pyspark import TaskContext

        task = TaskContext.get()
        if task is not None and task.attemptNumber() == 0 and task.partitionId() % 2:
            rng.standard_normal(5)  # consumed randomness must not leak into the retry
            raise ConnectionError("executor lost (a fault injected by the test)")
        return super().forward_simulate(input_values, k, rng=rng, mpi_comm=mpi_comm)


def height_model(model=Normal):
    """The model of ABCpy's pmcabc_gaussian example (mu ~ U(150, 200), sigma ~ U(5, 25))."""
    mu = Uniform([[150], [200]], name="mu")
    sigma = Uniform([[5], [25]], name="sigma")
    height = model([mu, sigma], name="height")
    return height, Euclidean(Identity(degree=2, cross=False))


def rejection(backend):
    height, distance = height_model()
    sampler = RejectionABC([height], [distance], backend, seed=1)
    return sampler.sample(OBSERVED, n_samples=40, n_samples_per_param=10, epsilon=10500.0)


def pmcabc(backend, model=Normal):
    height, distance = height_model(model)
    sampler = PMCABC([height], [distance], backend, seed=1)
    return sampler.sample(OBSERVED, 2, np.array([11000.0]), 40, 10, 50)


def pmcabc_retried(backend):
    return pmcabc(backend, FlakyNormal)


def smcabc(backend):
    height, distance = height_model()
    sampler = SMCABC([height], [distance], backend, seed=1)
    return sampler.sample(OBSERVED, 2, n_samples=40, n_samples_per_param=10, epsilon_final=9000.0)


def pmcabc_gaussian(backend):
    """The example's inference (steps=1 as its __main__ runs it), with Euclidean for LogReg."""
    height, distance = height_model()
    sampler = PMCABC([height], [distance], backend, seed=1)
    return sampler.sample(OBSERVED, 1, np.array([11000.0]), 250, 10, 10)


SCHEMES = {
    "rejection": rejection,
    "pmcabc": pmcabc,
    "smcabc": smcabc,
    "pmcabc_retried": pmcabc_retried,
    "pmcabc_gaussian": pmcabc_gaussian,
}


def journal_fields(journal):
    """Everything a journal reports, as arrays."""
    return {
        "parameters": np.asarray(journal.get_accepted_parameters(), dtype=float),
        "weights": np.asarray(journal.get_weights(), dtype=float),
        "distances": np.asarray(journal.distances, dtype=float),
        "n_simulations": np.asarray(journal.number_of_simulations),
        "epsilons": np.asarray(journal.configuration.get("epsilon_arr", []), dtype=float),
        "mean": np.asarray(list(journal.posterior_mean().values()), dtype=float),
    }


def main():
    import pyspark

    conf = (
        pyspark.SparkConf()
        .setMaster("local[2,2]")  # two attempts per task
        .set("spark.ui.showConsoleProgress", "false")
        .set("spark.ui.enabled", "false")
        .set("spark.driver.host", "127.0.0.1")
        .set("spark.driver.bindAddress", "127.0.0.1")
    )
    sc = pyspark.SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    report = {}
    for name in sys.argv[1:] or SCHEMES:
        started = time.perf_counter()
        reference = journal_fields(SCHEMES[name](BackendDummy()))
        fields = journal_fields(SCHEMES[name](BackendSpark(sc, parallelism=4)))
        report[name] = {
            "different": [key for key in fields if not np.array_equal(fields[key], reference[key])],
            "n_particles": len(fields["parameters"]),
            "n_simulations": fields["n_simulations"].tolist(),
            "seconds": round(time.perf_counter() - started, 1),
        }
    sc.stop()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
