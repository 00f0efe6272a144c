"""The row format of a batch: the only thing that leaves the executors.

A batch yields one row per kept particle and one tally row (``index == TALLY``) that carries
its counts. Every engine returns these rows, the driver splits them with :func:`split`, and
no other module knows the columns:

- ``batch`` and ``index``: where the proposal was drawn (the key of its randomness);
- ``distance``: its distance to the observed statistics (NaN on the tally row);
- ``n_simulated`` and ``n_failed``: simulator calls and failures (0 on particle rows);
- one ``double`` column per parameter;
- with ``n_statistics = k > 0``, the particle's simulated statistics as ``_stat_0`` ...
  ``_stat_{k-1}`` (parameter names cannot start with ``_``, so they never collide).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import pandas as pd

TALLY = -1
"""``index`` of the one row per batch that carries its counts instead of a particle."""
FAILED = -2
"""``index`` of a row marking a batch that raised on an executor; the driver reruns it there,
so a deterministic error is reported once instead of failing (and retrying) the Spark task."""
COUNTS = ("n_simulated", "n_failed")
RESERVED = ("batch", "index", "distance", *COUNTS, "weight", "generation")
"""Column names a parameter may not take."""


def statistic_names(k: int) -> List[str]:
    """The columns of ``k`` simulated statistics."""
    return [f"_stat_{j}" for j in range(k)]


def particle_columns(
    names: list,
    batch: int,
    index: np.ndarray,
    theta: np.ndarray,
    distances: np.ndarray,
    n_simulated: int,
    n_failed: int,
    stats: Optional[np.ndarray] = None,
) -> dict:
    """Kept particles of one batch followed by its tally row, as columns of equal length.

    Parameters
    ----------
    names : list of str
        Parameter names, ``d`` of them.
    batch : int
    index : ndarray, shape (m,)
        Positions of the kept particles within the batch.
    theta : ndarray, shape (m, d)
    distances : ndarray, shape (m,)
    n_simulated, n_failed : int
        The batch's simulator calls and failures.
    stats : ndarray, shape (m, k), optional
        The kept particles' statistics, carried only when asked for.
    """
    n = len(index)
    columns = {
        "batch": np.full(n + 1, batch, dtype=np.int64),
        "index": np.append(index, TALLY).astype(np.int64),
        "distance": np.append(distances, np.nan),
        "n_simulated": np.append(np.zeros(n, dtype=np.int64), n_simulated),
        "n_failed": np.append(np.zeros(n, dtype=np.int64), n_failed),
    }
    for j, name in enumerate(names):
        columns[name] = np.append(theta[:, j], np.nan)
    if stats is not None:
        for j, name in enumerate(statistic_names(stats.shape[1])):
            columns[name] = np.append(stats[:, j], np.nan)
    return columns


def row_schema(names: list, n_statistics: int = 0) -> str:
    """The Spark DDL schema of :func:`particle_columns` rows."""
    columns = [f"`{name}` double" for name in [*names, *statistic_names(n_statistics)]]
    return "batch long, index long, distance double, n_simulated long, n_failed long, " + ", ".join(
        columns
    )


def concat(pieces: List[dict]) -> pd.DataFrame:
    """One frame of the columns of several batches, in order."""
    return pd.DataFrame({c: np.concatenate([p[c] for p in pieces]) for c in pieces[0]})


def failure_columns(names: list, batch: int, n_statistics: int = 0) -> dict:
    """The one-row marker of a batch that raised (see ``FAILED``)."""
    empty = particle_columns(
        names,
        batch,
        np.empty(0, dtype=np.int64),
        np.empty((0, len(names))),
        np.empty(0),
        0,
        0,
        np.empty((0, n_statistics)) if n_statistics else None,
    )
    empty["index"][:] = FAILED
    return empty


def failed_batches(frame: pd.DataFrame) -> List[int]:
    """The batches marked ``FAILED`` among ``frame``'s rows, in order."""
    if frame.empty:
        return []
    return sorted(int(b) for b in frame.loc[frame["index"] == FAILED, "batch"])


def keep_best(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """Keep the tally (and failure) rows and the ``k`` particles of smallest distance.

    Ties are broken by (batch, index), so the choice does not depend on arrival order.
    """
    marker = frame["index"] < 0
    particles = frame[~marker].sort_values(["distance", "batch", "index"], kind="mergesort")
    return pd.concat([particles.head(k), frame[marker]], ignore_index=True)


def split(frame: pd.DataFrame, epsilon: float = np.inf) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """Particles (``batch, index, distance``, parameters, statistics) and tallies of rows.

    Particles are the rows within ``epsilon``: a sample batch (``BatchTask.sample_batches``)
    also sends the simulations beyond it.
    """
    tally = frame["index"] == TALLY
    particles = frame[(frame["index"] >= 0) & (frame["distance"] <= epsilon)]
    return particles.drop(columns=list(COUNTS)), frame.loc[tally, ["batch", *COUNTS]]


def sampled(frame: pd.DataFrame, n_batches: int) -> pd.DataFrame:
    """The simulations (``batch``, statistics) that batches below ``n_batches`` sent."""
    rows = frame[(frame["index"] >= 0) & (frame["batch"] < n_batches)]
    return rows[["batch", *statistics_in(frame)]]


def statistics(particles: pd.DataFrame) -> Optional[np.ndarray]:
    """The statistics carried by particle rows, shape (m, k), or None if none were kept."""
    columns = statistics_in(particles)
    return particles[columns].to_numpy() if columns else None


def statistics_in(frame: pd.DataFrame) -> List[str]:
    """The columns of ``frame`` that hold simulated statistics (:func:`statistic_names`)."""
    return [c for c in frame.columns if c.startswith("_stat_")]


def sampled_statistics(frames: List[pd.DataFrame], last: int) -> Optional[np.ndarray]:
    """Statistics ``(m, k)`` of the ``sampled`` simulations of batches up to ``last``, in
    batch order; None when no batch was a sample batch."""
    rows = pd.concat(frames).sort_values("batch", kind="mergesort")
    if rows.empty:
        return None
    return rows[rows["batch"] <= last].drop(columns="batch").to_numpy()
