"""EMR step entry point: check that every node runs abcspark on the driver's Python.

Runs a few tasks per core and prints, for the driver and each executor host, the interpreter
and the versions of abcspark, numpy, pandas and pyarrow. Exits non-zero when a node differs
from the driver: a node where the bootstrap action did not run, or a PYSPARK_PYTHON that
points at another Python (the notebook-through-Livy trap). Submit it after creating a cluster:

    python emr/launch.py submit --job check_cluster --cluster-id j-... --bucket my-abc-bucket
"""

import importlib
import platform
import socket
import sys

from pyspark.sql import SparkSession

PACKAGES = ("abcspark", "numpy", "pandas", "pyarrow")


def environment(_=None):
    """(host, interpreter, Python version, package versions...) of the calling process."""
    versions = tuple(importlib.import_module(name).__version__ for name in PACKAGES)
    return (socket.gethostname(), sys.executable, platform.python_version()) + versions


def report(driver, executors):
    """Print one row per environment; return the executor environments unlike the driver's."""
    print("\t".join(("node", "host", "python", "version") + PACKAGES))
    for role, row in [("driver", driver)] + [("executor", row) for row in sorted(executors)]:
        print("\t".join((role,) + row))
    return sorted(row for row in executors if row[1:] != driver[1:])


def main():
    spark = SparkSession.builder.appName("abcspark check_cluster").getOrCreate()
    context = spark.sparkContext
    n_tasks = 4 * context.defaultParallelism
    executors = set(context.parallelize(range(n_tasks), n_tasks).map(environment).collect())
    differing = report(environment(), executors)
    if differing:
        sys.exit(f"{len(differing)} executor environment(s) differ from the driver's: {differing}")
    print(f"ok: {len(executors)} executor environment(s) match the driver")


if __name__ == "__main__":
    main()
