"""Reference tables: the driver's peak memory and the time per dataset, by table size and by
number of observed datasets (issue 17).

Each case runs in a fresh Python process (``--case``) on ``local[2]``, so each peak is its own:
the driver's Python peak resident set (``ru_maxrss``) and the JVM's peak heap (summed over its
heap pools; in local mode the executors share that JVM, so it bounds the driver's from above).
A case opens a table written beforehand, then runs ``run_many`` for ``m`` datasets, keeping the
``K`` nearest of each, and saves the result to Parquet (nothing is collected to the driver).
The tables hold a cheap model (mean and sd of 10 normal draws), written once per size under
``--folder`` and reused by later invocations.

Usage: ``.venv/bin/python benchmarks/table_memory.py [--sizes 1e6 1e7] [--observations 1 100 1000]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

K = 100
BATCH_SIZE = 100_000


def simulate(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    draws = theta[:, :1] + theta[:, 1:] * rng.standard_normal((len(theta), 10))
    return np.column_stack([draws.mean(axis=1), draws.std(axis=1, ddof=1)])


def session():
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def prior():
    from abcspark import Normal, Prior, Uniform

    return Prior(mu=Normal(0.0, 2.0), sigma=Uniform(0.5, 1.5))


def write(uri: str, n: int) -> float:
    from abcspark import ReferenceTable

    spark, started = session(), time.perf_counter()
    options = dict(seed=1, batch_size=BATCH_SIZE, batches_per_block=10, blocks_per_job=5)
    ReferenceTable.simulate(prior(), simulate, n, uri, spark=spark, **options)
    return time.perf_counter() - started


def jvm_peak_heap(spark) -> int:
    factory = spark.sparkContext._jvm.java.lang.management.ManagementFactory
    pools = factory.getMemoryPoolMXBeans()
    return sum(
        p.getPeakUsage().getUsed() for p in pools if str(p.getType().toString()) == "Heap memory"
    )


def case(uri: str, m: int, output: str) -> dict:
    from abcspark import ReferenceTable, TableRejectionABC

    spark = session()
    table = ReferenceTable.open(uri, spark)
    rng = np.random.default_rng(m)
    theta = np.column_stack([rng.normal(0, 2, m), rng.uniform(0.5, 1.5, m)])
    stats = simulate(theta, rng)
    observations = pd.DataFrame({"id": np.arange(m), "stat_0": stats[:, 0], "stat_1": stats[:, 1]})
    started = time.perf_counter()
    neighbours = TableRejectionABC(table).run_many(observations, K)
    neighbours.save(output, mode="overwrite")
    seconds = time.perf_counter() - started
    return {
        "rows": table.n_batches * table.batch_size,
        "observations": m,
        "seconds": seconds,
        "python_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "jvm_peak_heap_mb": jvm_peak_heap(spark) / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7])
    parser.add_argument("--observations", nargs="+", type=int, default=[1, 100, 1000])
    parser.add_argument("--folder", default=os.path.join(tempfile.gettempdir(), "abcspark-memory"))
    parser.add_argument("--case", nargs=3, metavar=("URI", "M", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(case(args.case[0], int(args.case[1]), args.case[2])))
        return
    rows = []
    for size in (int(s) for s in args.sizes):
        uri = str(Path(args.folder, f"table-{size:.0e}"))
        if not Path(uri, "_abcspark_table.json").exists() and not Path(uri).exists():
            print(f"writing {size:,} rows: {write(uri, size):.1f} s", flush=True)
        for m in args.observations:
            output = str(Path(args.folder, f"out-{size:.0e}-{m}"))
            command = [sys.executable, __file__, "--case", uri, str(m), output]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    report(pd.DataFrame(rows))


def report(frame: pd.DataFrame) -> None:
    print(f"\n{K} nearest per dataset, local[2], load {os.getloadavg()}")
    print("\n| rows | datasets | seconds | ms per dataset | Python peak MB | JVM peak heap MB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in frame.itertuples():
        per = 1000 * r.seconds / r.observations
        print(
            f"| {r.rows:,} | {r.observations:,} | {r.seconds:.1f} | {per:.1f} | "
            f"{r.python_peak_mb:.0f} | {r.jvm_peak_heap_mb:.0f} |"
        )


if __name__ == "__main__":
    main()
