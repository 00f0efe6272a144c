"""What RejectionABC and PMCABC share: a validated problem, its dry run, and where it runs."""

from __future__ import annotations

import numbers
import platform
from typing import Any, Callable, Optional

import numpy as np

from abcspark import __version__
from abcspark.barrier import BarrierEngine
from abcspark.distances import Distance, as_distance
from abcspark.pipeline import LocalEngine, SparkEngine
from abcspark.priors import Prior
from abcspark.ranks import Ranks, as_ranks
from abcspark.rng import PILOT, batch_rng
from abcspark.simulation import ON_ERROR, BatchTask, check_observed, dry_run

ENGINES = ("spark", "numpy", "mpi")
DRY_RUN_SIZE = 4


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int (got {value!r}); e.g. {name}=1000.")
    return int(value)


class Problem:
    """A prior, a simulator and a distance, checked once, plus the engine settings.

    See :class:`abcspark.RejectionABC` for the parameters.
    """

    def __init__(
        self,
        prior: Prior,
        simulate: Callable,
        distance: Any,
        vectorized: bool,
        batch_size: int,
        on_error: str,
        batch_timeout: Optional[float],
        engine: Any,
        parallelism: Optional[int],
        spark: Any,
    ):
        if not isinstance(prior, Prior):
            raise TypeError(
                f"prior must be a Prior (got {type(prior)}); use e.g. "
                "Prior(mu=Uniform(150, 200), sigma=Uniform(5, 25))."
            )
        if not callable(simulate):
            raise TypeError(
                f"simulate must be a callable (theta, rng) -> statistics (got {type(simulate)}); "
                "pass a function."
            )
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR} (got {on_error!r}).")
        if isinstance(engine, str) and engine not in ENGINES:
            raise ValueError(
                f"engine must be one of {ENGINES} or an engine object (got {engine!r})."
            )
        if not isinstance(engine, str) and not all(
            hasattr(engine, attr) for attr in ("share", "run", "release", "parallelism", "name")
        ):
            raise TypeError(
                f"engine must be one of {ENGINES} or an object with share, run, release, "
                f"parallelism and name (got {type(engine)}); see abcspark.pipeline.LocalEngine."
            )
        if batch_timeout is not None and not batch_timeout > 0:
            raise ValueError(
                f"batch_timeout must be a positive number of seconds or None "
                f"(got {batch_timeout!r})."
            )
        if vectorized:
            self.distance = as_distance(distance)
        elif isinstance(distance, Distance) or not callable(distance):
            raise TypeError(
                f"distance must be a callable (simulated, observed) -> float with "
                f"vectorized=False (got {distance!r}); per-parameter simulators return any "
                "object, so pass a function that measures it against the observed one."
            )
        else:
            self.distance = distance
        # A nested simulator (process_per_model > 1) becomes a Ranks object: its ranks are
        # threads here (dry run, NumPy engine) and processes on the barrier and MPI engines.
        self.simulate = as_ranks(simulate)
        self.process_per_model = self.simulate.size if isinstance(self.simulate, Ranks) else 1
        self.prior, self.vectorized = prior, bool(vectorized)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.parallelism = (
            None if parallelism is None else _positive_int("parallelism", parallelism)
        )
        self.on_error, self.batch_timeout = on_error, batch_timeout
        self.engine_name, self.spark = engine, spark

    def engine(self) -> Any:
        """The engine a run uses (starting or finding a SparkSession for ``'spark'``)."""
        size = self.process_per_model
        if not isinstance(self.engine_name, str):
            engine_size = getattr(self.engine_name, "process_per_model", size)
            if engine_size != size:
                raise ValueError(
                    f"the engine's process_per_model must be the simulator's (got {engine_size} "
                    f"and {size}); decorate the simulator with abcspark.nested("
                    f"process_per_model={engine_size}), or build the engine with "
                    f"process_per_model={size}."
                )
            return self.engine_name
        if self.engine_name == "numpy":
            return LocalEngine()
        if self.engine_name == "mpi":
            from abcspark.mpi import MPIEngine  # mpi4py stays optional

            return MPIEngine(size)
        from abcspark.session import get_spark

        if size > 1:
            return BarrierEngine(get_spark(self.spark), size, self.parallelism)
        return SparkEngine(get_spark(self.spark), self.parallelism)

    def prepare(self, observed: Any, seed: int) -> tuple:
        """Check ``observed``, dry-run the simulator on the driver and fit the distance.

        Returns
        -------
        (observed, distance)
            Validated observed statistics and the distance fitted on a pilot run if it needs
            one (e.g. :class:`~abcspark.ScaledEuclidean` without scales).
        """
        observed = check_observed(observed, self.vectorized)
        rng = batch_rng(seed, 0, 0, stream=PILOT)
        theta = self.prior.sample(DRY_RUN_SIZE, rng)
        stats = dry_run(self.task(seed, 0, self.prior, np.inf, observed, self.distance), theta, rng)
        distance = self.distance
        if self.vectorized and distance.needs_pilot:
            pilot_rng = batch_rng(seed, 0, 1, stream=PILOT)
            pilot = self.prior.sample(distance.n_pilot, pilot_rng)
            stats = np.asarray(self.simulate(pilot, pilot_rng), dtype=np.float64)
            distance = distance.fit(stats[np.isfinite(stats).all(axis=1)])
        if stats is not None:
            distance(stats, observed)  # shape errors of a user's distance show up here
        return observed, distance

    def task(
        self,
        seed: int,
        generation: int,
        proposal: Any,
        epsilon: float,
        observed: Any,
        distance: Distance,
    ) -> BatchTask:
        """The batch task of one generation."""
        return BatchTask(
            seed=seed,
            generation=generation,
            batch_size=self.batch_size,
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
        )

    def settings(self) -> dict:
        """The settings that decide a run's result (saved in metadata and checkpoints)."""
        return {
            "names": list(self.prior.names),
            "prior": self.prior.to_dict(),
            "simulate": _qualified_name(self.simulate),
            "distance": self.distance.to_dict()
            if self.vectorized
            else _qualified_name(self.distance),
            "vectorized": self.vectorized,
            "batch_size": self.batch_size,
            "on_error": self.on_error,
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
