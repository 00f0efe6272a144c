"""Keeping every simulation of a run (``store=uri``): one Parquet file per batch, from where
the batch ran.

The executor (or the driver, on the NumPy engine) that simulates batch ``b`` of generation
``g`` writes all of its simulations, accepted or not, to
``<uri>/generation=<g>/batch-<b>.parquet``: ``batch, index, distance``, the parameters and the
statistics (``_stat_j``; none for a per-parameter simulator), a failed simulation with NaN
statistics and distance. Proposals outside the prior's support are not simulated and not kept.
Nothing passes through the driver, and the rows are what the batch computed, so a batch
written twice (a retried task, a resumed run, batches that ran past a generation's last
particle) holds the same bits: the file is written under a hidden name and moved into place,
and readers (Spark, pandas, pyarrow) skip hidden names, so a write killed midway leaves no
partial file behind in the dataset.

Read it back with ``spark.read.parquet(uri)`` or ``pandas.read_parquet(uri)``: ``generation``
is the partition column. Which batches counted toward a generation is in the run's history:
a generation's batches past its cut are kept too (they were simulated; ``n_discarded``).
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from abcspark.rows import statistic_names


def check_store(uri: Any) -> Optional[str]:
    """``uri`` if pyarrow can write there (a folder, made absolute here on the driver, so that
    executors in other working directories write to the same place; ``file://``, ``s3://``,
    ``hdfs://``).

    Raises
    ------
    ValueError
        If ``uri`` is not a non-empty string or pyarrow has no filesystem for it.
    """
    if uri is None:
        return None
    if not isinstance(uri, str) or not uri:
        raise ValueError(
            f"store must be a folder or URI as a string (got {uri!r}); e.g. "
            "store='s3://bucket/runs/run-1/simulations'."
        )
    uri = uri if "://" in uri else os.path.abspath(uri)
    _filesystem(uri)
    return uri


def write_batch(
    uri: str,
    generation: int,
    batch: int,
    names: Sequence[str],
    index: np.ndarray,
    theta: np.ndarray,
    distances: np.ndarray,
    stats: Optional[np.ndarray],
) -> None:
    """Write one batch's simulations (``theta (n, d)``, ``distances (n,)``, ``stats (n, k)``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {
        "batch": np.full(len(index), batch, dtype=np.int64),
        "index": np.asarray(index, dtype=np.int64),
        "distance": np.asarray(distances, dtype=np.float64),
    }
    columns.update({name: theta[:, j] for j, name in enumerate(names)})
    if stats is not None:
        columns.update(zip(statistic_names(stats.shape[1]), np.asarray(stats, np.float64).T))
    filesystem, root = _filesystem(uri)
    folder = f"{root.rstrip('/')}/generation={generation}"
    filesystem.create_dir(folder, recursive=True)
    final = f"{folder}/batch-{batch:09d}.parquet"
    hidden = f"{folder}/.batch-{batch:09d}.{uuid.uuid4().hex}.tmp"
    table = pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)
    pq.write_table(table, hidden, filesystem=filesystem)
    filesystem.move(hidden, final)


def _filesystem(uri: str) -> tuple:
    from pyarrow import fs

    try:
        return fs.FileSystem.from_uri(uri if "://" in uri else f"file://{uri}")
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... by scheme
        raise ValueError(
            f"store must be a URI pyarrow can write to (got {uri!r}: {exc}); use a local "
            "folder, file://, s3:// or hdfs:// (with libhdfs set up)."
        ) from exc
