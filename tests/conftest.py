"""One SparkSession for the whole test session (local[2], loopback, UI off, Arrow on)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from connect_server import connect_url, remote  # noqa: F401 (fixtures: one Connect server)

# Scripts that tests run in subprocesses (spark-submit, mpirun, kills) are not test modules.
collect_ignore_glob = ["jobs/*", "*/jobs/*"]

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("abcspark-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(params=["rdd", "arrow"])
def spark_path(request, monkeypatch):
    """Run a test's Spark rounds through the RDD API (small rounds' default) or mapInPandas."""
    import abcspark.engines.spark

    if request.param == "arrow":
        monkeypatch.setattr(abcspark.engines.spark, "ARROW_FROM", 0)
    return request.param


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace["np"] = np
