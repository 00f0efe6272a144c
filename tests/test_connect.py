"""Spark Connect: the DataFrame path on a real local Connect server, bit for bit as on classic
Spark and NumPy; what needs a SparkContext is refused before it runs, naming the alternative.

The server and the client are ``connect_server.py``'s, one server for the test session.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from connect_server import _client
from helpers import assert_same_posterior

from abcspark._version import release

pyspark = pytest.importorskip("pyspark")
if release(pyspark.__version__)[0] < 4:
    pytest.skip(
        f"Spark Connect tests need pyspark 4 (got {pyspark.__version__})", allow_module_level=True
    )
try:
    import pyspark.sql.connect.session  # noqa: F401 (its dependencies: grpcio, protobuf, ...)
except ImportError as exc:
    pytest.skip(
        f"Spark Connect's client is not installed ({exc}); pip install 'pyspark[connect]'",
        allow_module_level=True,
    )

from abcspark import PMCABC, Posterior, RejectionABC, get_spark, nested  # noqa: E402
from abcspark.abcpy_backend import BackendSpark  # noqa: E402
from abcspark.batch import SimulationError  # noqa: E402
from abcspark.connect import default_parallelism, is_connect  # noqa: E402
from abcspark.engines import BarrierEngine  # noqa: E402
from abcspark.examples import height_problem, summaries  # noqa: E402

PRIOR, MODEL, OBSERVED = height_problem()


def pmc(**options):
    return PMCABC(PRIOR, MODEL, n_particles=300, generations=3, batch_size=200, **options)


@pytest.fixture(scope="module")
def reference():
    return pmc(engine="numpy").run(OBSERVED, seed=42)


def test_a_connect_session_is_told_from_a_classic_one(remote, spark):
    assert is_connect(remote) and not is_connect(spark)
    assert get_spark(remote) is remote  # used as given: no Arrow settings, nothing shipped
    assert get_spark() is spark  # the classic fixture is still the active session
    assert default_parallelism(remote) == 2  # local[2] on the server, without a SparkContext


def test_pmc_on_connect_is_bit_identical_to_classic_and_numpy(remote, spark, reference):
    on_connect = pmc(spark=remote).run(OBSERVED, seed=42)
    assert_same_posterior(on_connect, reference)
    assert_same_posterior(pmc(spark=spark).run(OBSERVED, seed=42), on_connect)
    assert on_connect.metadata["engine"] == "spark"
    assert on_connect.metadata["parallelism"] == 2
    assert remote.getTags() == set()  # the jobs' tags are removed after each job


def test_rejection_on_connect_is_bit_identical_to_classic_and_numpy(remote, spark):
    def run(**options):
        abc = RejectionABC(PRIOR, MODEL, batch_size=500, **options)
        return abc.run(OBSERVED, quantile=0.02, n_simulations=10_000, seed=8)

    on_connect = run(spark=remote, parallelism=3)
    assert_same_posterior(on_connect, run(engine="numpy"))
    assert_same_posterior(on_connect, run(spark=spark))


def test_checkpointed_pmc_on_connect_resumes_to_the_same_posterior(remote, reference, tmp_path):
    full = pmc(spark=remote).run(OBSERVED, seed=42, checkpoint=str(tmp_path))
    for name in ("generation-0002.json", "generation-0001.json"):
        (tmp_path / name).unlink()  # as if the driver died before they were complete
    resumed = pmc(spark=remote).run(OBSERVED, seed=42, checkpoint=str(tmp_path))
    assert_same_posterior(resumed, full)
    assert_same_posterior(resumed, reference)


def test_save_load_and_to_spark_on_connect(remote, reference, tmp_path):
    reference.save(str(tmp_path / "run"), spark=remote)
    loaded = Posterior.load(str(tmp_path / "run"), spark=remote)
    assert_same_posterior(loaded, reference)
    frame = reference.to_spark(remote)
    assert is_connect(frame.sparkSession)
    pd.testing.assert_frame_equal(frame.toPandas(), reference.to_frame())


@pytest.mark.parametrize("uri", ["s3://bucket/run-1", "hdfs://127.0.0.1:9/run-1"])
def test_hadoop_uris_are_refused_on_connect(remote, reference, uri):
    match = f"'{uri}', a Hadoop URI .* must run on a classic Spark session .*use a local path"
    with pytest.raises(ValueError, match=match):
        reference.save(uri, spark=remote)
    with pytest.raises(ValueError, match=match):
        pmc(spark=remote).run(OBSERVED, seed=1, checkpoint=uri)


def raises_on_executors(theta, rng):
    from pyspark import TaskContext

    if TaskContext.get() is not None:  # not in the driver's dry run
        raise ValueError("a library the executors lack")
    return MODEL(theta, rng)


def test_an_executor_error_on_connect_names_the_batch_and_the_cause(remote):
    abc = RejectionABC(PRIOR, raises_on_executors, batch_size=500, spark=remote, parallelism=1)
    with pytest.raises(
        SimulationError,
        match="raised ValueError: a library the executors lack in generation 0, batch 0",
    ):
        abc.run(OBSERVED, quantile=0.1, n_simulations=1_000, seed=1)


def one_height_sample(theta, rng):
    return MODEL.one(theta, rng)


def summary_distance(heights, observed):
    diff = summaries(heights[None, :])[0] - observed
    return float(np.sqrt(np.sum(diff**2)))


def test_the_rdd_path_is_refused_on_connect(remote, monkeypatch):
    match = r"vectorized=False \(the RDD path\) must run on a classic .*write a vectorized"
    with pytest.raises(ValueError, match=match):
        PMCABC(PRIOR, one_height_sample, summary_distance, vectorized=False, spark=remote)
    # A Connect session that is only found when the run starts: refused before the dry run.
    calls = []

    def counted(theta, rng):
        calls.append(1)
        return one_height_sample(theta, rng)

    monkeypatch.setattr("abcspark.problem.active_session", lambda: remote)
    abc = RejectionABC(PRIOR, counted, summary_distance, vectorized=False)
    with pytest.raises(ValueError, match=match):
        abc.run(OBSERVED, quantile=0.1, n_simulations=100, seed=1)
    assert calls == []


@nested(process_per_model=2)
def ranked_heights(theta, rng, comm=None):
    return MODEL(theta, rng)


def test_a_nested_simulator_is_refused_on_connect(remote):
    match = r"nested simulator \(process_per_model=2, .* must run on a classic .*threads"
    with pytest.raises(ValueError, match=match):
        PMCABC(PRIOR, ranked_heights, n_particles=100, spark=remote)
    with pytest.raises(ValueError, match=match):
        BarrierEngine(remote, process_per_model=2)


def test_the_abcpy_backend_is_refused_on_connect(remote):
    match = r"ABCpy's backend .* must run on a classic .*RejectionABC and PMCABC"
    with pytest.raises(TypeError, match=match):
        BackendSpark(remote)


def imported_from_the_artifact(theta, rng):
    """The height model, which raises inside a Spark task unless abcspark came from a zip."""
    from pyspark import TaskContext

    import abcspark

    if TaskContext.get() is not None and ".zip" not in abcspark.__file__:
        raise ValueError(
            f"abcspark must come from the session's artifact (got {abcspark.__file__})"
        )
    return MODEL(theta, rng)


def test_abcspark_is_added_as_an_artifact_for_a_cluster_server(connect_url, monkeypatch):
    """Where the server's master is a cluster's, the driver's abcspark is added to the session
    with ``addArtifacts``; its workers import that copy, and the posterior is the same."""
    from abcspark import connect

    read = connect.setting
    cluster = {"spark.master": "spark://cluster:7077"}
    monkeypatch.setattr(connect, "setting", lambda spark, key: cluster.get(key) or read(spark, key))
    session = _client(connect_url)  # artifacts belong to one session: a fresh one
    try:
        get_spark(session)
        assert session.session_id in connect._SHIPPED
        abc = RejectionABC(PRIOR, imported_from_the_artifact, batch_size=500, spark=session)
        shipped = abc.run(OBSERVED, quantile=0.1, n_simulations=2_000, seed=3)
    finally:
        session.stop()
    local = RejectionABC(PRIOR, MODEL, batch_size=500, engine="numpy")
    assert_same_posterior(shipped, local.run(OBSERVED, quantile=0.1, n_simulations=2_000, seed=3))


def test_model_choice_smc_and_a_store_on_connect_are_bit_identical_to_numpy(remote, tmp_path):
    from test_model_choice import MODELS as COUNT_MODELS
    from test_model_choice import OBSERVED as COUNTS

    from abcspark import SMCABC, ModelChoice

    def choice(**options):
        settings = dict(n_particles=300, epsilons=[np.inf, 3.0, 1.0], batch_size=150)
        return ModelChoice(COUNT_MODELS, **settings, **options).run(COUNTS, seed=5)

    chosen, expected = choice(spark=remote), choice(engine="numpy")
    pd.testing.assert_frame_equal(chosen.particles, expected.particles, check_exact=True)
    pd.testing.assert_series_equal(chosen.probabilities, expected.probabilities)

    def smc(**options):
        settings = dict(n_particles=200, generations=4, batch_size=50, progress=False)
        return SMCABC(PRIOR, MODEL, **settings, **options).run(OBSERVED, seed=6)

    assert_same_posterior(smc(spark=remote), smc(engine="numpy"))
    stored = pmc(spark=remote, store=str(tmp_path / "store")).run(OBSERVED, seed=42)
    assert (
        len(pd.read_parquet(tmp_path / "store"))
        == stored.history[["n_simulations", "n_discarded"]].to_numpy().sum()
    )
