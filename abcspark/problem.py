"""What every algorithm shares: a validated prior, simulator and distance, and the dry run."""

from __future__ import annotations

import math
import platform
from typing import Any, Callable, Optional

import numpy as np

from abcspark._version import __version__
from abcspark.batch import ON_ERROR, BatchTask, SimulationError
from abcspark.connect import NESTED_INSTEAD, VECTORIZED_INSTEAD, active_session, require_classic
from abcspark.distances import Distance, as_distance
from abcspark.dry_run import check_reproducible, dry_run, fingerprint, simulate_statistics
from abcspark.engines import Engine, check_engine, make_engine
from abcspark.nested import Ranks, as_ranks
from abcspark.priors import Prior
from abcspark.rng import PILOT, batch_rng
from abcspark.simulation_store import check_store
from abcspark.validation import check_observed, optional_seconds, positive_int, real

DRY_RUN_SIZE = 4
MAX_BATCH_SIZE = 10**8
"""Largest batch: a batch's parameters and statistics are arrays in one Python worker's memory."""
MAX_BATCHES = 10**5  # of a budget, when the batch size follows from the work


def _check_callables(prior: Any, simulate: Any, on_error: Any) -> None:
    if not isinstance(prior, Prior):
        raise TypeError(
            f"prior must be a Prior (got {type(prior)}); use e.g. "
            "Prior(mu=Uniform(150, 200), sigma=Uniform(5, 25))."
        )
    check_simulator(simulate, on_error)


def check_simulator(simulate: Any, on_error: Any) -> None:
    """Raise unless ``simulate`` is callable and ``on_error`` one of ``ON_ERROR``."""
    if not callable(simulate):
        raise TypeError(
            f"simulate must be a callable (theta, rng) -> statistics (got {type(simulate)}); "
            "pass a function."
        )
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR} (got {on_error!r}).")


def _distance(distance: Any, vectorized: bool) -> Any:
    if vectorized:
        return as_distance(distance)
    if isinstance(distance, (Distance, str)) or not callable(distance):
        raise TypeError(
            f"distance must be a callable (simulated, observed) -> float with "
            f"vectorized=False (got {distance!r}); per-parameter simulators return any "
            "object, so pass a function that measures it against the observed one."
        )
    return distance


class Problem:
    """A prior, a simulator and a distance, checked once, plus where and how batches run.

    See :class:`abcspark.RejectionABC` for the parameters; ``keep_statistics`` carries the
    accepted particles' simulated statistics to the posterior (``posterior.statistics``).
    ``batch_size=None`` lets the algorithm choose it from the work (see ``auto_batch_size``).

    Attributes
    ----------
    n_driver_simulations : int
        Simulator calls of the last :meth:`prepare` on the driver (dry runs and pilot).
    fingerprint : str
        The last :meth:`prepare`'s digest of the simulator's dry-run outputs and code; a
        checkpoint of another simulator (another closure, another lambda) is refused by it.
    adaptive : bool
        Whether the distance is refitted after every generation (``Distance.adaptive``).
    task_statistics : bool
        Whether batches return the accepted particles' statistics: with ``keep_statistics``,
        and where the algorithm reads them (a budgeted PMC run, :mod:`abcspark.tolerance`).
    fitted_distance : dict or None
        The last :meth:`prepare`'s distance as fitted on its pilot (``to_dict()``), e.g. the
        scales of a :class:`~abcspark.ScaledEuclidean`; None for a plain callable.
    """

    def __init__(
        self,
        prior: Prior,
        simulate: Callable,
        distance: Any,
        *,
        vectorized: bool = True,
        batch_size: Optional[int] = None,
        on_error: str = "raise",
        batch_timeout: Optional[float] = None,
        engine: Any = "spark",
        parallelism: Optional[int] = None,
        spark: Any = None,
        keep_statistics: bool = False,
        max_failed_share: float = 0.5,
        store: Optional[str] = None,
    ):
        _check_callables(prior, simulate, on_error)
        if keep_statistics and not vectorized:
            raise ValueError(
                "keep_statistics must be False with vectorized=False (got True); per-parameter "
                "simulators return objects, not statistics."
            )
        self.distance = _distance(distance, vectorized)
        # A nested simulator (process_per_model > 1) becomes a Ranks object: its ranks are
        # threads here (dry run, NumPy engine) and processes on the barrier and MPI engines.
        self.simulate = as_ranks(simulate)
        self.process_per_model = self.simulate.size if isinstance(self.simulate, Ranks) else 1
        self.prior, self.vectorized = prior, bool(vectorized)
        self.batch_size = (
            None
            if batch_size is None
            else positive_int("batch_size", batch_size, high=MAX_BATCH_SIZE)
        )
        self.parallelism = (
            None if parallelism is None else positive_int("parallelism", parallelism, "4")
        )
        self.on_error = on_error
        self.batch_timeout = optional_seconds("batch_timeout", batch_timeout)
        self.engine_choice, self.spark = check_engine(engine), spark
        self.adaptive = getattr(self.distance, "adaptive", False)  # plain callables are not
        # An adaptive distance recomputes the population's distances from their statistics.
        self.keep_statistics = bool(keep_statistics) or self.adaptive
        self.task_statistics = self.keep_statistics  # or where the algorithm reads them
        self.max_failed_share = real("max_failed_share", max_failed_share, 0, 1, example="0.5")
        self.store = check_store(store)
        self.check_session(spark)

    def check_session(self, spark: Any) -> None:
        """Refuse, before any simulation, what a Spark Connect ``spark`` cannot run.

        The RDD path (``vectorized=False``) and barrier mode (nested simulators) need a
        SparkContext; the message names what to do instead (:mod:`abcspark.connect`).
        """
        if self.engine_choice != "spark":
            return
        size = self.process_per_model
        if size > 1:
            what = f"a nested simulator (process_per_model={size}, Spark's barrier mode)"
            require_classic(spark, what, NESTED_INSTEAD)
        if not self.vectorized:
            require_classic(spark, "vectorized=False (the RDD path)", VECTORIZED_INSTEAD)

    def engine(self) -> Engine:
        """The engine a run uses (starting or finding a SparkSession for ``'spark'``)."""
        return make_engine(self.engine_choice, self.spark, self.parallelism, self.process_per_model)

    def prepare(self, observed: Any, seed: int) -> tuple:
        """Check ``observed``, dry-run the simulator on the driver and fit the distance.

        Returns
        -------
        (observed, distance)
            Validated observed statistics and the distance fitted on a pilot run if it needs
            one (e.g. :class:`~abcspark.ScaledEuclidean` without scales).
        """
        observed = check_observed(observed, self.vectorized)
        if self.engine_choice == "spark" and self.spark is None:
            self.check_session(active_session())  # the session the run is about to use
        task = self.task(seed, 0, self.prior, np.inf, observed, self.distance)
        outputs = []
        for _ in range(2):  # twice from one generator state: a simulator must use only rng
            rng = batch_rng(seed, 0, 0, stream=PILOT)
            theta = self.prior.sample(DRY_RUN_SIZE, rng)
            outputs.append(dry_run(task, theta, rng))
        check_reproducible(*outputs)
        self.fingerprint = fingerprint(self.simulate, outputs[0])
        stats = outputs[0] if self.vectorized else None
        distance = self.distance
        self.n_driver_simulations = 2 * DRY_RUN_SIZE
        if self.vectorized and distance.needs_pilot:
            self.n_driver_simulations += distance.n_pilot
            pilot_rng = batch_rng(seed, 0, 1, stream=PILOT)
            pilot = self.prior.sample(distance.n_pilot, pilot_rng)
            stats = simulate_statistics(task, pilot, pilot_rng)
            distance = distance.fit(_finite_pilot(stats, type(distance).__name__))
        if stats is not None:
            distance(stats, observed)  # shape errors of a user's distance show up here
        self.fitted_distance = distance.to_dict() if hasattr(distance, "to_dict") else None
        return observed, distance

    def task(
        self,
        seed: int,
        generation: int,
        proposal: Any,
        epsilon: float,
        observed: Any,
        distance: Any,
        batch_size: Optional[int] = None,
    ) -> BatchTask:
        """The batch task of one generation (of ``batch_size`` proposals, default the problem's).

        With an adaptive distance, the first batches holding its ``n_pilot`` simulations send
        them all to the driver, the sample it is refitted on.
        """
        size = batch_size or self.batch_size
        return BatchTask(
            seed=seed,
            generation=generation,
            batch_size=size,
            sample_batches=math.ceil(distance.n_pilot / size) if self.adaptive else 0,
            names=list(self.prior.names),
            proposal=proposal,
            in_support=self.prior.in_support,
            simulate=self.simulate,
            distance=distance,
            observed=observed,
            epsilon=epsilon,
            vectorized=self.vectorized,
            on_error=self.on_error,
            batch_timeout=self.batch_timeout,
            keep_statistics=self.task_statistics,
            store=self.store,
        )

    def settings(self) -> dict:
        """The settings that decide a run's result (saved in metadata and checkpoints)."""
        return {
            "names": list(self.prior.names),
            "prior": self.prior.to_dict(),
            "simulate": {
                "name": _qualified_name(self.simulate),
                "fingerprint": getattr(self, "fingerprint", None),
            },
            "distance": self.distance.to_dict()
            if self.vectorized
            else _qualified_name(self.distance),
            "vectorized": self.vectorized,
            "batch_size": self.batch_size,
            "on_error": self.on_error,
            "keep_statistics": self.keep_statistics,
        }


def _qualified_name(function: Any) -> str:
    """``module.qualname`` of a function, or of a callable object's class."""
    named = function if hasattr(function, "__qualname__") else type(function)
    return f"{named.__module__}.{named.__qualname__}"


def versions() -> dict:
    """Versions of abcspark, Python and the libraries a run depends on."""
    import pandas
    import pyarrow

    found = {
        "abcspark": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
    }
    try:
        import pyspark

        found["pyspark"] = pyspark.__version__
    except ImportError:
        pass
    return found


def auto_batch_size(n_target: int, cap: float, budget: Optional[float] = None) -> int:
    """Proposals per batch when the user gives none: it follows from the work.

    A tenth of the particles wanted, between 10 and 1,000; at least a ``MAX_BATCHES``-th of
    a ``budget`` to spend, so that a large one is not run in millions of batches, whose
    overhead (about 0.15 ms each on the NumPy engine) outweighs cheap simulations (PMC with a
    budget of 1e8 took 148 s in batches of 100 and 26 s in batches of 1,000); and at most a
    twentieth of the ``cap`` on simulations, so a small one is never swallowed by one batch.
    """
    size = min(1000, max(10, n_target // 10))
    if budget is not None:
        size = max(size, batch_floor(budget))
    if math.isfinite(cap):
        size = min(size, max(1, int(cap) // 20))
    return size


def batch_floor(budget: float) -> int:
    """The smallest batch that runs ``budget`` simulations in ``MAX_BATCHES`` batches."""
    return min(math.ceil(budget / MAX_BATCHES), MAX_BATCH_SIZE)


def _finite_pilot(stats: np.ndarray, what: str) -> np.ndarray:
    """The pilot's finite rows, at least 2 of them (``on_error='skip'`` lets the others fail)."""
    finite = stats[np.isfinite(stats).all(axis=1)]
    if len(finite) < 2:
        raise SimulationError(
            f"the simulator must return finite statistics for at least 2 of the {len(stats):,} "
            f"pilot simulations that fit {what}'s scales (got {len(finite)}); fix the simulator "
            "where it fails, or give the scales yourself (e.g. ScaledEuclidean(scale=[...]))."
        )
    return finite
