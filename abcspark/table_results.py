"""What inference on a reference table returns: one `Posterior`, or many datasets' neighbours.

A table's posterior is built as :class:`~abcspark.RejectionABC` builds its own: equal weights,
particles in ``(batch, index)`` order, their statistics kept (so ``posterior.adjust()`` works),
one history row counting the table's batches that the result used.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

import numpy as np
import pandas as pd

from abcspark.history import GenerationRecord, history_frame
from abcspark.posterior import Posterior
from abcspark.problem import versions

log = logging.getLogger("abcspark")


@contextmanager
def described(spark: Any, text: str) -> Iterator[None]:
    """Name the Spark jobs started inside, so the Spark UI reads well."""
    spark.sparkContext.setJobDescription(text)
    try:
        yield
    finally:
        spark.sparkContext.setJobDescription(None)


def totals(table: Any, n_batches: int) -> tuple:
    """Simulator calls and failures of the table's first ``n_batches`` batches (one job)."""
    from pyspark.sql import functions as F

    row = table.tallies(n_batches).agg(F.sum("n_simulated"), F.sum("n_failed")).first()
    return int(row[0] or 0), int(row[1] or 0)


def record(
    particles: pd.DataFrame,
    epsilon: Optional[float],
    n_batches: int,
    batch_size: int,
    counts: tuple,
    started: float,
    n_within: Optional[int] = None,
) -> GenerationRecord:
    """The history row of a table rejection that used ``n_batches`` batches.

    Without ``epsilon`` it is the largest distance kept (the quantile mode's); ``n_within``
    counts the rows within epsilon in those batches when more than the particles are.
    """
    reached = float(particles["distance"].max()) if epsilon is None else float(epsilon)
    n_simulated, n_failed = counts
    within = len(particles) if n_within is None else n_within
    log.info(
        "TableRejectionABC: %d particles of %d simulations (epsilon %.4g) in %.1f s",
        len(particles),
        n_simulated,
        reached,
        time.perf_counter() - started,
    )
    return GenerationRecord(
        generation=0,
        epsilon=reached,
        n_proposals=n_batches * batch_size,
        n_simulations=n_simulated,
        acceptance_rate=within / max(n_simulated, 1),
        ess=float(len(particles)),
        n_failed=n_failed,
        n_discarded=0,
        seconds=time.perf_counter() - started,
    )


def table_posterior(
    table: Any,
    particles: pd.DataFrame,
    observed: np.ndarray,
    generation: GenerationRecord,
    distance: Any,
    **metadata: Any,
) -> Posterior:
    """The posterior of ``particles``, table rows with their ``distance``, in batch order."""
    particles = particles.sort_values(["batch", "index"], kind="mergesort")
    metadata.update(
        algorithm="TableRejectionABC",
        table=table.uri,
        seed=table.seed,
        settings={key: table.metadata[key] for key in ("names", "statistics", "prior")}
        | {"batch_size": table.batch_size, "simulate": table.metadata.get("simulate")},
        engine="spark",
        n_simulations=generation.n_simulations,
        n_discarded=0,
        n_failed=generation.n_failed,
        distance=distance.to_dict() if hasattr(distance, "to_dict") else None,
        observed=np.asarray(observed, dtype=np.float64).tolist(),
        bounds=table.metadata["bounds"],
        discrete=table.metadata.get("discrete", []),
        versions=versions(),
    )
    return Posterior(
        particles[table.names],
        np.ones(len(particles)),
        particles["distance"].to_numpy(),
        history_frame([generation]),
        metadata,
        particles[table.statistics].to_numpy(dtype=np.float64),
    )


class Neighbours:
    """The ``k`` nearest table rows of each of many observed datasets.

    Made by :meth:`abcspark.table_inference.TableRejectionABC.run_many`; the Spark DataFrame is
    computed once (one job over the table) and cached on the executors until :meth:`close`.

    Attributes
    ----------
    frame : pyspark.sql.DataFrame
        ``<id_column>, rank, distance, batch, index``, parameters and statistics: ``k`` rows
        per id, ``rank`` 1 for the nearest (ties broken by batch, then index).
    id_column : str
    k : int
    """

    def __init__(
        self,
        frame: Any,
        table: Any,
        observations: Dict[Any, np.ndarray],
        id_column: str,
        k: int,
        n_batches: int,
        distance: Any,
    ):
        self.frame, self.table, self.id_column, self.k = frame, table, id_column, k
        self._observations, self._n_batches, self._distance = observations, n_batches, distance
        self._counts: Optional[tuple] = None

    @property
    def ids(self) -> list:
        """The observations' ids, in the order given."""
        return list(self._observations)

    def posterior_for(self, id: Any) -> Posterior:
        """The posterior of one observed dataset: its ``k`` nearest rows, equally weighted.

        The same bits as ``TableRejectionABC(table, distance).run(observed, n_samples=k)``.

        Raises
        ------
        ValueError
            If ``id`` is not one of the observations' ids.
        """
        from pyspark.sql import functions as F

        key = _key(id)
        if key not in self._observations:
            shown = self.ids[:5]
            raise ValueError(
                f"id must be one of the observations' ids (got {id!r}; they are {shown}"
                f"{' ...' if len(self.ids) > 5 else ''}); pass an id of the observations given."
            )
        started = time.perf_counter()
        rows = self.frame.where(F.col(self.id_column) == key).toPandas()
        if self._counts is None:
            self._counts = totals(self.table, self._n_batches)
        generation = record(
            rows, None, self._n_batches, self.table.batch_size, self._counts, started
        )
        return table_posterior(
            self.table,
            rows,
            self._observations[key],
            generation,
            self._distance,
            mode="quantile",
            n_samples=self.k,
            id=key,
        )

    def save(self, uri: str, mode: str = "errorifexists") -> None:
        """Write :attr:`frame` as Parquet at ``uri`` (Spark's save ``mode``, e.g. overwrite)."""
        self.frame.write.mode(mode).parquet(uri)

    def close(self) -> None:
        """Drop the cached neighbours from the executors' memory."""
        self.frame.unpersist()

    def __repr__(self) -> str:
        return f"Neighbours({len(self._observations):,} ids, k={self.k}, table {self.table.uri!r})"


def _key(value: Any) -> Any:
    """An id as a plain Python value (NumPy integers and strings compare as their own)."""
    return value.item() if isinstance(value, np.generic) else value
