"""The k nearest table rows of many observed datasets: one pass per partition, then a merge.

:meth:`Search.frames` is the body of a ``mapInPandas`` over a table's simulations. For each
chunk of rows it computes the distance of every row to every observation (one call of the
distance per observation, vectorized over the rows, exactly as a batch scores its
simulations), and keeps, per observation, the rows that can still be among its ``k`` best:
``np.partition`` over a matrix of observations by rows finds each one's ``k``-th distance at
once, and that bound prunes the later chunks. :meth:`Search.merge` then keeps each
observation's ``k`` best of all partitions (``groupBy(id).applyInPandas`` on Spark).

Ties are broken by ``(distance, batch, index)``, so the rows kept never depend on partitioning
or arrival order; they are the rows :class:`~abcspark.RejectionABC` keeps in quantile mode.
Without ``k``, every row within ``epsilon`` is kept. With ``by_distance=False`` the ``k`` kept
are the first within ``epsilon`` in ``(batch, index)`` order: rejection ABC run until ``k``
particles are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, List, Optional

import numpy as np
import pandas as pd

CELLS = 2_000_000
"""Distances computed at once, observations times rows (16 MB of float64)."""
OBSERVATION = "_observation"
"""The position of a candidate's observation, inside a partition."""


@dataclass(frozen=True)
class Search:
    """Which rows of a table to keep for each of ``m`` observations.

    Parameters
    ----------
    observed : ndarray, shape (m, k)
        The observed statistics, one row per dataset.
    ids : ndarray, shape (m,)
        Their ids (the output's ``id_column``).
    statistics : list of str
        The table's statistic columns, in the order of ``observed``'s columns.
    distance : callable
        ``(stats (n, k), observed (k,)) -> (n,)``.
    k : int, optional
        Rows kept per observation; None keeps every row within ``epsilon``.
    epsilon : float, default inf
        Rows further than this are never kept.
    by_distance : bool, default True
        The ``k`` nearest (True), or the ``k`` first within ``epsilon`` (False).
    id_column : str, default 'id'
    """

    observed: np.ndarray
    ids: np.ndarray
    statistics: List[str]
    distance: Any
    k: Optional[int] = None
    epsilon: float = np.inf
    by_distance: bool = True
    id_column: str = "id"

    @property
    def keys(self) -> List[str]:
        """The order in which an observation's candidates are kept."""
        return ["distance", "batch", "index"] if self.by_distance else ["batch", "index"]

    def frames(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """A partition's candidates: per observation, its ``k`` best here (ties kept)."""
        m = len(self.observed)
        bound = np.full(m, self.epsilon)
        found: List[pd.DataFrame] = []
        rows = 0
        step = max(1, CELLS // m)
        for frame in frames:
            for start in range(0, len(frame), step):
                chunk = self._chunk(frame.iloc[start : start + step], bound)
                found.append(chunk)
                rows += len(chunk)
                if self.k is not None and rows > 2 * m * self.k + step:
                    best = self._best(pd.concat(found, ignore_index=True))
                    found, rows = [best], len(best)
                    bound = self._bound(best, bound)
        if found:
            best = pd.concat(found, ignore_index=True)
            best = best if self.k is None else self._best(best)
            best.insert(0, self.id_column, self.ids[best.pop(OBSERVATION).to_numpy()])
            yield best

    def _chunk(self, chunk: pd.DataFrame, bound: np.ndarray) -> pd.DataFrame:
        """The rows of ``chunk`` that can be among each observation's best, one per pair."""
        if not self.by_distance:
            chunk = chunk.sort_values(["batch", "index"], kind="mergesort")
        stats = chunk[self.statistics].to_numpy(dtype=np.float64)
        distances = np.empty((len(self.observed), len(chunk)))
        for j, observed in enumerate(self.observed):
            distances[j] = self.distance(stats, observed)
        keep = distances <= bound[:, None]  # NaN is never kept
        if self.k is not None and len(chunk) > self.k:
            if self.by_distance:
                within = np.where(keep, distances, np.inf)
                kth = np.partition(within, self.k - 1, axis=1)[:, self.k - 1]
                keep &= distances <= kth[:, None]  # ties at the k-th are all kept
            else:
                keep &= np.cumsum(keep, axis=1) <= self.k
        observation, row = np.nonzero(keep)
        found = chunk.iloc[row].reset_index(drop=True)
        found.insert(0, "distance", distances[observation, row])
        found.insert(0, OBSERVATION, observation)
        return found

    def _best(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """Each observation's ``k`` best of ``candidates`` (the ``k`` first in its order)."""
        ordered = candidates.sort_values([OBSERVATION, *self.keys], kind="mergesort")
        rank = ordered.groupby(OBSERVATION, sort=False).cumcount().to_numpy()
        return ordered[rank < self.k].reset_index(drop=True)

    def _bound(self, best: pd.DataFrame, bound: np.ndarray) -> np.ndarray:
        """Tighter bounds: an observation with ``k`` candidates needs none further than its
        ``k``-th (a row at that distance may still win on ``(batch, index)``)."""
        if not self.by_distance:
            return bound
        counts = np.bincount(best[OBSERVATION], minlength=len(bound))
        full = np.flatnonzero(counts == self.k)
        kth = best.groupby(OBSERVATION, sort=True)["distance"].max()
        tighter = bound.copy()
        tighter[full] = np.minimum(bound[full], kth.loc[full].to_numpy())
        return tighter

    def merge(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """Each id's ``k`` best of all partitions' candidates, with ``rank`` 1, 2, ... k.

        Rows of several ids may be given (the driver), or one id's (``applyInPandas``).
        """
        ordered = candidates.sort_values([self.id_column, *self.keys], kind="mergesort")
        rank = ordered.groupby(self.id_column, sort=False).cumcount().to_numpy()
        if self.k is not None:
            ordered, rank = ordered[rank < self.k], rank[rank < self.k]
        ordered = ordered.reset_index(drop=True)
        ordered.insert(1, "rank", rank + 1)
        return ordered

    def schema(self, id_type: str, columns: List[str], rank: bool = False) -> str:
        """The Spark DDL schema of :meth:`frames` (or, with ``rank``, :meth:`merge`) output.

        ``columns`` are the parameter and statistic columns carried along.
        """
        head = f"`{self.id_column}` {id_type}, " + ("rank int, " if rank else "")
        values = ", ".join(f"`{c}` double" for c in columns)
        return f"{head}distance double, batch long, index long, {values}"
