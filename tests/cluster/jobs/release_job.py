"""Shipping and broadcast release on a cluster whose executors lack abcspark.

Usage: ``spark-submit release_job.py OUTPUT``. Writes OUTPUT/report.json and OUTPUT/posterior:

- ``importable_before`` / ``importable_after``: whether each executor task can import
  abcspark before and after ``get_spark`` ships it;
- ``broadcasts``: for each generation's broadcast task, how many block managers (driver and
  executors) held its first piece just before release and after the run, whether the JVM
  broadcast is still valid and whether the driver's pickle file still exists;
- ``control_holders``: the same count for a broadcast that is used but never released.

Block holders come from the driver's BlockManagerMaster, which asks every block manager
(``getBlockStatus(blockId, askStorageEndpoints=true)``).
"""

import importlib.util
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
from cluster_models import SEED, SETTINGS
from pyspark.sql import SparkSession

from abcspark import PMCABC, get_spark
from abcspark.engines import SparkEngine
from abcspark.examples import height_problem


def simulate(theta, rng):
    """The height model, written in the job script itself (pickled by value as __main__)."""
    draws = rng.normal(theta[:, :1], theta[:, 1:2], size=(len(theta), 67))
    return np.stack([draws.mean(axis=-1), draws.std(axis=-1, ddof=1)], axis=-1)


def importable(spark) -> list:
    def probe(_):
        return [importlib.util.find_spec("abcspark") is not None]

    return spark.sparkContext.parallelize(range(2), 2).mapPartitions(probe).collect()


def block_manager_master(spark):
    """The driver's BlockManagerMaster, which can ask every block manager about a block.

    py4j cannot call ``SparkEnv.blockManager()`` by name: listing SparkEnv's methods fails on
    a protobuf class missing from pip's pyspark. A method handle looks up that one getter.
    """
    sc = spark.sparkContext
    jvm = sc._jvm
    manager = jvm.java.lang.Class.forName("org.apache.spark.storage.BlockManager")
    getter = jvm.java.lang.invoke.MethodHandles.publicLookup().findVirtual(
        jvm.java.lang.Class.forName("org.apache.spark.SparkEnv"),
        "blockManager",
        jvm.java.lang.invoke.MethodType.methodType(manager),
    )
    return getter.invokeWithArguments([sc._jsc.sc().env()]).master()


def holders(spark, broadcast) -> int:
    """Block managers (driver and executors) holding the broadcast's first piece."""
    jvm = spark.sparkContext._jvm
    piece = jvm.org.apache.spark.storage.BroadcastBlockId(broadcast._jbroadcast.id(), "piece0")
    return block_manager_master(spark).getBlockStatus(piece, True).size()


class RecordingEngine(SparkEngine):
    """Spark's engine, recording each generation's broadcast and its holders at release."""

    def __init__(self, spark):
        super().__init__(spark)
        self.shared, self.held = [], []

    def share(self, task):
        shared = super().share(task)
        self.shared.append(shared)
        return shared

    def release(self, shared):
        self.held.append(holders(self.spark, shared))
        super().release(shared)


def main(output: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spark = SparkSession.builder.getOrCreate()
    sc = spark.sparkContext
    report = {"master": sc.master, "application": sc.applicationId}
    report["importable_before"] = importable(spark)
    get_spark(spark)
    report["importable_after"] = importable(spark)
    control = sc.broadcast(np.arange(100))
    sc.parallelize(range(4), 2).map(lambda i: int(control.value[i])).collect()
    engine = RecordingEngine(spark)
    prior, _, observed = height_problem()
    posterior = PMCABC(prior, simulate, **SETTINGS, engine=engine).run(observed, seed=SEED)
    deadline = time.monotonic() + 60  # destroy() removes executors' copies asynchronously
    while any(holders(spark, b) for b in engine.shared) and time.monotonic() < deadline:
        time.sleep(0.5)
    report["broadcasts"] = [
        {
            "held_before_release": held,
            "held_after_run": holders(spark, shared),
            "valid": shared._jbroadcast.isValid(),
            "driver_file_exists": os.path.exists(shared._path),
        }
        for shared, held in zip(engine.shared, engine.held)
    ]
    report["control_holders"] = holders(spark, control)
    Path(output).mkdir(parents=True, exist_ok=True)
    Path(output, "report.json").write_text(json.dumps(report, indent=2))
    posterior.save(str(Path(output, "posterior")))


if __name__ == "__main__":
    main(sys.argv[1])
