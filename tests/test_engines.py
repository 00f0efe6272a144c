"""The engine interface and registry: names, objects, and an engine of a user's own."""

from __future__ import annotations

import pytest
from helpers import assert_same_posterior

from abcspark import PMCABC, Engine, RejectionABC, nested
from abcspark.engines import REGISTRY, LocalEngine, SparkEngine, make_engine
from abcspark.examples import height_problem

PRIOR, MODEL, OBSERVED = height_problem()


class CountingEngine:
    """A user's engine: runs batches in process and counts its jobs."""

    name = "counting"
    parallelism = 3

    def __init__(self):
        self.inner, self.jobs = LocalEngine(), 0

    def share(self, task):
        return self.inner.share(task)

    def run(self, shared, batches, best=None, description=""):
        self.jobs += 1
        return self.inner.run(shared, batches, best, description)

    def release(self, shared):
        self.inner.release(shared)


def test_the_registry_names_the_built_in_engines():
    assert set(REGISTRY) == {"spark", "numpy", "mpi"}
    assert isinstance(LocalEngine(), Engine) and isinstance(CountingEngine(), Engine)
    assert isinstance(make_engine("numpy", None, None, 1), LocalEngine)


def test_an_engine_of_ones_own_gives_the_reference_posterior():
    engine = CountingEngine()
    pmc = dict(n_particles=200, generations=3, batch_size=200, progress=False)
    mine = PMCABC(PRIOR, MODEL, engine=engine, **pmc).run(OBSERVED, seed=3)
    reference = PMCABC(PRIOR, MODEL, engine="numpy", **pmc).run(OBSERVED, seed=3)
    assert_same_posterior(mine, reference)
    assert engine.jobs >= 3 and mine.metadata["engine"] == "counting"


@pytest.mark.parametrize(
    "engine, error, match",
    [
        ("dask", ValueError, r"engine must be one of \('spark', 'numpy', 'mpi'\)"),
        (object(), TypeError, "an object with share, run, release, parallelism and name"),
    ],
)
def test_unknown_engines_are_refused(engine, error, match):
    with pytest.raises(error, match=match):
        RejectionABC(PRIOR, MODEL, engine=engine)


def test_an_engine_object_must_match_a_nested_simulator():
    @nested(process_per_model=2)
    def ranked(theta, rng, comm):
        return MODEL(theta, rng)

    engine = CountingEngine()
    engine.process_per_model = 3
    abc = RejectionABC(PRIOR, ranked, engine=engine)
    with pytest.raises(ValueError, match=r"must be the simulator's \(got 3 and 2\)"):
        abc.run(OBSERVED, quantile=0.1, n_simulations=1000, seed=1)


def test_spark_name_builds_a_spark_engine(spark):
    engine = make_engine("spark", spark, 2, 1)
    assert isinstance(engine, SparkEngine) and engine.parallelism == 2


def sql_executions(spark) -> int:
    return spark._jsparkSession.sharedState().statusStore().executionsCount()


def test_small_rounds_run_as_rdd_jobs_and_large_ones_through_map_in_pandas(spark):
    def run(arrow_from):
        engine = SparkEngine(spark, 2, arrow_from=arrow_from)
        abc = RejectionABC(PRIOR, MODEL, batch_size=100, engine=engine)
        before = sql_executions(spark)
        posterior = abc.run(OBSERVED, quantile=0.1, n_simulations=1000, seed=1)
        return posterior, sql_executions(spark) - before

    (small, sql_small), (large, sql_large) = run(1001), run(1000)
    assert (sql_small, sql_large) == (0, 1)
    assert_same_posterior(small, large)


@pytest.mark.parametrize("arrow_from", [-1, 1.5, True, "many"])
def test_arrow_from_must_be_a_whole_number(spark, arrow_from):
    with pytest.raises(ValueError, match=r"arrow_from must be a whole number of proposals"):
        SparkEngine(spark, arrow_from=arrow_from)
