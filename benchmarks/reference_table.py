"""Reference tables: simulate once, infer for many observed datasets, against a run per dataset.

The height model with ``--draws`` per simulation (100 by default: ``height_problem``), Euclidean
distance, the 1,000 nearest of ``--n`` simulations (quantile mode), on ``local[2]`` started
before any clock. Measured in one process, alternately, so the ratios compare runs of the same
minutes (the machine is shared):

- ``write``: ``ReferenceTable.simulate`` of ``--n`` simulations, against one ``RejectionABC``
  run of the same simulations (which keeps only its 1,000 particles);
- ``one``: ``TableRejectionABC.run`` of one dataset on the table, against that same run;
- ``many``: ``run_many`` of ``--observations`` datasets in one pass, against a table run per
  dataset and a RejectionABC run per dataset, both extrapolated from the measured ones.

Usage: ``.venv/bin/python benchmarks/reference_table.py [--n 1000000] [--observations 100]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from functools import partial

import numpy as np
import pandas as pd

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

K = 1000
BATCH_SIZE = 10_000
REPEATS = 3


def seconds(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def datasets(model, m: int) -> pd.DataFrame:
    """``m`` observed datasets: summaries of simulations at parameters drawn from the prior."""
    rng = np.random.default_rng(2026)
    theta = np.column_stack([rng.uniform(150, 200, m), rng.uniform(5, 25, m)])
    stats = model(theta, rng)
    return pd.DataFrame({"id": np.arange(m), "stat_0": stats[:, 0], "stat_1": stats[:, 1]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="simulations in the table")
    parser.add_argument("--observations", type=int, default=100, help="datasets for run_many")
    parser.add_argument("--draws", type=int, default=100, help="draws per simulation (its cost)")
    args = parser.parse_args()

    from pyspark.sql import SparkSession

    from abcspark import RejectionABC
    from abcspark.examples import height_problem
    from abcspark.reference_table import ReferenceTable
    from abcspark.table_inference import TableRejectionABC

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    prior, model, observed = height_problem(n_draws=args.draws)
    quantile = K / args.n
    abc = RejectionABC(prior, model, batch_size=BATCH_SIZE, spark=spark, parallelism=2)
    rejection = lambda: abc.run(observed, quantile=quantile, n_simulations=args.n, seed=1)  # noqa: E731
    rejection()  # Python workers up, numpy and abcspark imported
    folder = tempfile.mkdtemp(prefix="abcspark-table-")
    options = dict(
        seed=1, spark=spark, batch_size=BATCH_SIZE, batches_per_block=25, blocks_per_job=2
    )
    write, direct, one = [], [], []
    try:
        for repeat in range(REPEATS):
            uri = os.path.join(folder, f"table-{repeat}")
            write.append(
                seconds(partial(ReferenceTable.simulate, prior, model, args.n, uri, **options))
            )
            direct.append(seconds(rejection))
        table = ReferenceTable.open(os.path.join(folder, "table-0"), spark)
        on_table = TableRejectionABC(table)
        for _ in range(REPEATS):
            one.append(seconds(lambda: on_table.run(observed, n_samples=K)))
        observations = datasets(model, args.observations)
        many = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            neighbours = on_table.run_many(observations, K)
            many.append(time.perf_counter() - started)
            neighbours.close()
        report(args, write, direct, one, many)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        spark.stop()


def report(args, write, direct, one, many) -> None:
    w, d, o, m = (statistics.median(x) for x in (write, direct, one, many))
    n_obs = args.observations
    rows = [
        ("write the table", w, f"{w / d:.2f} x one RejectionABC run ({d:.2f} s)"),
        ("one dataset on the table", o, f"{d / o:.1f} x faster than a RejectionABC run"),
        (
            f"{n_obs} datasets, one pass",
            m,
            f"{n_obs * o / m:.1f} x faster than {n_obs} table runs ({n_obs * o:.0f} s), "
            f"{n_obs * d / (w + m):.1f} x faster than {n_obs} RejectionABC runs "
            f"({n_obs * d:.0f} s) counting the table's writing",
        ),
    ]
    print(
        f"\n{args.n:,} simulations of {args.draws} draws, {K:,} nearest, medians of {REPEATS}, "
        f"load {os.getloadavg()}"
    )
    print("\n| step | seconds | against |\n| --- | ---: | --- |")
    for name, value, against in rows:
        print(f"| {name} | {value:.2f} | {against} |")


if __name__ == "__main__":
    main()
