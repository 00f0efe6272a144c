"""Issue #9.3: scheduling efficiency with a simulator that burns ~10 ms of CPU per call.

Efficiency = ideal time / wall time, the ideal being the simulations' CPU time spread over 2
cores. abcspark runs rejection ABC on embedded ``local[2]`` through its RDD path (one call per
parameter vector, ``vectorized=False``) and its DataFrame path (a vectorized simulator that loops
over its rows); pyABC runs one generation of the same number of simulations with its multicore
sampler on 2 processes. Runs alternate; each figure is the median over the repetitions.
"""

from __future__ import annotations

import os
import time
from typing import List

import numpy as np
from burn import burn
from harness import Row, Target, median, peer_python, run_case, spark_session, timed

COST = 0.010
N_DRAWS = 67


class CostlyHeight:
    """The height model plus ``cost`` seconds of CPU per simulation."""

    def __init__(self, cost: float):
        self.cost = cost

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.array([self.one(row, rng) for row in theta])

    def one(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        burn(self.cost)
        draws = rng.normal(theta[0], theta[1], N_DRAWS)
        return np.array([draws.mean(), draws.std(ddof=1)])


def euclidean(simulated: np.ndarray, observed: np.ndarray) -> float:
    return float(np.sqrt(np.sum((simulated - observed) ** 2)))


def cpu_per_call(model: CostlyHeight, calls: int = 20) -> float:
    """CPU seconds of one simulation, measured serially on this thread."""
    rng = np.random.default_rng(0)
    started = time.thread_time()
    for _ in range(calls):
        model.one(np.array([170.0, 10.0]), rng)
    return (time.thread_time() - started) / calls


def abcspark_case(n_simulations: int, batch_size: int, repeats: int) -> dict:
    """The case (fresh process): alternate RDD and DataFrame runs on one local[2] session."""
    from abcspark import RejectionABC
    from abcspark.examples import height_problem

    prior, _, observed = height_problem()
    model = CostlyHeight(COST)
    spark = spark_session("local[2]")
    paths = {
        "RDD": RejectionABC(
            prior, model.one, euclidean, vectorized=False, batch_size=batch_size, spark=spark
        ),
        "DataFrame": RejectionABC(prior, model, batch_size=batch_size, spark=spark),
    }
    for abc in paths.values():  # Python workers up, code shipped once
        abc.run(observed, n_simulations=2 * batch_size, quantile=0.5, seed=0)
    times: dict = {name: [] for name in paths}
    for rep in range(repeats):
        for name, abc in paths.items():
            run = timed(abc.run, observed, n_simulations=n_simulations, quantile=0.1, seed=rep)
            times[name].append(run[0])
    spark.stop()
    return {"times": times, "cpu_per_call": cpu_per_call(model), "load": os.getloadavg()[0]}


def section(quick: bool) -> tuple:
    """1,000 simulations (5 s of work: a job's fixed cost shows) and 4,000 (the steady state)."""
    sizes, repeats = ((400,), 1) if quick else ((1000, 4000), 3)
    rows: List[Row] = []
    targets: List[Target] = []
    pyabc = peer_python("pyabc")
    for n in sizes:
        found, aims = _compare(n, repeats, pyabc)
        rows += found
        targets += aims
    return rows, targets


def _compare(n: int, repeats: int, pyabc: str) -> tuple:
    ours = run_case(
        "expensive.abcspark_case", {"n_simulations": n, "batch_size": 25, "repeats": repeats}
    )
    theirs = [
        run_case("peer_pyabc.expensive", {"n_simulations": n, "cost": COST, "seed": rep}, pyabc)
        for rep in range(repeats)
    ]
    ideal = n * ours["cpu_per_call"] / 2
    rows: List[Row] = []
    targets: List[Target] = []
    wall = {f"abcspark {k} path": median(v) for k, v in ours["times"].items()}
    wall["pyABC multicore"] = median([r["run_seconds"] for r in theirs])
    for name, seconds in wall.items():
        case = f"{name}, {n} simulations of {COST * 1000:.0f} ms"
        rows.append(Row("expensive", case, "wall time", seconds, "s", f"ideal {ideal:.2f} s"))
        rows.append(Row("expensive", case, "scheduling efficiency", ideal / seconds))
        if name.startswith("abcspark"):
            targets.append(Target(f"expensive: {name} efficiency, {n} sims", ideal / seconds, 0.9))
    return rows, targets
