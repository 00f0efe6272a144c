"""Same seed, same posterior, bit for bit: engines, parallelism, paths, Arrow batch sizes."""

import numpy as np
import pytest
from helpers import assert_same_posterior

import abcspark.engines.spark
from abcspark import PMCABC, RejectionABC
from abcspark.examples import height_problem, summaries

PRIOR, MODEL, OBSERVED = height_problem()


def pmc(**options):
    return PMCABC(PRIOR, MODEL, n_particles=300, generations=3, batch_size=200, **options)


@pytest.fixture(scope="module")
def reference():
    return pmc(engine="numpy").run(OBSERVED, seed=42)


@pytest.mark.parametrize("parallelism", [1, 2, 4])
def test_pmc_identical_across_parallelism(spark, reference, parallelism, spark_path):
    assert_same_posterior(
        pmc(spark=spark, parallelism=parallelism).run(OBSERVED, seed=42), reference
    )


@pytest.mark.parametrize("records", [7, 10_000])
def test_pmc_identical_across_arrow_batch_sizes(spark, reference, records, monkeypatch):
    monkeypatch.setattr(abcspark.engines.spark, "ARROW_FROM", 0)  # every round through Arrow
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(records))
    try:
        assert_same_posterior(pmc(spark=spark, parallelism=3).run(OBSERVED, seed=42), reference)
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")


def one_height_sample(theta, rng):
    return MODEL.one(theta, rng)


def summary_distance(heights, observed):
    diff = summaries(heights[None, :])[0] - observed
    return float(np.sqrt(np.sum(diff**2)))


def test_rdd_path_matches_the_vectorized_model(spark, reference):
    per_parameter = PMCABC(
        PRIOR,
        one_height_sample,
        summary_distance,
        vectorized=False,
        n_particles=300,
        generations=3,
        batch_size=200,
        spark=spark,
    )
    assert_same_posterior(per_parameter.run(OBSERVED, seed=42), reference)


def test_rejection_quantile_identical_across_engines(spark, spark_path):
    def run(**options):
        abc = RejectionABC(PRIOR, MODEL, batch_size=500, **options)
        return abc.run(OBSERVED, quantile=0.02, n_simulations=20_000, seed=8)

    reference = run(engine="numpy")
    for parallelism in (1, 2, 4):
        assert_same_posterior(run(spark=spark, parallelism=parallelism), reference)


def test_rejection_until_identical_across_engines(spark):
    def run(**options):
        abc = RejectionABC(PRIOR, MODEL, batch_size=500, **options)
        return abc.run(OBSERVED, epsilon=8.0, n_samples=300, seed=8)

    reference = run(engine="numpy")
    for parallelism in (1, 4):
        assert_same_posterior(run(spark=spark, parallelism=parallelism), reference)


def test_different_seeds_differ():
    a = pmc(engine="numpy").run(OBSERVED, seed=1)
    b = pmc(engine="numpy").run(OBSERVED, seed=2)
    assert not np.array_equal(a.samples.to_numpy(), b.samples.to_numpy())
