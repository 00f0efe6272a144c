"""Rejection ABC on a reference table: posteriors without new simulations, for many datasets.

The table holds the simulations a :class:`~abcspark.RejectionABC` run of its seed and batch
size would make, so the rows kept here are that run's particles, bit for bit:

=============================  ===========================================================
``run(observed, ...)``         :class:`~abcspark.RejectionABC` ``run(observed, ...)`` with
=============================  ===========================================================
``n_samples=k``                ``quantile=q, n_simulations=table.n``, ``ceil(q * n) == k``
``epsilon=e``                  ``epsilon=e, n_simulations=table.n``
``epsilon=e, n_samples=k``     ``epsilon=e, n_samples=k`` (when the table holds k within e)
=============================  ===========================================================

``n_simulations`` restricts either side to the first batches. Each is one Spark job over the
table (:mod:`abcspark.table_search`) and small ones for the counts; :meth:`run_many` finds the
``k`` nearest rows of many datasets in one job.
"""

from __future__ import annotations

import logging
import math
import time
from functools import partial
from typing import Any, Optional

import numpy as np
import pandas as pd

from abcspark.connect import default_parallelism
from abcspark.distances import as_distance
from abcspark.posterior import Posterior
from abcspark.reference_table import ReferenceTable
from abcspark.table_observations import check_distance, check_observations
from abcspark.table_results import Neighbours, described, record, table_posterior, totals
from abcspark.table_search import Search
from abcspark.validation import check_observed, positive_int, real

log = logging.getLogger("abcspark")


class TableRejectionABC:
    """Rejection ABC on the simulations of a :class:`~abcspark.reference_table.ReferenceTable`.

    Parameters
    ----------
    table : ReferenceTable
    distance : Distance, str or callable, default 'euclidean'
        As :class:`~abcspark.RejectionABC`'s. One that needs fitting (``ScaledEuclidean()``
        without scales) is fitted on the table's first ``n_pilot`` simulations; a
        :class:`~abcspark.SemiAutomatic` comes fitted (``SemiAutomatic().fit_table(table)``).

    Raises
    ------
    ValueError
        If the distance is adaptive, or a SemiAutomatic unfitted or fitted on other statistics.

    References
    ----------
    Pritchard, J. K., Seielstad, M. T., Perez-Lezaun, A. and Feldman, M. W. (1999).
    Population growth of human Y chromosomes: a study of Y chromosome microsatellites.
    Molecular Biology and Evolution 16(12), 1791-1798.

    Examples
    --------
    >>> abc = TableRejectionABC(ReferenceTable.open("s3://bucket/tables/height"))  # doctest: +SKIP
    >>> posterior = abc.run(observed, n_samples=1000)  # doctest: +SKIP
    >>> neighbours = abc.run_many(observations, 1000)  # doctest: +SKIP
    >>> neighbours.posterior_for(17).adjust()  # doctest: +SKIP
    """

    def __init__(self, table: ReferenceTable, distance: Any = "euclidean"):
        if not isinstance(table, ReferenceTable):
            raise TypeError(
                f"table must be a ReferenceTable (got {type(table)}); use "
                "ReferenceTable.simulate(...) or ReferenceTable.open(uri)."
            )
        self.table = table
        self.distance = as_distance(distance)
        if self.distance.adaptive:
            raise ValueError(
                "distance must not be adaptive on a reference table (got AdaptiveEuclidean), "
                "as it has no generations to refit it between: use ScaledEuclidean()."
            )
        check_distance(self.distance, table)
        self._fitted: dict = {}
        self._counts: dict = {}

    def run(
        self,
        observed: Any,
        *,
        epsilon: Optional[float] = None,
        n_samples: Optional[int] = None,
        n_simulations: Optional[int] = None,
    ) -> Posterior:
        """The ABC posterior of ``observed`` from the table's simulations.

        Parameters
        ----------
        observed : array-like, shape (k,)
            Observed statistics, in the order of ``table.statistics``.
        epsilon : float, optional
            Keep the rows within it (with ``n_samples``: the first ``n_samples`` of them in
            batch order).
        n_samples : int, optional
            Alone: keep the ``n_samples`` nearest rows (ties by batch, then index).
        n_simulations : int, optional
            Use only the table's first simulations (whole batches); default all.

        Returns
        -------
        Posterior
            Equally weighted particles with their statistics (for ``adjust()``).

        Raises
        ------
        ValueError
            On bad arguments, or when the table holds too few rows within ``epsilon``.
        """
        if epsilon is None and n_samples is None:
            raise ValueError(
                "run needs epsilon, n_samples or both (got neither); pass e.g. n_samples=1000."
            )
        if epsilon is not None:
            epsilon = real("epsilon", epsilon, 0, example="0.5")
        if n_samples is not None:
            n_samples = positive_int("n_samples", n_samples)
        started = time.perf_counter()
        n_batches = self._batches(n_simulations)
        observed = self._observed(observed)
        distance = self.fitted(n_batches)
        until = epsilon is not None and n_samples is not None
        search = Search(
            observed[None, :],
            np.array([0]),
            self.table.statistics,
            distance,
            n_samples,
            np.inf if epsilon is None else epsilon,
            by_distance=not until,
        )
        with described(self.table.spark, f"abcspark TableRejectionABC on {self.table.uri}"):
            particles = search.merge(self.candidates(search, "long", n_batches).toPandas())
        _check_found(particles, epsilon, n_samples, n_batches * self.table.batch_size)
        last = int(particles["batch"].max()) + 1 if until else n_batches
        within, after = self._within(particles, search, last - 1) if until else (None, 0)
        if last not in self._counts:  # a table's batches never change: count them once
            self._counts[last] = totals(self.table, last)
        reached = epsilon if n_samples is None or until else None  # else the largest kept
        size = self.table.batch_size
        counts = self._counts[last]
        generation = record(particles, reached, last, size, counts, started, within, after)
        mode = "until" if until else ("quantile" if epsilon is None else "budget")
        stopping = dict(epsilon=epsilon, n_samples=n_samples, n_simulations=n_batches * size)
        return table_posterior(
            self.table, particles, observed, generation, distance, mode=mode, **stopping
        )

    def run_many(
        self,
        observations: Any,
        n_samples: int,
        *,
        id_column: str = "id",
        n_simulations: Optional[int] = None,
    ) -> Neighbours:
        """The ``n_samples`` nearest table rows of each observed dataset, in one Spark job.

        Parameters
        ----------
        observations : pandas.DataFrame or pyspark.sql.DataFrame
            One row per dataset: ``id_column`` (integers or strings, unique) and the table's
            statistic columns. They are gathered on the driver and sent to every task.
        n_samples : int
            Rows kept per dataset.
        id_column : str, default 'id'
        n_simulations : int, optional
            Use only the table's first simulations (whole batches); default all.

        Returns
        -------
        Neighbours
            ``frame`` (cached), ``posterior_for(id)`` and ``save(uri)``.
        """
        n_samples = positive_int("n_samples", n_samples)
        started = time.perf_counter()
        n_batches = self._batches(n_simulations)
        ids, observed, id_type = check_observations(observations, id_column, self.table)
        distance = self.fitted(n_batches)
        search = Search(
            observed, ids, self.table.statistics, distance, n_samples, id_column=id_column
        )
        columns = [*self.table.names, *self.table.statistics]
        frame = (
            self.candidates(search, id_type, n_batches)
            .groupBy(id_column)
            # A function of one argument: Spark passes the key too to one of two (self too).
            .applyInPandas(lambda group: search.merge(group), search.schema(id_type, columns, True))
            .persist()
        )
        text = f"abcspark {n_samples} nearest of {len(ids)} datasets in {self.table.uri}"
        with described(self.table.spark, text):
            frame.count()  # the one pass over the table; the cache serves what follows
        log.info(
            "TableRejectionABC: the %d nearest of %d datasets in %.1f s",
            n_samples,
            len(ids),
            time.perf_counter() - started,
        )
        found = {key: row for key, row in zip(ids.tolist(), observed)}
        return Neighbours(frame, self.table, found, id_column, n_samples, n_batches, distance)

    def candidates(self, search: Search, id_type: str, n_batches: int) -> Any:
        """Each partition's candidates of ``search`` over the first ``n_batches`` (lazy)."""
        # The distance once on the driver first: a mistake is a local traceback, not a job's.
        search.distance(search.observed[:1], search.observed[0])
        columns = [*self.table.names, *self.table.statistics]
        rows = self.table.simulations(n_batches).select("batch", "index", *columns)
        found = rows.mapInPandas(search.frames, search.schema(id_type, columns))
        # Hashed by id into at most the cluster's cores, so the merge's groupBy shuffles once
        # into that many tasks, not the session's 200 default partitions of a few ids each.
        width = max(1, min(len(search.ids), default_parallelism(self.table.spark)))
        return found.repartition(width, search.id_column)

    def fitted(self, n_batches: int) -> Any:
        """The distance, fitted on the first ``n_pilot`` of those batches' rows if it must be."""
        if not self.distance.needs_pilot:
            return self.distance
        if n_batches not in self._fitted:
            n_pilot = self.distance.n_pilot
            first = min(n_batches, math.ceil(n_pilot / self.table.batch_size))
            rows = self.table.simulations(n_batches)
            rows = rows.where(rows["batch"] < first).toPandas()
            rows = rows.sort_values(["batch", "index"], kind="mergesort").head(n_pilot)
            self._fitted[n_batches] = self.distance.fit(rows[self.table.statistics].to_numpy())
        return self._fitted[n_batches]

    def _within(self, particles: pd.DataFrame, search: Search, last: int) -> tuple:
        """Rows within epsilon in batches up to ``last``, the one of the last particle, and the
        rows of ``last`` after that particle (its ``n_after_last``); one job over ``last``.

        The until mode's acceptance rate counts them all, as RejectionABC's does: the kept
        particles before ``last``, and every row within epsilon in ``last``.
        """
        columns = [*self.table.names, *self.table.statistics]
        rows = self.table.simulations(last + 1)
        rows = rows.where(rows["batch"] == last).select("batch", "index", *columns)
        mine = int(particles["index"][particles["batch"] == last].max())
        counts = rows.mapInPandas(partial(search.counts, mine), "within long, after long")
        counts = counts.toPandas()
        within = int((particles["batch"] < last).sum()) + int(counts["within"].sum())
        return within, int(counts["after"].sum())

    def _batches(self, n_simulations: Optional[int]) -> int:
        if n_simulations is None:
            return self.table.n_batches
        n_simulations = positive_int("n_simulations", n_simulations, "100_000")
        if n_simulations > self.table.n:
            raise ValueError(
                f"n_simulations must be at most the table's {self.table.n:,} (got "
                f"{n_simulations:,}); extend the table, or use fewer."
            )
        return math.ceil(n_simulations / self.table.batch_size)

    def _observed(self, observed: Any) -> np.ndarray:
        values = check_observed(observed, True)
        k = len(self.table.statistics)
        if len(values) != k:
            raise ValueError(
                f"observed must have the table's k = {k} statistics {self.table.statistics} "
                f"(got {len(values)}); pass them in that order."
            )
        return values


def _check_found(
    particles: pd.DataFrame, epsilon: Optional[float], n_samples: Optional[int], n: int
) -> None:
    if len(particles) == 0:
        raise ValueError(
            f"epsilon={epsilon} accepted none of the table's {n:,} simulations; raise "
            "epsilon, or use n_samples= instead."
        )
    if epsilon is not None and n_samples is not None and len(particles) < n_samples:
        raise ValueError(
            f"the table must hold n_samples={n_samples:,} rows within epsilon={epsilon} (got "
            f"{len(particles):,} in its {n:,} simulations); raise epsilon, lower n_samples, "
            "or extend the table."
        )
