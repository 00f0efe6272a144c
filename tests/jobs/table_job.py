"""A reference table written in a process of its own, which the resume test kills.

Usage: python table_job.py URI

With ``ABCSPARK_TABLE_HOLD`` set to the table's URI, the simulator of the first batch that
runs once two blocks are complete leaves ``URI.held`` and holds its batch until the test kills
the process group: the kill always lands in a job in flight, after two blocks committed, with
no race to win. The test imports this module for the same prior, simulator and settings (the
same code, so the same fingerprint).
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

from abcspark import Normal, Prior, Uniform

PRIOR = Prior(mu=Normal(0.0, 2.0), sigma=Uniform(0.5, 1.5))
N = 4000
SETTINGS = {"seed": 7, "batch_size": 50, "batches_per_block": 8}
HELD_AFTER = 2
"""Complete blocks after which a held run stops."""


def simulate(theta, rng):
    """Mean and sd of 10 Normal(mu, sigma) draws per parameter row."""
    hold = os.environ.get("ABCSPARK_TABLE_HOLD")
    if hold:
        hold_after_blocks(hold)
    draws = theta[:, :1] + theta[:, 1:] * rng.standard_normal((len(theta), 10))
    return np.column_stack([draws.mean(axis=1), draws.std(axis=1, ddof=1)])


def hold_after_blocks(uri, seconds=300.0):
    """Once HELD_AFTER blocks are complete, block this batch until the test kills the run."""
    markers = Path(uri, "_blocks")
    if not markers.is_dir() or len(list(markers.glob("block-*"))) < HELD_AFTER:
        return
    Path(f"{uri}.held").touch()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
    raise RuntimeError(f"table_job: not killed within {seconds} s of holding")


def main():
    from pyspark.sql import SparkSession

    from abcspark.reference_table import ReferenceTable

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    ReferenceTable.simulate(PRIOR, simulate, N, sys.argv[1], spark=spark, **SETTINGS)
    spark.stop()


if __name__ == "__main__":
    main()
