"""The k nearest table rows of many observed datasets: one pass per partition, then a merge.

:meth:`Search.frames` is the body of a ``mapInPandas`` over a table's simulations. It gathers
the rows into chunks of :data:`CELLS` rows and, for each observation, computes the distance of
every row of a chunk to it (one call of the distance, vectorized over the rows, exactly as a
batch scores its simulations) and keeps the rows that can still be among its ``k`` best: those
within its bound, the ``k``-th smallest distance seen so far (``np.partition`` over the few
candidates and the chunk's rows within the bound), which prunes the later chunks. No matrix of
observations by rows is formed, so memory does not grow with the number of observations.
:meth:`Search.merge` then keeps each observation's ``k`` best of all partitions
(``groupBy(id).applyInPandas`` on Spark).

Ties are broken by ``(distance, batch, index)``, so the rows kept never depend on partitioning,
chunking or arrival order; they are the rows :class:`~abcspark.RejectionABC` keeps in quantile
mode. Without ``k``, every row within ``epsilon`` is kept. With ``by_distance=False`` the ``k``
kept are the first within ``epsilon`` in ``(batch, index)`` order: rejection ABC run until
``k`` particles are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterator, List, Optional

import numpy as np
import pandas as pd

CELLS = 100_000
"""Distances computed at once: one observation's to a chunk of this many rows (0.8 MB).

Each chunk costs one call of the distance per observation, so larger chunks mean fewer calls."""
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
        """A partition's candidates: per observation, its ``k`` best here."""
        m = len(self.observed)
        bound = np.full(m, self.epsilon)
        near = [np.empty(0)] * m  # per observation: the candidates' distances within its bound
        found: List[pd.DataFrame] = []
        rows = 0
        for chunk in _chunks(frames, CELLS):
            found.append(self._chunk(chunk, bound, near))
            rows += len(found[-1])
            if self.k is not None and rows > 2 * m * self.k + CELLS:
                found = [self._best(pd.concat(found, ignore_index=True))]
                rows = len(found[0])
        if found:
            best = pd.concat(found, ignore_index=True)
            best = best if self.k is None else self._best(best)
            best.insert(0, self.id_column, self.ids[best.pop(OBSERVATION).to_numpy()])
            yield best

    def counts(self, after: int, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """A partition's rows within ``epsilon`` (every one, whatever ``k``) and its rows after
        proposal ``after``, as one frame ``within, after``: the body of a ``mapInPandas``."""
        n_after = 0

        def counted() -> Iterator[pd.DataFrame]:
            nonlocal n_after
            for frame in frames:
                n_after += int((frame["index"] > after).sum())
                yield frame

        within = sum(len(found) for found in replace(self, k=None).frames(counted()))
        yield pd.DataFrame({"within": [within], "after": [n_after]})

    def _chunk(
        self, chunk: pd.DataFrame, bound: np.ndarray, near: List[np.ndarray]
    ) -> pd.DataFrame:
        """The rows of ``chunk`` that can be among each observation's best, one per pair.

        Tightens ``bound`` and updates ``near`` in place, observation by observation.
        """
        if not self.by_distance:
            chunk = chunk.sort_values(["batch", "index"], kind="mergesort")
        stats = chunk[self.statistics].to_numpy(dtype=np.float64)
        kept, values = [], []
        for j, observed in enumerate(self.observed):
            distances = self.distance(stats, observed)
            rows = np.flatnonzero(distances <= bound[j])  # NaN is never kept
            if self.k is not None and not self.by_distance:
                rows = rows[: self.k]
            elif self.k is not None and len(rows) + len(near[j]) > self.k:
                pooled = np.concatenate([near[j], distances[rows]])
                kth = np.partition(pooled, self.k - 1)[self.k - 1]
                bound[j], near[j] = kth, pooled[pooled <= kth]  # ties at the k-th all stay
                rows = rows[distances[rows] <= kth]
            elif self.k is not None:
                near[j] = np.concatenate([near[j], distances[rows]])
            kept.append(rows)
            values.append(distances[rows])
        observation = np.repeat(np.arange(len(kept)), [len(rows) for rows in kept])
        found = chunk.iloc[np.concatenate(kept)].reset_index(drop=True)
        found.insert(0, "distance", np.concatenate(values))
        found.insert(0, OBSERVATION, observation)
        return found

    def _best(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """Each observation's ``k`` best of ``candidates`` (the ``k`` first in its order)."""
        ordered = candidates.sort_values([OBSERVATION, *self.keys], kind="mergesort")
        rank = ordered.groupby(OBSERVATION, sort=False).cumcount().to_numpy()
        return ordered[rank < self.k].reset_index(drop=True)

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


def _chunks(frames: Iterator[pd.DataFrame], size: int) -> Iterator[pd.DataFrame]:
    """``frames`` regrouped into chunks of ``size`` rows (the last one shorter)."""
    held: List[pd.DataFrame] = []
    count = 0
    for frame in frames:
        if not len(frame):
            continue
        held.append(frame)
        count += len(frame)
        if count >= size:
            whole = pd.concat(held, ignore_index=True)
            count = len(whole) % size
            held = [whole.iloc[len(whole) - count :]] if count else []
            for start in range(0, len(whole) - count, size):
                yield whole.iloc[start : start + size]
    if count:
        yield pd.concat(held, ignore_index=True)
