"""`ReferenceTable`: every simulation of a prior predictive run, kept as Parquet for reuse.

Simulate once, infer many times, for many observed datasets (:mod:`abcspark.table_inference`).
A table holds, for batch ``b`` of a seed, exactly what generation 0 of a
:class:`~abcspark.RejectionABC` run of that seed and batch size draws and simulates: batch ``b``
samples the prior and runs the simulator with ``batch_rng(seed, 0, b)``, through the same
:class:`~abcspark.batch.BatchTask`. How blocks are written, and rewritten after a kill, is in
:mod:`abcspark.table_write`; what the metadata records, in :mod:`abcspark.table_metadata`.

Layout under the table's URI::

    _abcspark_table.json     seed, batch size, names, simulator fingerprint, batches wanted
    _blocks/block-<n>-...    one marker per complete block
    block=<n>/part-*.parquet the rows of the batches of block n (and one tally row per batch)
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, List, Optional, Sequence

import numpy as np

from abcspark import storage
from abcspark.problem import Problem
from abcspark.rng import check_seed
from abcspark.rows import TALLY
from abcspark.table_metadata import METADATA, ZeroDistance, read_metadata, record, table_settings
from abcspark.table_write import blocks, missing, table_schema, write_blocks
from abcspark.validation import positive_int


class ReferenceTable:
    """Prior predictive simulations stored as Parquet, written by the executors.

    Make one with :meth:`simulate`, read one with :meth:`open`. Columns of :attr:`frame`:
    ``block, batch, index``, one per parameter, one per statistic.

    Attributes
    ----------
    uri : str
    metadata : dict
        What the table was written with (seed, batch size, names, prior, fingerprint, ...).

    Examples
    --------
    >>> from abcspark.examples import height_problem
    >>> prior, simulate, observed = height_problem()
    >>> table = ReferenceTable.simulate(
    ...     prior, simulate, 10**6, "s3://bucket/tables/height", seed=1
    ... )  # doctest: +SKIP
    >>> table = ReferenceTable.open("s3://bucket/tables/height")  # doctest: +SKIP
    >>> table.frame.where("stat_0 > 170").count()  # doctest: +SKIP
    """

    def __init__(self, uri: str, spark: Any, metadata: dict, problem: Optional[Problem] = None):
        self.uri, self.spark, self.metadata = uri, spark, metadata
        self._problem = problem

    @classmethod
    def simulate(
        cls,
        prior: Any,
        simulate: Callable,
        n: int,
        uri: str,
        *,
        seed: int,
        spark: Any = None,
        batch_size: Optional[int] = None,
        statistics: Optional[Sequence[str]] = None,
        batches_per_block: Optional[int] = None,
        blocks_per_job: int = 1,
        parallelism: Optional[int] = None,
        on_error: str = "raise",
        batch_timeout: Optional[float] = None,
    ) -> ReferenceTable:
        """Simulate ``n`` prior draws into a table at ``uri``; complete or extend one there.

        Parameters
        ----------
        prior : Prior
        simulate : callable
            Vectorized ``simulate(theta (n, d), rng) -> stats (n, k)``.
        n : int
            Simulations (rounded up to whole batches). A table there with fewer is extended.
        uri : str
            Local folder, ``file:``, ``s3://``, ``hdfs://`` or any URI this Spark can write.
        seed : int
            Keys all randomness: batch ``b`` uses ``batch_rng(seed, 0, b)``.
        spark : pyspark.sql.SparkSession, optional
            Default the active session, else an embedded ``local[*]``.
        batch_size : int, optional
            Simulations per batch; default the table's, or ``min(1000, n // 10)`` (at least 1)
            for a new one, as :class:`~abcspark.RejectionABC` with ``n_simulations=n``.
        statistics : sequence of str, optional
            Names of the ``k`` statistic columns; default ``stat_0`` ... ``stat_{k-1}``.
        batches_per_block : int, optional
            Batches per Parquet partition; default the table's, or about 1e6 simulations.
        blocks_per_job : int, default 1
            Blocks per Spark job: a killed run redoes at most the job in flight.
        parallelism : int, optional
            Partitions per job; default the session's ``defaultParallelism``.
        on_error : {'raise', 'skip'}, default 'raise'
            As :class:`~abcspark.RejectionABC`: skipped simulations are counted, not stored.
        batch_timeout : float, optional
            Seconds a batch may take.

        Returns
        -------
        ReferenceTable

        Raises
        ------
        ValueError
            On bad arguments, a failing simulator, or a table at ``uri`` written with other
            settings, another simulator or more simulations.
        """
        n = positive_int("n", n, "100_000")
        if seed is None:
            raise ValueError(
                "seed must be an int (got None); a table is completed or extended by a rerun "
                "with the same seed, e.g. seed=1."
            )
        jobs = positive_int("blocks_per_job", blocks_per_job, "1")
        if batches_per_block is not None:
            batches_per_block = positive_int("batches_per_block", batches_per_block, "100")
        problem = Problem(
            prior,
            simulate,
            ZeroDistance(),
            batch_size=batch_size,
            on_error=on_error,
            batch_timeout=batch_timeout,
            parallelism=parallelism,
            spark=spark,
            keep_statistics=True,
        )
        plan = table_settings(problem, check_seed(seed), n, statistics)  # the driver's dry run
        plan["blocks_per_job"] = jobs
        if batches_per_block is not None:
            plan["batches_per_block"] = batches_per_block
        from abcspark.session import get_spark

        table = cls(uri, get_spark(spark), {}, problem)
        table._write(plan)
        return table

    @classmethod
    def open(cls, uri: str, spark: Any = None) -> ReferenceTable:
        """Read the table at ``uri``.

        Raises
        ------
        ValueError
            If there is no table there, or it is incomplete (a killed run: rerun it).
        """
        from abcspark.session import get_spark

        spark = get_spark(spark)
        document = read_metadata(uri, spark)
        if document is None:
            raise ValueError(
                f"uri must hold a reference table (no {METADATA} under {uri}); pass the uri "
                "given to ReferenceTable.simulate."
            )
        table = cls(uri, spark, document)
        left = missing(uri, spark, blocks(table.n_batches, table.batches_per_block))
        if left:
            raise ValueError(
                f"the table at {uri} must be complete (got {len(left)} of "
                f"{math.ceil(table.n_batches / table.batches_per_block)} blocks missing, from "
                f"block {left[0][0]}); rerun the ReferenceTable.simulate call that wrote it."
            )
        return table

    def extend(self, n: int, blocks_per_job: int = 1) -> ReferenceTable:
        """Simulate more batches of the same seed, up to ``n`` simulations in all.

        Only a table made by :meth:`simulate` in this process knows its simulator; for one
        opened from a URI, call :meth:`simulate` again with a larger ``n``.
        """
        if self._problem is None:
            raise ValueError(
                "extend needs the table's prior and simulator (got a table opened from a "
                "uri); call ReferenceTable.simulate(prior, simulate, n, uri, seed=...) with "
                "the larger n."
            )
        n = positive_int("n", n, "100_000")
        plan = table_settings(self._problem, self.seed, n, self.statistics)
        plan["batch_size"] = self.batch_size  # n's own default would be another size
        plan["blocks_per_job"] = positive_int("blocks_per_job", blocks_per_job, "1")
        self._write(plan)
        return self

    def _write(self, plan: dict) -> None:
        """Check ``plan`` against the table's metadata, record it, write the missing blocks."""
        from abcspark.engines.spark import SparkEngine

        existing = read_metadata(self.uri, self.spark) or {}
        document = record(plan, existing, self.uri)
        store = storage.for_path(self.uri, self.spark)
        store.write(METADATA, json.dumps(document, indent=2, default=storage.json_default).encode())
        self.metadata = document
        problem, zeros, size = self._problem, np.zeros(len(self.statistics)), self.batch_size
        task = problem.task(self.seed, 0, problem.prior, np.inf, zeros, ZeroDistance(), size)
        engine = SparkEngine(self.spark, problem.parallelism)
        todo = missing(self.uri, self.spark, blocks(self.n_batches, self.batches_per_block))
        shared, per_job = engine.share(task), plan["blocks_per_job"]
        try:
            write_blocks(self.spark, self.uri, shared, document, todo, per_job, engine.parallelism)
        finally:
            engine.release(shared)

    @property
    def names(self) -> List[str]:
        """Parameter names, in the prior's order."""
        return list(self.metadata["names"])

    @property
    def statistics(self) -> List[str]:
        """Statistic column names."""
        return list(self.metadata["statistics"])

    @property
    def seed(self) -> int:
        """The seed that keys every batch's randomness."""
        return int(self.metadata["seed"])

    @property
    def batch_size(self) -> int:
        """Prior draws per batch."""
        return int(self.metadata["batch_size"])

    @property
    def batches_per_block(self) -> int:
        """Batches per Parquet partition (``block``)."""
        return int(self.metadata["batches_per_block"])

    @property
    def n_batches(self) -> int:
        """Batches the table holds."""
        return int(self.metadata["n_batches"])

    @property
    def n(self) -> int:
        """Prior draws of the table, ``n_batches * batch_size`` (rows: those simulated)."""
        return self.n_batches * self.batch_size

    @property
    def bounds(self) -> np.ndarray:
        """The prior's support, shape (d, 2), for regression adjustment."""
        return np.asarray(self.metadata["bounds"], dtype=np.float64)

    @property
    def frame(self) -> Any:
        """Every simulation as a Spark DataFrame (see :meth:`simulations`)."""
        return self.simulations()

    def rows(self, n_batches: Optional[int] = None) -> Any:
        """Simulation and tally rows of the first ``n_batches`` batches (default all)."""
        n_batches = self.n_batches if n_batches is None else n_batches
        schema = table_schema(self.names, self.statistics)
        frame = self.spark.read.schema(schema).parquet(self.uri)
        last_block = (n_batches - 1) // self.batches_per_block  # prunes later partitions
        return frame.where((frame["block"] <= last_block) & (frame["batch"] < n_batches))

    def simulations(self, n_batches: Optional[int] = None) -> Any:
        """``block, batch, index``, parameters and statistics of the first ``n_batches``."""
        columns = ["block", "batch", "index", *self.names, *self.statistics]
        rows = self.rows(n_batches)
        return rows.where(rows["index"] >= 0).select(*columns)

    def tallies(self, n_batches: Optional[int] = None) -> Any:
        """``batch, n_simulated, n_failed`` of the first ``n_batches`` batches, one row each."""
        rows = self.rows(n_batches)
        rows = rows.where(rows["index"] == TALLY)
        return rows.select("batch", "n_simulated", "n_failed")

    def __repr__(self) -> str:
        return (
            f"ReferenceTable({self.uri!r}: {self.n:,} draws in {self.n_batches:,} batches of "
            f"{self.batch_size:,}, parameters {self.names}, statistics {self.statistics})"
        )
