"""abcspark.abcpy_backend.BackendSpark: ABCpy's Backend semantics on Spark, and ABCpy's own schemes.

The semantics tests run here with the shared session. The scheme tests run ABCpy 0.6.3 in its
own virtual environment (bash benchmarks/setup_abcpy.sh); they skip when it does not exist,
unless ABCSPARK_REQUIRE_PEERS is set (CI sets it after running the script), where they fail.
"""

import gc
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import run_in_process_group

from abcspark.abcpy_backend import EMBED_LIMIT, BackendSpark

ROOT = Path(__file__).parent.parent
ABCPY_PYTHON = ROOT / "benchmarks" / "peers" / "abcpy-venv" / "bin" / "python"


@pytest.fixture(scope="module")
def backend(spark):
    return BackendSpark(spark.sparkContext, parallelism=4)


@pytest.mark.parametrize("n", [0, 1, 3, 4, 10])
def test_parallelize_map_collect_keep_order(backend, n):
    pds = backend.parallelize(list(range(n)))
    assert backend.collect(pds) == list(range(n))
    squared = backend.map(lambda x: x * x, pds)
    assert backend.collect(squared) == [x * x for x in range(n)]
    chained = backend.map(lambda x: (x, -x), backend.map(lambda x: x + 1, squared))
    assert backend.collect(chained) == [(x * x + 1, -(x * x + 1)) for x in range(n)]
    assert backend.collect(pds) == list(range(n))  # mapping leaves the source as it was


def test_each_partition_gets_one_contiguous_slice(backend):
    def partition(_):
        from pyspark import TaskContext

        return TaskContext.get().partitionId()

    pds = backend.parallelize(np.arange(10.0))
    assert backend.collect(backend.map(partition, pds)) == [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]
    assert backend.collect(pds) == list(np.arange(10.0))  # an ndarray becomes its rows


def test_functions_that_mutate_elements_are_repeatable(backend):
    generators = [np.random.RandomState(seed) for seed in range(6)]
    draws = backend.map(
        lambda rng: rng.randint(10**9, size=3).tolist(), backend.parallelize(generators)
    )
    expected = [np.random.RandomState(seed).randint(10**9, size=3).tolist() for seed in range(6)]
    assert backend.collect(draws) == expected
    assert backend.collect(draws) == expected  # recomputed from the original elements
    assert generators[0].randint(10**9, size=3).tolist() == expected[0]  # the driver's untouched


def test_small_broadcast_travels_with_the_job(backend):
    observed = [1.5, 2.5]
    bds = backend.broadcast(observed)
    assert bds.value() is observed
    shifted = backend.map(lambda x: x + bds.value()[1], backend.parallelize([0.0, 1.0]))
    assert backend.collect(shifted) == [2.5, 3.5]
    assert bds._broadcast is None


def test_large_broadcast_is_shared_once_and_destroyed_when_dropped(backend, spark):
    big = np.arange(EMBED_LIMIT // 8 + 1000, dtype=np.float64)
    bds = backend.broadcast(big)
    assert backend.broadcast(big) is backend.broadcast(big.copy()) is bds  # the same content
    changed = big.copy()
    changed[0] = -1.0
    assert backend.broadcast(changed) is not bds
    assert bds.value() is big and bds._broadcast is not None
    total = backend.map(
        lambda i, shared=bds: float(shared.value()[i]), backend.parallelize([0, 5, len(big) - 1])
    )
    assert backend.collect(total) == [0.0, 5.0, float(len(big) - 1)]
    spark_broadcast = bds._broadcast
    del bds, total
    gc.collect()
    used_after_release = spark.sparkContext.parallelize([0], 1).map(
        lambda i: float(spark_broadcast.value[i])
    )
    with pytest.raises(Exception, match="after it was destroyed"):
        used_after_release.collect()


def test_backend_checks_its_arguments(spark):
    with pytest.raises(TypeError, match=r"sc must be a pyspark.SparkContext \(got <class 'str'>\)"):
        BackendSpark("local[2]")
    for bad in (0, -1, 2.5, True, "4"):
        with pytest.raises(ValueError, match=r"parallelism must be a positive int"):
            BackendSpark(spark.sparkContext, parallelism=bad)


def run_in_abcpy_venv(*arguments, timeout=900):
    """Run a job with ABCpy's Python, in its own process group, stopped if it overruns."""
    python = str(ABCPY_PYTHON)
    env = dict(os.environ, PYSPARK_PYTHON=python, SPARK_LOCAL_IP="127.0.0.1")
    done = run_in_process_group([python, *arguments], timeout=timeout, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def abcpy_venv():
    if not ABCPY_PYTHON.exists():
        if os.environ.get("ABCSPARK_REQUIRE_PEERS"):
            pytest.fail(f"{ABCPY_PYTHON} is missing; run bash benchmarks/setup_abcpy.sh first")
        pytest.skip(
            "ABCpy's virtual environment is missing (bash benchmarks/setup_abcpy.sh creates "
            "it); set ABCSPARK_REQUIRE_PEERS=1 to fail instead of skipping"
        )
    return ABCPY_PYTHON


@pytest.mark.slow  # ABCpy's schemes twice each, on a Spark of their own
def test_abcpy_schemes_give_backend_dummy_journals(abcpy_venv):
    out = run_in_abcpy_venv(str(ROOT / "tests" / "jobs" / "abcpy_schemes.py"))
    report = json.loads(out.strip().splitlines()[-1])
    assert set(report) == {"rejection", "pmcabc", "smcabc", "pmcabc_retried", "pmcabc_gaussian"}
    for scheme, result in report.items():
        assert result["different"] == [], scheme
    particles = {scheme: result["n_particles"] for scheme, result in report.items()}
    assert particles == {**dict.fromkeys(report, 40), "pmcabc_gaussian": 250}


def test_setup_script_is_idempotent(abcpy_venv):
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "setup_abcpy.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == str(abcpy_venv)
    assert "creating" not in done.stderr
