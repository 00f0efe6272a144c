"""Which session a run uses, and the one-line explanation when Java is missing."""

import pytest
from pyspark.sql import SparkSession

from abcspark import PMCABC, get_spark
from abcspark.examples import height_problem
from abcspark.session import _embedded, java_executable


def test_missing_java_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java-here"))
    assert java_executable() is None
    with pytest.raises(
        OSError,
        match=r"Spark needs Java 17 or 21, and none was found on "
        r"JAVA_HOME=.*no-java-here; install one .* or set JAVA_HOME",
    ):
        _embedded(SparkSession, None)


def test_no_java_on_path(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OSError, match="none was found on PATH"):
        _embedded(SparkSession, None)


def test_active_session_is_used_and_arrow_is_on(spark):
    assert get_spark() is spark
    assert spark.conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"


def test_runs_use_the_active_session_by_default(spark):
    prior, simulate, observed = height_problem()
    pmc = PMCABC(prior, simulate, n_particles=100, generations=1, batch_size=100)
    posterior = pmc.run(observed, seed=1)
    assert posterior.metadata["engine"] == "spark"
    assert posterior.metadata["parallelism"] == spark.sparkContext.defaultParallelism
