"""The loop every engine runs over its share of a generation's batches, in order.

Batches are gathered into frames (one pandas frame per batch would cost more than a cheap
simulator's batch); in quantile mode the loop keeps only the particles that can still be among
the best.
"""

from __future__ import annotations

from typing import Callable, Iterator, List, Optional

import numpy as np
import pandas as pd

from abcspark.batch import BatchTask
from abcspark.rows import TALLY, concat, failure_columns, keep_best

ROWS_PER_FRAME = 10_000
"""Rows gathered before an engine hands a frame on (Spark's Arrow batches hold 10,000)."""


def run_batches(
    task: BatchTask,
    batches: Iterator[int],
    best: Optional[int],
    guard: Optional[Callable[[], bool]] = None,
) -> Iterator[pd.DataFrame]:
    """Run batches in order; with ``best``, keep only the ``best`` particles seen so far.

    A batch that raises ends the partition with a ``FAILED`` marker row instead of an
    exception when ``guard()`` says so (on a retried Spark task: the error came back, so it
    is deterministic and more retries would only repeat it).

    Batches are gathered into frames of about ``ROWS_PER_FRAME`` rows: one pandas frame (and
    one Arrow batch) per batch would cost more than a cheap simulator's batch. A top-k passes
    its current ``best``-th distance to the next batches, which then keep only rows that can
    still enter it, so quantile mode never frames the simulations it drops.
    """
    pieces: List[dict] = []
    rows = particles = 0
    bound = np.inf
    distances = np.empty(0)
    for batch in batches:
        try:
            columns = task.columns(batch, best, bound)
        except Exception:
            if guard is None or not guard():
                raise
            n_stats = len(task.observed) if task.keep_statistics else 0
            pieces.append(failure_columns(task.names, batch, n_stats))
            break
        pieces.append(columns)
        rows += len(columns["index"])
        if best is None:
            if rows >= ROWS_PER_FRAME:
                yield concat(pieces)
                pieces, rows = [], 0
            continue
        found = columns["distance"][columns["index"] != TALLY]
        distances = np.concatenate([distances, found])
        particles += len(found)
        if len(distances) >= best:
            bound = np.partition(distances, best - 1)[best - 1]
            distances = distances[distances <= bound]
        if particles > 2 * best + ROWS_PER_FRAME:
            kept = keep_best(concat(pieces), best)
            pieces, particles = [{c: kept[c].to_numpy() for c in kept}], best
    if pieces:
        yield concat(pieces) if best is None else keep_best(concat(pieces), best)
