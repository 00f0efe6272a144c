"""Nested-parallel simulators: ranks as threads, as Spark barrier tasks, and threads in a task."""

import json
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_same_posterior, run_in_process_group

from abcspark import PMCABC, RejectionABC, SimulationError
from abcspark.engines.barrier import BarrierCommunicator, BarrierEngine, task_cpus
from abcspark.examples import height_problem
from abcspark.nested import RankFailed, Ranks, as_ranks, nested

JOBS = Path(__file__).parent / "jobs"
sys.path.insert(0, str(JOBS))
from mpi_models import ranked_heights, twin_heights  # noqa: E402

PRIOR, HEIGHTS, OBSERVED = height_problem()


def pmc(simulate, **engine):
    abc = PMCABC(
        PRIOR, simulate, n_particles=50, generations=2, batch_size=200, progress=False, **engine
    )
    return abc.run(OBSERVED, seed=11)


def rejection(simulate, **engine):
    abc = RejectionABC(PRIOR, simulate, batch_size=250, **engine)
    return abc.run(OBSERVED, quantile=0.05, n_simulations=1000, seed=12)


@pytest.fixture(scope="module")
def twin_pmc():
    return pmc(twin_heights, engine="numpy")


def test_nested_declares_ranks():
    @nested(process_per_model=3)
    def simulate(theta, rng, comm):
        return theta

    ranks = as_ranks(simulate)
    assert isinstance(ranks, Ranks) and ranks.size == 3 and ranks.simulate is simulate
    assert ranks.__qualname__.endswith("simulate") and ranks.__module__ == __name__
    assert as_ranks(HEIGHTS) is HEIGHTS
    for bad in (0, 2.0, True, "2"):
        with pytest.raises(ValueError, match="process_per_model must be a positive int"):
            nested(process_per_model=bad)


def test_nested_simulator_must_take_a_communicator():
    with pytest.raises(TypeError, match=r"simulate must take a comm argument when process_per"):
        PMCABC(PRIOR, nested(process_per_model=2)(lambda theta, rng: theta), engine="numpy")
    keywords = nested(process_per_model=2)(lambda theta, rng, **options: theta)
    assert isinstance(as_ranks(keywords), Ranks)


def test_thread_ranks_give_the_twin_posterior(twin_pmc):
    assert_same_posterior(pmc(ranked_heights, engine="numpy"), twin_pmc)


def test_thread_collectives():
    def probe(theta, rng, comm):
        seen = {
            "rank": comm.rank,
            "size": comm.size,
            "gather": comm.gather(comm.rank * 10, root=1),
            "bcast": comm.bcast(f"from {comm.rank}", root=2),
            "allgather": comm.allgather(comm.rank**2),
        }
        comm.barrier()
        views = comm.allgather(seen)
        return views if comm.rank == 0 else None

    views = Ranks(probe, 3)(np.zeros((1, 2)), np.random.default_rng(0))
    assert [v["rank"] for v in views] == [0, 1, 2] and {v["size"] for v in views} == {3}
    assert [v["gather"] for v in views] == [None, [0, 10, 20], None]
    assert [v["bcast"] for v in views] == ["from 2"] * 3
    assert [v["allgather"] for v in views] == [[0, 1, 4]] * 3


def test_thread_ranks_report_errors():
    def bad_root(theta, rng, comm):
        return comm.bcast(1, root=comm.size)

    with pytest.raises(RankFailed, match=r"rank 0 of 2 raised ValueError: root must be a rank of"):
        Ranks(bad_root, 2)(np.zeros((1, 2)), np.random.default_rng(0))

    def raises_on_rank_1(theta, rng, comm):
        if comm.rank == 1:
            raise ArithmeticError("diverged")
        return theta

    with pytest.raises(RankFailed, match=r"rank 1 of 2 raised ArithmeticError: diverged"):
        Ranks(raises_on_rank_1, 2)(np.zeros((1, 2)), np.random.default_rng(0))

    def mismatched(theta, rng, comm):
        return comm.gather(1) if comm.rank == 0 else comm.bcast(1)

    with pytest.raises(SimulationError, match=r"rank 1 of a model instance reached bcast"):
        Ranks(mismatched, 2)(np.zeros((1, 2)), np.random.default_rng(0))

    def raises_before_gather(theta, rng, comm):
        if comm.rank == 1:
            raise KeyError("lost")
        return comm.gather(theta)

    with pytest.raises(SimulationError, match=r"rank 1 of a model instance raised KeyError"):
        Ranks(raises_before_gather, 2)(np.zeros((1, 2)), np.random.default_rng(0))


def test_barrier_pmc_gives_the_twin_posterior(spark, twin_pmc):
    posterior = pmc(ranked_heights, spark=spark)
    assert posterior.metadata["engine"] == "spark-barrier"
    assert_same_posterior(posterior, twin_pmc)


def test_barrier_rejection_gives_the_twin_posterior(spark):
    assert_same_posterior(
        rejection(ranked_heights, spark=spark), rejection(twin_heights, engine="numpy")
    )


def test_barrier_collectives(spark):
    # Functions of this test, so that Spark pickles them by value.
    def collectives(partition):
        from pyspark import BarrierTaskContext

        comm = BarrierCommunicator(BarrierTaskContext.get(), 2)
        seen = {
            "rank": comm.rank,
            "gather": comm.gather(comm.rank + 5),
            "bcast": comm.bcast(comm.rank + 7, root=1),
            "allgather": comm.allgather(str(comm.rank)),
        }
        comm.barrier()
        comm.finish()
        yield seen

    def uneven_instances(partition):
        from pyspark import BarrierTaskContext

        comm = BarrierCommunicator(BarrierTaskContext.get(), 1)
        seen = [comm.allgather(comm.instance) for _ in range(1 + 2 * comm.instance)]
        comm.finish()
        yield seen

    sc = spark.sparkContext
    seen = sc.parallelize(range(2), 2).barrier().mapPartitions(collectives).collect()
    assert seen == [
        {"rank": 0, "gather": [5, 6], "bcast": 8, "allgather": ["0", "1"]},
        {"rank": 1, "gather": None, "bcast": 8, "allgather": ["0", "1"]},
    ]
    # Two instances of one rank each: only their own messages, and different call counts.
    seen = sc.parallelize(range(2), 2).barrier().mapPartitions(uneven_instances).collect()
    assert seen == [[[0]], [[1], [1], [1]]]


def mismatched_on_executors(theta, rng, comm):
    from pyspark import TaskContext

    if TaskContext.get() is not None and comm.rank == 1:
        return comm.bcast(None)  # the driver's dry run passes; the barrier tasks do not
    comm.gather(theta)
    return theta


def test_barrier_reports_mismatched_collectives(spark):
    abc = RejectionABC(PRIOR, nested(process_per_model=2)(mismatched_on_executors), spark=spark)
    # Either rank's task may fail first: both see the same two calls.
    calls = r"reached (gather|bcast)\(root=0\) while rank [01] reached (bcast|gather)\(root=0\)"
    with pytest.raises(SimulationError, match=r"rank [01] of a model instance " + calls):
        abc.run([0.0, 0.0], quantile=0.5, n_simulations=1000, seed=1)


def test_barrier_needs_enough_slots(spark):
    with pytest.raises(ValueError, match=r"process_per_model=3 needs 3 task slots at once \(got 2"):
        BarrierEngine(spark, 3)
    with pytest.raises(ValueError, match=r"parallelism=2 model instances of 2 ranks need 4 task"):
        BarrierEngine(spark, 2, parallelism=2)

    @nested(process_per_model=3)
    def simulate(theta, rng, comm):
        return theta

    with pytest.raises(ValueError, match=r"process_per_model=3 needs 3 task slots"):
        pmc(simulate, spark=spark)


def test_engine_object_must_match_the_simulator(spark):
    with pytest.raises(ValueError, match=r"the engine's process_per_model must be the simulator"):
        pmc(HEIGHTS, engine=BarrierEngine(spark, 2))


def test_task_cpus_inside_and_outside_tasks(spark):
    inside = spark.sparkContext.parallelize([0], 1).map(lambda _: task_cpus()).collect()
    assert inside == [1]
    assert task_cpus() == len(os.sched_getaffinity(0))


THREADS_JOB = """
import json
from concurrent.futures import ThreadPoolExecutor
import numpy as np
from pyspark.sql import SparkSession
from abcspark import RejectionABC
from abcspark.engines.barrier import task_cpus
from abcspark.examples import height_problem, summaries
from abcspark.rng import split_rng
from mpi_models import N_DRAWS, _share, twin_heights

def threaded_heights(theta, rng):
    parts = split_rng(rng, 4)  # four shares whatever the thread count: the same numbers
    columns = np.array_split(np.arange(N_DRAWS), 4)
    with ThreadPoolExecutor(task_cpus()) as pool:
        shares = pool.map(lambda p: _share(theta, parts[p], columns[p]), range(4))
        return summaries(np.concatenate(list(shares), axis=1))

spark = (SparkSession.builder.master("local[2]").config("spark.task.cpus", "2")
         .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
prior, _, observed = height_problem()
def run(simulate, **engine):
    abc = RejectionABC(prior, simulate, batch_size=250, **engine)
    return abc.run(observed, quantile=0.05, n_simulations=1000, seed=3)
threaded = run(threaded_heights, spark=spark)
twin = run(lambda theta, rng: twin_heights(theta, rng, parts=4), engine="numpy")
cpus = spark.sparkContext.parallelize([0], 1).map(lambda _: task_cpus()).collect()
print(json.dumps({"cpus": cpus, "same": bool(np.array_equal(threaded.samples, twin.samples))}))
spark.stop()
"""


@pytest.mark.slow  # a Spark session of its own, with spark.task.cpus=2
def test_threads_in_a_task_use_spark_task_cpus(tmp_path):
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    env["PYTHONPATH"] = os.pathsep.join([str(JOBS.parent.parent), str(JOBS)])
    command = [sys.executable, "-c", textwrap.dedent(THREADS_JOB)]
    done = run_in_process_group(command, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"cpus": [2], "same": True}
