"""Issue #9.1: rejection ABC throughput, abcspark on embedded local[2] vs NumPy on 2 processes.

The model is the height example with 100 draws per simulation (``height_problem(n_draws=100)``),
summaries mean and sd, Euclidean distance, keeping the closest 0.1% (quantile mode). Both sides
run in one process, alternately, so that every ratio compares runs of the same minutes: NumPy
in a pool of 2 spawned processes, abcspark on a ``local[2]`` session started beforehand (start-up
times are left out of both).
"""

from __future__ import annotations

import multiprocessing
from typing import List

import numpy as np
from harness import Row, Target, median, peak_memory, run_case, spark_session, timed

QUANTILE = 1e-3
CHUNK = 10_000


def numpy_part(seed: int, part: int, n: int, k: int) -> np.ndarray:
    """One process's share: ``n`` simulations in chunks; the ``k`` smallest distances."""
    from abcspark.examples import height_problem

    _, model, observed = height_problem(n_draws=100)
    rng = np.random.default_rng([seed, part])
    best = np.empty(0)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        theta = np.column_stack([rng.uniform(150, 200, m), rng.uniform(5, 25, m)])
        diff = model(theta, rng) - observed
        distances = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        best = np.concatenate([best, distances])
        if len(best) > k:
            best = np.partition(best, k - 1)[:k]
    return best


def numpy_run(pool, n: int, seed: int) -> int:
    k = max(1, int(np.ceil(QUANTILE * n)))
    halves = [(seed, part, n // 2 + part * (n % 2), k) for part in range(2)]
    best = np.concatenate(pool.starmap(numpy_part, halves))
    return len(np.partition(best, k - 1)[:k])


def abcspark_run(spark, n: int, seed: int, batch_size: int) -> int:
    from abcspark import RejectionABC
    from abcspark.examples import height_problem

    prior, model, observed = height_problem(n_draws=100)
    abc = RejectionABC(prior, model, batch_size=batch_size, spark=spark, parallelism=2)
    return len(abc.run(observed, n_simulations=n, quantile=QUANTILE, seed=seed).samples)


def measure(sizes: List[int], repeats: List[int], batch_sizes: List[int]) -> dict:
    """The case (fresh process): alternate NumPy and abcspark runs; return every time."""
    pool = multiprocessing.get_context("spawn").Pool(2)
    pool.starmap(numpy_part, [(0, 0, 1000, 10)] * 2)  # workers up and numpy imported
    spark = spark_session("local[2]")
    for batch_size in batch_sizes:
        abcspark_run(spark, 10 * batch_size, 0, batch_size)  # JIT-free, but warms the JVM
    times: dict = {}
    for n, r in zip(sizes, repeats):
        for rep in range(r):
            times.setdefault(f"numpy {n}", []).append(timed(numpy_run, pool, n, rep)[0])
            for batch_size in batch_sizes if n < 10**7 else batch_sizes[:1]:
                seconds = timed(abcspark_run, spark, n, rep, batch_size)[0]
                times.setdefault(f"abcspark {n} {batch_size}", []).append(seconds)
    pool.close()
    memory = peak_memory()
    spark.stop()
    return {"times": times, **memory}


def batch_costs(batch_size: int, n_batches: int) -> dict:
    """The case (fresh process, no Spark): microseconds per batch of each step of a batch."""
    import pandas as pd
    import pyarrow as pa

    from abcspark.distances import Euclidean
    from abcspark.examples import height_problem
    from abcspark.rng import batch_rng
    from abcspark.rows import particle_columns

    prior, model, observed = height_problem(n_draws=100)
    distance = Euclidean()
    steps = ("rng", "prior", "support", "simulate", "distance", "columns", "pandas", "Arrow")
    spent = dict.fromkeys(steps, 0.0)
    for batch in range(n_batches):
        seconds = {}
        seconds["rng"], rng = timed(batch_rng, 1, 0, batch)
        seconds["prior"], theta = timed(prior.sample, batch_size, rng)
        seconds["support"], inside = timed(prior.in_support, theta)
        index = np.flatnonzero(inside)
        seconds["simulate"], stats = timed(model, theta[index], rng)
        seconds["distance"], d = timed(distance, stats, observed)
        kept = d <= np.quantile(d, QUANTILE)  # what quantile mode keeps of one batch
        args = (prior.names, batch, index[kept], theta[kept], d[kept], len(index), 0)
        seconds["columns"], columns = timed(particle_columns, *args)
        seconds["pandas"], frame = timed(pd.DataFrame, columns)
        seconds["Arrow"], _ = timed(pa.RecordBatch.from_pandas, frame, preserve_index=False)
        for step in steps:
            spent[step] += seconds[step]
    return {step: 1e6 * total / n_batches for step, total in spent.items()}


def section(quick: bool) -> tuple:
    sizes = [10**5, 10**6] if quick else [10**5, 10**6, 10**7]
    repeats = [3, 3] if quick else [5, 5, 3]  # at 1e7 only the first batch size (time)
    batch_sizes = [10_000, 1000]
    result = run_case(
        "overhead.measure", {"sizes": sizes, "repeats": repeats, "batch_sizes": batch_sizes}
    )
    rows: List[Row] = []
    targets: List[Target] = []
    for batch_size in batch_sizes:
        costs = run_case("overhead.batch_costs", {"batch_size": batch_size, "n_batches": 20})
        costs.pop("process_seconds")
        total = sum(costs.values())
        for step, micros in costs.items():
            case = f"one batch of {batch_size:,} (height model, 100 draws), step {step}"
            share = f"{micros / total:.1%} of the batch"
            rows.append(Row("batch", case, "time", micros, "us", share))
    for n in sizes:
        base = median(result["times"][f"numpy {n}"])
        rows.append(Row("overhead", f"NumPy, 2 processes, {n:.0e} sims", "sims/s", n / base))
        for batch_size in batch_sizes if n < 10**7 else batch_sizes[:1]:
            runs = result["times"][f"abcspark {n} {batch_size}"]
            # Ratio per repetition (same minutes), then the median of those ratios.
            ratio = median([b / a for a, b in zip(runs, result["times"][f"numpy {n}"])])
            case = f"abcspark local[2], batch_size {batch_size:,}, {n:.0e} sims"
            rows.append(Row("overhead", case, "sims/s", n / median(runs)))
            rows.append(Row("overhead", case, "ratio to NumPy", ratio))
            if n == sizes[-1] and batch_size == batch_sizes[0]:
                targets.append(
                    Target(f"overhead: abcspark/NumPy throughput at {n:.0e} sims", ratio, 0.85)
                )
    return rows, targets
