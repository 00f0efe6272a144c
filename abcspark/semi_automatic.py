"""Semi-automatic summary statistics: a distance on the regression E[theta | s].

Fearnhead and Prangle (2012): simulate a pilot from the prior, regress the parameters on
features of the statistics, and use the fitted regression as the summary statistics. Here the
parameters are regressed in the transformed space of the prior's support (logit for a box, log
for a lower bound: :func:`abcspark.transforms.to_unbounded`), on an intercept, the statistics
and optionally their squares, by ridge-regularised least squares in plain NumPy
(``numpy.linalg.lstsq``; no scikit-learn). The distance is Euclidean on the fitted values,
each divided by its standard deviation over the pilot.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Optional

import numpy as np

from abcspark.algorithms.rejection import RejectionABC
from abcspark.batch import SimulationError
from abcspark.distances import Distance, ScaledEuclidean
from abcspark.priors import Prior
from abcspark.problem import DRY_RUN_SIZE
from abcspark.reference_table import ReferenceTable
from abcspark.rng import PILOT, batch_rng, check_seed
from abcspark.transforms import to_unbounded
from abcspark.validation import positive_int, real

log = logging.getLogger("abcspark")
_FIXED = ("distance", "keep_statistics", "vectorized")  # RejectionABC's, set by the pilot


class SemiAutomatic(Distance):
    """Euclidean distance between semi-automatic summary statistics, ``E[z | s]`` fitted.

    ``z`` are the parameters mapped to the real line (logit for a bounded one, log for one
    bounded below). `fit` simulates a pilot from the prior on the engines, `fit_table` reads
    one from a reference table, `regress` takes yours; each returns a fitted copy. The fit is
    least squares by ``numpy.linalg.lstsq`` (no scikit-learn) of ``z`` on an intercept and
    the standardised statistics (``degree=1``), or them and their squares (``degree=2``), with
    a ridge penalty ``ridge * m`` on the ``m`` pilot rows' coefficients (not the intercept).
    The fitted values (:meth:`project`) are the new statistics; the distance is Euclidean on
    them, each divided by its sd over the pilot. The fitted copy works in
    :class:`~abcspark.RejectionABC`, :class:`~abcspark.PMCABC` and
    :class:`~abcspark.TableRejectionABC`, bit-identical on every engine.

    Parameters
    ----------
    degree : {1, 2}, default 1
        Features: the statistics (1), or the statistics and their squares (2).
    ridge : float, default 1e-6
        Ridge penalty (>= 0, finite) on the coefficients of the standardised features.

    Attributes
    ----------
    coefficients : ndarray, shape (1 + degree * k, d)
        Intercept, then one row per feature; None until fitted.
    scale : ndarray, shape (d,)
        Standard deviation of each fitted value over the pilot.
    r_squared : ndarray, shape (d,)
        Share of each transformed parameter's pilot variance the regression explains.
    n_simulations : int
        Simulator calls the fit made (pilot and dry runs); 0 for `fit_table` and `regress`.

    References
    ----------
    Fearnhead, P. and Prangle, D. (2012). Constructing summary statistics for approximate
    Bayesian computation: semi-automatic approximate Bayesian computation. Journal of the
    Royal Statistical Society B 74(3), 419-474.

    Examples
    --------
    >>> from abcspark import Normal, Prior, RejectionABC
    >>> def simulate(theta, rng):  # one informative statistic and one of pure noise
    ...     noise = rng.normal(0.0, [0.5, 10.0], size=(len(theta), 2))
    ...     return np.column_stack([theta[:, 0], np.zeros(len(theta))]) + noise
    >>> prior = Prior(mu=Normal(0.0, 1.0))
    >>> distance = SemiAutomatic().fit(prior, simulate, [1.0, 0.0], n=2000, seed=1, engine="numpy")
    >>> distance.n_simulations, np.round(distance.r_squared, 1).tolist()
    (2008, [0.8])
    >>> abc = RejectionABC(prior, simulate, distance, engine="numpy")
    >>> post = abc.run([1.0, 0.0], quantile=0.02, n_simulations=20000, seed=2)
    >>> bool(abs(post.mean()["mu"] - 0.8) < 0.1)  # the exact posterior mean is 0.8
    True
    """

    def __init__(self, degree: int = 1, ridge: float = 1e-6) -> None:
        if isinstance(degree, (bool, np.bool_)) or degree not in (1, 2):
            raise ValueError(f"degree must be 1 or 2 (got {degree!r}); 2 adds their squares.")
        self.degree = int(degree)
        self.ridge = real("ridge", ridge, 0, math.inf, open_high=True, example="1e-6")
        self.coefficients: Optional[np.ndarray] = None
        self.center = self.width = self.scale = self.r_squared = None
        self.n_simulations, self.n_rows, self.seed = 0, 0, None

    def fit(
        self,
        prior: Prior,
        simulate: Callable,
        observed: Any = None,
        *,
        n: int = 1000,
        seed: Optional[int] = None,
        **options: Any,
    ) -> SemiAutomatic:
        """The distance fitted on a pilot of ``n`` prior simulations, run on the engines.

        The pilot is a :class:`~abcspark.RejectionABC` run at epsilon inf keeping every
        simulation (batches of ``batch_rng(seed, 0, b)``, as a run of that ``seed`` and batch
        size draws them: give the inference another seed to keep its simulations apart).

        Parameters
        ----------
        prior : Prior
        simulate : callable
            Vectorized ``simulate(theta (n, d), rng) -> stats (n, k)``.
        observed : array_like, shape (k,), optional
            Checked against the simulator's output. Without it, the driver simulates the dry
            run's draws once more to learn ``k`` (counted in ``n_simulations``).
        n : int, default 1000
            Pilot simulations (rounded up to whole batches).
        seed : int, optional
            Keys the pilot; None draws one (``self.seed`` records it).
        **options
            :class:`~abcspark.RejectionABC`'s ``engine``, ``spark``, ``parallelism``,
            ``batch_size``, ``on_error``, ``batch_timeout``, ``max_failed_share``.

        Returns
        -------
        SemiAutomatic
        """
        n = positive_int("n", n)
        fixed = sorted(set(options) & set(_FIXED))
        if fixed:
            raise ValueError(
                f"fit's options must not set {_FIXED} (got {fixed}); the pilot keeps every "
                "statistic of a vectorized simulator: drop them."
            )
        seed = check_seed(seed)
        abc = RejectionABC(prior, simulate, "euclidean", keep_statistics=True, **options)
        extra = 0
        if observed is None:
            observed, extra = np.zeros(_statistic_count(abc, seed)), DRY_RUN_SIZE
        pilot = abc.run(observed, epsilon=math.inf, n_simulations=n, seed=seed)
        fitted = self.regress(pilot.samples.to_numpy(), pilot.statistics, prior.bounds())
        meta = pilot.metadata
        fitted.n_simulations = extra + meta["n_simulations"] + meta["n_driver_simulations"]
        fitted.seed, r_squared = seed, fitted.r_squared.round(3).tolist()
        log.info("SemiAutomatic: fitted on %d simulations, R^2 %s", fitted.n_simulations, r_squared)
        return fitted

    def fit_table(self, table: ReferenceTable, n: int = 1000) -> SemiAutomatic:
        """The distance fitted on a reference table's first ``n`` rows, in batch order.

        They are the rows :class:`~abcspark.TableRejectionABC` fits a ``ScaledEuclidean`` on
        (``n_pilot=n``); rows with NaN or inf statistics are left out. No simulation is made.
        """
        if not isinstance(table, ReferenceTable):
            raise TypeError(
                f"table must be a ReferenceTable (got {type(table)}); use "
                "ReferenceTable.simulate(...) or ReferenceTable.open(uri)."
            )
        n = positive_int("n", n)
        if n > table.n:
            raise ValueError(
                f"n must be at most the table's {table.n:,} simulations (got {n:,}); use fewer, "
                "or extend the table."
            )
        rows = table.simulations(math.ceil(n / table.batch_size)).toPandas()
        rows = rows.sort_values(["batch", "index"], kind="mergesort").head(n)
        stats = rows[table.statistics].to_numpy(dtype=np.float64)
        finite = np.isfinite(stats).all(axis=1)
        return self.regress(rows[table.names].to_numpy()[finite], stats[finite], table.bounds)

    def regress(self, theta: Any, stats: Any, bounds: Optional[np.ndarray] = None) -> SemiAutomatic:
        """The distance fitted on pilot parameters ``theta (m, d)`` and statistics ``(m, k)``.

        ``bounds`` (``(d, 2)``, ``Prior.bounds()``) gives the transform; None: unbounded.
        Needs ``m`` larger than the features, ``1 + degree * k``, and every statistic varying.
        """
        theta, stats = _check_sample(theta, stats, self.degree)
        bounds = np.tile([-np.inf, np.inf], (theta.shape[1], 1)) if bounds is None else bounds
        z = to_unbounded(theta, np.asarray(bounds, dtype=np.float64))
        fitted = SemiAutomatic(self.degree, self.ridge)
        fitted.center, fitted.width = stats.mean(axis=0), stats.std(axis=0, ddof=1)
        features = fitted._features(stats)
        m, p = features.shape
        design = np.vstack(
            [
                np.column_stack([np.ones(m), features]),
                np.column_stack([np.zeros(p), math.sqrt(self.ridge * m) * np.eye(p)]),
            ]
        )
        target = np.vstack([z, np.zeros((p, z.shape[1]))])
        fitted.coefficients = np.linalg.lstsq(design, target, rcond=None)[0]
        values = fitted.project(stats)
        fitted.scale = values.std(axis=0, ddof=1)
        if not (fitted.scale > 0).all():
            column = int(np.argmin(fitted.scale))
            raise ValueError(
                f"parameter {column} must vary over the pilot (got a constant); check its prior."
            )
        fitted.r_squared = 1.0 - (z - values).var(axis=0) / z.var(axis=0)
        fitted.n_rows = m
        return fitted

    def project(self, stats: Any) -> np.ndarray:
        """The semi-automatic statistics ``E[z | s]`` of ``stats (n, k)``: shape (n, d).

        Each row is computed alone, in a fixed order, so a row's value never depends on the
        batch or chunk it comes in (bit-identical on every engine and partitioning).
        """
        self._check_fitted()
        features = self._features(np.asarray(stats, dtype=np.float64))
        out = np.tile(self.coefficients[0], (len(features), 1))
        for j in range(features.shape[1]):
            out += features[:, j : j + 1] * self.coefficients[j + 1]
        return out

    def _features(self, stats: np.ndarray) -> np.ndarray:
        standard = (stats - self.center) / self.width
        return standard if self.degree == 1 else np.hstack([standard, standard**2])

    def _check_fitted(self, k: Optional[int] = None) -> None:
        if self.coefficients is None:
            raise ValueError(
                "SemiAutomatic must be fitted before use (got an unfitted one); use "
                "SemiAutomatic().fit(prior, simulate, n=..., seed=...), .fit_table(table) "
                "or .regress(theta, stats, bounds)."
            )
        if k is not None and k != len(self.center):
            raise ValueError(
                f"SemiAutomatic was fitted on k = {len(self.center)} statistics and must get "
                f"as many (got {k}); fit it on this simulator's statistics."
            )

    def _distance(self, stats: np.ndarray, observed: np.ndarray) -> np.ndarray:
        self._check_fitted(len(observed))
        target = self.project(observed[None, :])[0]
        return ScaledEuclidean(self.scale)._distance(self.project(stats), target)

    def to_dict(self) -> dict:
        """``{"type": "SemiAutomatic", "degree": 1, "ridge": 1e-06}``, and the fit once fitted."""
        found = {"type": "SemiAutomatic", "degree": self.degree, "ridge": self.ridge}
        if self.coefficients is None:
            return found
        arrays = ("center", "width", "coefficients", "scale", "r_squared")
        found.update({name: getattr(self, name).tolist() for name in arrays})
        return {**found, "n_rows": self.n_rows, "n_simulations": self.n_simulations}

    def __repr__(self) -> str:
        fitted = "unfitted" if self.coefficients is None else f"fitted on {self.n_rows:,} rows"
        return f"SemiAutomatic(degree={self.degree}, ridge={self.ridge:g}, {fitted})"


def _check_sample(theta: Any, stats: Any, degree: int) -> tuple:
    # C order: reductions sum in an order that depends on the layout, and the bits must not.
    theta, stats = (np.ascontiguousarray(a, dtype=np.float64) for a in (theta, stats))
    if theta.ndim != 2 or stats.ndim != 2 or len(theta) != len(stats):
        raise ValueError(
            f"theta and stats must have shapes (m, d) and (m, k) (got {theta.shape} and "
            f"{stats.shape}); pass one row of parameters and one of statistics per simulation."
        )
    if not (np.isfinite(theta).all() and np.isfinite(stats).all()):
        raise ValueError("theta and stats must be finite (got NaN or inf); drop failed rows.")
    if len(stats) <= 1 + degree * stats.shape[1]:
        raise ValueError(
            f"the pilot must hold more rows than the {1 + degree * stats.shape[1]} features of "
            f"degree={degree} (got {len(stats)}); raise n, or use degree=1."
        )
    constant = np.flatnonzero(stats.std(axis=0) == 0)
    if len(constant):
        raise ValueError(
            f"summary statistic {int(constant[0])} must vary over the pilot (it is constant "
            f"over {len(stats)} rows); drop it from the simulator's output."
        )
    return theta, stats


def _statistic_count(abc: RejectionABC, seed: int) -> int:
    """``k``, from the simulator on the dry run's draws (the same as the dry run's outputs)."""
    rng = batch_rng(seed, 0, 0, stream=PILOT)
    theta = abc.problem.prior.sample(DRY_RUN_SIZE, rng)
    try:
        shape = np.shape(abc.problem.simulate(theta.copy(), rng))
    except Exception as exc:
        raise SimulationError(
            f"simulate raised {type(exc).__name__}: {exc} in the dry run on the driver, at "
            f"parameters {theta.tolist()}; fix the simulator for these parameters."
        ) from exc
    if len(shape) != 2:
        raise ValueError(
            f"simulate must return shape (n, k) (got {shape}); return one row of summary "
            "statistics per parameter row."
        )
    return int(shape[1])
