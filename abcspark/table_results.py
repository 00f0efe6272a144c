"""What inference on a reference table returns: one `Posterior`, or many datasets' neighbours.

A table's posterior is built as :class:`~abcspark.RejectionABC` builds its own: equal weights,
particles in ``(batch, index)`` order, their statistics kept (so ``posterior.adjust()`` works),
one history row counting the table's batches that the result used. :meth:`Neighbours.save`
writes the neighbours as Parquet with, beside them, what :meth:`Neighbours.load` needs to give
the same posteriors again, with or without the table.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional

import numpy as np
import pandas as pd

from abcspark import storage
from abcspark.engines.spark import job_named
from abcspark.history import GenerationRecord, history_frame
from abcspark.posterior import Posterior
from abcspark.problem import versions
from abcspark.reference_table import ReferenceTable

log = logging.getLogger("abcspark")
SAVED = "_abcspark_neighbours.json"
"""Beside a saved Neighbours' Parquet rows (Spark's reader skips names starting with _)."""
MODES = ("errorifexists", "error", "overwrite")


@contextmanager
def described(spark: Any, text: str) -> Iterator[None]:
    """Name the Spark jobs started inside, so the Spark UI reads well (a tag on Connect)."""
    with job_named(spark, text):
        yield


def totals(table: Any, n_batches: int) -> tuple:
    """Simulator calls and failures of the table's first ``n_batches`` batches (one job)."""
    row = table.tallies(n_batches).selectExpr("sum(n_simulated)", "sum(n_failed)").first()
    return int(row[0] or 0), int(row[1] or 0)


def record(
    particles: pd.DataFrame,
    epsilon: Optional[float],
    n_batches: int,
    batch_size: int,
    counts: tuple,
    started: float,
    n_within: Optional[int] = None,
    n_after_last: int = 0,
) -> GenerationRecord:
    """The history row of a table rejection that used ``n_batches`` batches.

    Without ``epsilon`` it is the largest distance kept (the quantile mode's); ``n_within``
    counts the rows within epsilon in those batches when more than the particles are;
    ``n_after_last`` the until mode's rows after the last particle in its batch.
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
        n_after_last=n_after_last,
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
        n_after_last=generation.n_after_last,
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
    :meth:`save` writes it, :meth:`load` reads it back (uncached).

    Attributes
    ----------
    frame : pyspark.sql.DataFrame
        ``<id_column>, rank, distance, batch, index``, parameters and statistics: ``k`` rows
        per id, ``rank`` 1 for the nearest (ties broken by batch, then index).
    id_column : str
    k : int

    Examples
    --------
    >>> neighbours = TableRejectionABC(table).run_many(observations, 1000)  # doctest: +SKIP
    >>> neighbours.save("s3://bucket/results/neighbours")  # doctest: +SKIP
    >>> Neighbours.load("s3://bucket/results/neighbours").posterior_for(17)  # doctest: +SKIP
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
        key = _key(id)
        if key not in self._observations:
            shown = self.ids[:5]
            raise ValueError(
                f"id must be one of the observations' ids (got {id!r}; they are {shown}"
                f"{' ...' if len(self.ids) > 5 else ''}); pass an id of the observations given."
            )
        started = time.perf_counter()
        rows = self.frame.where(self.frame[self.id_column] == key).toPandas()
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
        """Write :attr:`frame` as Parquet at ``uri``, and beside it what :meth:`load` needs.

        The rows go first, then ``_abcspark_neighbours.json`` (ids, observed statistics, ``k``,
        distance, the table's metadata and counts): :meth:`load` refuses a folder without it.

        Parameters
        ----------
        uri : str
            A folder or any URI this Spark can write (``s3://...`` on EMR).
        mode : {'errorifexists', 'overwrite'}, default 'errorifexists'
            Spark's save mode: refuse, or replace, what is at ``uri``.
        """
        if mode not in MODES:
            raise ValueError(
                f"mode must be one of {list(MODES)} (got {mode!r}); a saved Neighbours is "
                "replaced whole, never appended to."
            )
        if self._counts is None:
            self._counts = totals(self.table, self._n_batches)
        document = {
            "format": storage.FORMAT_VERSION,
            "id_column": self.id_column,
            "k": self.k,
            "n_batches": self._n_batches,
            "counts": list(self._counts),
            "distance": self._distance.to_dict() if hasattr(self._distance, "to_dict") else None,
            "table": {"uri": self.table.uri, "metadata": self.table.metadata},
            "ids": self.ids,
            "observed": [self._observations[key] for key in self.ids],
        }
        text = json.dumps(document, default=storage.json_default).encode()  # before any write
        self.frame.write.mode(mode).parquet(uri)
        storage.for_path(uri, self.table.spark).write(SAVED, text)

    @classmethod
    def load(cls, uri: str, spark: Any = None) -> Neighbours:
        """Read the neighbours :meth:`save` wrote at ``uri``; the table need not be there.

        ``posterior_for(id)`` gives the posteriors the saved object gave, bit for bit.

        Raises
        ------
        ValueError
            If ``uri`` holds no whole save, or one of another format version.
        """
        from abcspark.session import get_spark

        spark = get_spark(spark)
        store = storage.for_path(uri, spark)
        if not store.exists(SAVED):
            raise ValueError(
                f"uri must hold neighbours written by Neighbours.save (no {SAVED} under {uri}: "
                "none, or a save that did not finish); pass the uri given to save, or save again."
            )
        document = storage.read_json(store, SAVED, uri)
        storage.check_format(document, uri)
        table = ReferenceTable(document["table"]["uri"], spark, document["table"]["metadata"])
        observations = {
            _key(i): np.asarray(v, dtype=np.float64)
            for i, v in zip(document["ids"], document["observed"])
        }
        found = cls(
            spark.read.parquet(uri),
            table,
            observations,
            document["id_column"],
            int(document["k"]),
            int(document["n_batches"]),
            _Described(document["distance"]),
        )
        found._counts = tuple(document["counts"])
        return found

    def close(self) -> None:
        """Drop the cached neighbours from the executors' memory."""
        self.frame.unpersist()

    def __repr__(self) -> str:
        return f"Neighbours({len(self._observations):,} ids, k={self.k}, table {self.table.uri!r})"


def _key(value: Any) -> Any:
    """An id as a plain Python value (NumPy integers and strings compare as their own)."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class _Described:
    """A loaded Neighbours' distance: its description, for the posteriors' metadata."""

    description: Optional[dict]

    def to_dict(self) -> Optional[dict]:
        return self.description
