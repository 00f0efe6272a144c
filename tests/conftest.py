"""One SparkSession for the whole test session (local[2], loopback, UI off, Arrow on).

The golden posteriors are bits, and the last bits of a matrix product or an ``exp`` depend on
which CPU kernels OpenBLAS and NumPy pick: AVX-512 ones on one machine, AVX2 ones on another.
The suite pins both to the AVX2 (x86-64-v3) kernels before NumPy is imported, here and in
every process it starts (Spark's workers inherit the environment), so that the goldens hold
on any x86-64 machine from 2013 on.
"""

from __future__ import annotations

import os
import subprocess
import sys

if "numpy" in sys.modules:
    raise RuntimeError("tests/conftest.py must run before NumPy is imported (CPU kernels)")


def _avx512_dispatch() -> str:
    """NumPy's AVX-512 dispatch targets, named as this NumPy names them (asked in a child)."""
    ask = (
        "import numpy\n"
        "try:\n    from numpy._core._multiarray_umath import __cpu_dispatch__ as d\n"
        "except ImportError:\n    from numpy.core._multiarray_umath import __cpu_dispatch__ as d\n"
        "print(' '.join(t for t in d if 'AVX512' in t or t == 'X86_V4'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    done = subprocess.run([sys.executable, "-c", ask], capture_output=True, text=True, env=env)
    return done.stdout.strip()


os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
if "NPY_DISABLE_CPU_FEATURES" not in os.environ:  # a child NumPy only when it is not given
    os.environ["NPY_DISABLE_CPU_FEATURES"] = _avx512_dispatch()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from connect_server import connect_url, remote  # noqa: E402, F401 (fixtures: one Connect server)

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
