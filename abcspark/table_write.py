"""Writing a reference table: blocks of batches as Parquet partitions, each written whole.

Batch ``b`` belongs to block ``b // batches_per_block``, the Parquet partition ``block=<n>``.
Missing blocks are written in jobs of ``blocks_per_job``: one Spark job runs their batches on
the executors (``mapInPandas`` over :meth:`~abcspark.batch.BatchTask.columns`) and writes them
with dynamic partition overwrite (set on that write only), so a job replaces exactly its blocks
and nothing passes through the driver. After the job commits, the driver writes one marker per
block, ``_blocks/block-<n>-<first>-<stop>``, naming the batches the block holds: a block is
complete when its marker names the batches it must hold. A run killed anywhere leaves some
blocks with markers and others without; the same call again writes only the others, and a
block written twice holds the same bits, since a batch's randomness is keyed by its number.

Spark skips names starting with ``_`` or ``.`` when it reads the table: the markers, the
metadata file and the staging folder a killed job leaves (removed by the next run). On object
stores (``s3://``) a commit copies the staged files into place, file by file; a block whose copy
a kill cut short has no marker yet, so the next run writes it again. One writer at a time.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from functools import partial
from typing import Any, Iterator, List, Tuple

import pandas as pd

from abcspark import storage
from abcspark.batch_loop import run_batches
from abcspark.engines.spark import executor_error, job_named, load_task
from abcspark.rows import statistic_names

log = logging.getLogger("abcspark")

MARKERS = "_blocks"
"""The folder of the block markers, under the table's root."""
STAGING = ".spark-staging-"
"""Prefix of the folder where a dynamic-overwrite job stages its output until it commits."""

Block = Tuple[int, int, int]
"""``(block, first batch, stop batch)``: a block and the batches ``[first, stop)`` it holds."""


def table_schema(names: List[str], statistics: List[str], block: bool = True) -> str:
    """The Spark DDL schema of a table's rows (with the ``block`` partition column, or not).

    Simulation rows carry ``index >= 0``; each batch also has one tally row (``index == -1``,
    NaN values) with its simulator calls and failures, as in :mod:`abcspark.rows`.
    """
    values = ", ".join(f"`{name}` double" for name in [*names, *statistics])
    head = "block long, " if block else ""
    return f"{head}batch long, index long, n_simulated long, n_failed long, {values}"


def blocks(n_batches: int, batches_per_block: int) -> List[Block]:
    """Every block of a table of ``n_batches`` batches, the last one possibly short."""
    return [
        (b, b * batches_per_block, min((b + 1) * batches_per_block, n_batches))
        for b in range(math.ceil(n_batches / batches_per_block))
    ]


def marker(block: Block) -> str:
    """The name of the marker of a complete block."""
    return "block-{:09d}-{}-{}".format(*block)


def missing(uri: str, spark: Any, wanted: List[Block]) -> List[Block]:
    """The blocks of ``wanted`` whose marker is absent (never written, or holding fewer batches)."""
    found = set(storage.for_path(f"{uri.rstrip('/')}/{MARKERS}", spark).names())
    return [block for block in wanted if marker(block) not in found]


def jobs(todo: List[Block], blocks_per_job: int) -> List[List[Block]]:
    """``todo`` in jobs of at most ``blocks_per_job`` consecutive blocks (one batch range each)."""
    found: List[List[Block]] = []
    for block in todo:
        last = found[-1] if found else None
        if last and len(last) < blocks_per_job and last[-1][0] + 1 == block[0]:
            last.append(block)
        else:
            found.append([block])
    return found


def write_blocks(
    spark: Any,
    uri: str,
    shared: Any,
    layout: dict,
    todo: List[Block],
    blocks_per_job: int,
    parallelism: int,
) -> None:
    """Write the blocks ``todo``, one Spark job per ``blocks_per_job`` of them, then their markers.

    ``shared`` is the broadcast :class:`~abcspark.batch.BatchTask`; ``layout`` holds the table's
    ``names``, ``statistics`` and ``batches_per_block``.
    """
    remove_staging(spark, uri)
    markers = storage.for_path(f"{uri.rstrip('/')}/{MARKERS}", spark)
    stale = {marker(b)[:15]: b for b in todo}  # block-<n>: a shorter block to be replaced
    for name in markers.names():
        if name[:15] in stale:
            markers.delete(name)
    for job in jobs(todo, blocks_per_job):
        started = time.perf_counter()
        _write_job(spark, uri, shared, layout, job, parallelism)
        for block in job:
            markers.write(marker(block), b"")
        log.info(
            "reference table %s: blocks %d-%d (batches %d-%d) written in %.1f s",
            uri,
            job[0][0],
            job[-1][0],
            job[0][1],
            job[-1][2] - 1,
            time.perf_counter() - started,
        )


def _write_job(
    spark: Any, uri: str, shared: Any, layout: dict, job: List[Block], parallelism: int
) -> None:
    first, stop = job[0][1], job[-1][2]
    description = f"abcspark reference table {uri} blocks {job[0][0]}-{job[-1][0]}"
    schema = table_schema(layout["names"], layout["statistics"])
    frames = partial(_table_frames, shared, layout["batches_per_block"], layout["statistics"])
    ids = spark.range(first, stop, 1, numPartitions=max(1, min(parallelism, stop - first)))
    try:
        with job_named(spark, description):
            (
                ids.mapInPandas(frames, schema)
                .write.mode("overwrite")
                .option("partitionOverwriteMode", "dynamic")  # only this job's blocks go
                .partitionBy("block")
                .parquet(uri)
            )
    except Exception as exc:
        raise executor_error(exc, description) from exc


def _table_frames(
    shared: Any, batches_per_block: int, statistics: List[str], frames: Iterator[pd.DataFrame]
) -> Iterator[pd.DataFrame]:
    """The body of a write job: every simulation of the batches given, and their tallies."""
    task = load_task(shared)
    renamed = dict(zip(statistic_names(len(statistics)), statistics))
    batches = (int(b) for frame in frames for b in frame["id"])
    for rows in run_batches(task, batches, None):
        rows = rows.drop(columns="distance").rename(columns=renamed)
        rows.insert(0, "block", rows["batch"] // batches_per_block)
        yield rows


def remove_staging(spark: Any, uri: str) -> None:
    """Delete the staging folders that killed write jobs left under the table's root.

    One writer at a time: a staging folder of another run writing the table now would go too.
    A local folder is cleaned here (so on Spark Connect too); a Hadoop URI through the JVM.
    """
    store = storage.for_path(uri, spark)
    if isinstance(store, storage.LocalStorage):
        for name in store.names():
            if name.startswith(STAGING):
                shutil.rmtree(store.root / name, ignore_errors=True)
        return
    jvm = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(uri)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(root):
        return
    for status in fs.listStatus(root):
        if status.getPath().getName().startswith(STAGING):
            fs.delete(status.getPath(), True)
