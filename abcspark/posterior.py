"""Posterior: weighted particles, their history, and how to save, load and plot them."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np
import pandas as pd

from abcspark import posterior_files
from abcspark.adjustment import KERNELS, adjusted
from abcspark.adjustment import METHODS as ADJUSTMENTS
from abcspark.draws import METHODS, kde, resample, systematic
from abcspark.pooling import GENERATION, pooled
from abcspark.rng import DRAWS, batch_rng, check_seed
from abcspark.rows import statistic_names, statistics_in
from abcspark.validation import boolean, check_samples, normalised_weights, positive_int
from abcspark.weighted import covariance, ess, quantile


class Posterior:
    """Weighted particles approximating the ABC posterior.

    Parameters
    ----------
    samples : pandas.DataFrame, shape (n, d)
        One column per parameter.
    weights : ndarray, shape (n,)
        Importance weights; normalised to sum to 1.
    distances : ndarray, shape (n,)
        Each particle's distance to the observed statistics.
    history : pandas.DataFrame
        One row per generation: ``generation, epsilon, n_proposals, n_simulations,
        acceptance_rate, ess, n_failed, seconds``. Proposals outside the prior's support are
        not simulated, so ``n_simulations <= n_proposals``; both count whole batches up to the
        one holding the last particle needed.
    metadata : dict
        Seed, versions, settings, simulations used and wall time (JSON-able).
    statistics : ndarray, shape (n, k), optional
        Each particle's simulated statistics, when the run kept them (``keep_statistics``).
    earlier : pandas.DataFrame, optional
        A population algorithm's generations before the last, with their statistics, when the
        run kept them (:func:`abcspark.pooling.earlier_frame`): what :meth:`adjust` pools.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> post = Posterior(pd.DataFrame({"mu": [1.0, 2.0, 3.0]}), np.ones(3), np.zeros(3))
    >>> float(post.mean()["mu"])
    2.0
    >>> post.ess
    3.0
    """

    def __init__(
        self,
        samples: pd.DataFrame,
        weights: np.ndarray,
        distances: np.ndarray,
        history: Optional[pd.DataFrame] = None,
        metadata: Optional[dict] = None,
        statistics: Optional[np.ndarray] = None,
        earlier: Optional[pd.DataFrame] = None,
    ):
        check_samples(samples)
        self.samples = samples.reset_index(drop=True)
        self.weights = normalised_weights(weights, len(samples))
        self.distances = np.asarray(distances, dtype=np.float64)
        self.history = history if history is not None else pd.DataFrame()
        self.metadata = metadata or {}
        self.statistics = None if statistics is None else np.asarray(statistics, dtype=np.float64)
        self.earlier = earlier
        if self.statistics is not None and (
            self.statistics.ndim != 2 or len(self.statistics) != len(samples)
        ):
            raise ValueError(
                f"statistics must have shape (n, k) with n = {len(samples)} (got "
                f"{self.statistics.shape}); pass one row of statistics per sample."
            )

    @property
    def names(self) -> list:
        """Parameter names (the sample columns)."""
        return list(self.samples.columns)

    @property
    def ess(self) -> float:
        """Effective sample size, ``1 / sum(w**2)`` of the normalised weights."""
        return ess(self.weights)

    @property
    def epsilon(self) -> float:
        """The final generation's epsilon (NaN if unknown)."""
        return float(self.history["epsilon"].iloc[-1]) if len(self.history) else float("nan")

    @property
    def n_simulations(self) -> int:
        """Simulator calls of the run's batches, counted or discarded (not the dry run's)."""
        if "n_simulations" in self.metadata:
            return int(self.metadata["n_simulations"])
        return int(self.history["n_simulations"].sum()) if len(self.history) else 0

    def mean(self) -> pd.Series:
        """Weighted posterior mean of each parameter."""
        return pd.Series(self.weights @ self.samples.to_numpy(), index=self.names)

    def cov(self) -> pd.DataFrame:
        """Weighted posterior covariance (the reliability-weighted unbiased estimate)."""
        cov = covariance(self.samples.to_numpy(), self.weights, unbiased=True)
        return pd.DataFrame(cov, index=self.names, columns=self.names)

    def std(self) -> pd.Series:
        """Weighted posterior standard deviation of each parameter."""
        return pd.Series(np.sqrt(np.diag(self.cov().to_numpy())), index=self.names)

    def quantile(self, q: Sequence[float]) -> pd.DataFrame:
        """Weighted quantiles: one row per ``q``, one column per parameter."""
        q = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if ((q < 0) | (q > 1)).any():
            raise ValueError(f"q must lie in [0, 1] (got {q.tolist()}); e.g. q=[0.05, 0.95].")
        table = {
            name: quantile(self.samples[name].to_numpy(), self.weights, q) for name in self.names
        }
        return pd.DataFrame(table, index=q)

    def credible_interval(self, level: float = 0.95) -> pd.DataFrame:
        """Equal-tailed credible interval: columns ``lower, upper``, one row per parameter."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1) (got {level}); e.g. level=0.95.")
        bounds = self.quantile([(1 - level) / 2, (1 + level) / 2]).T
        bounds.columns = ["lower", "upper"]
        return bounds

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Mean, sd and credible interval of each parameter."""
        table = pd.DataFrame({"mean": self.mean(), "sd": self.std()})
        interval = self.credible_interval(level)
        pct = (1 - level) / 2 * 100
        table[f"{pct:g}%"], table[f"{100 - pct:g}%"] = interval["lower"], interval["upper"]
        return table

    def __repr__(self) -> str:
        head = f"Posterior: {len(self.samples):,} particles, ESS {self.ess:,.1f}"
        if len(self.history):
            head += f", {len(self.history)} generation(s), {self.n_simulations:,} simulations"
            head += f", epsilon {self.epsilon:.4g}"
        with pd.option_context("display.float_format", "{:.4g}".format):
            return f"{head}\n{self.summary().to_string()}"

    def to_frame(self) -> pd.DataFrame:
        """Samples with ``weight`` and ``distance`` columns (and ``_stat_j`` if kept)."""
        frame = self.samples.assign(weight=self.weights, distance=self.distances)
        if self.statistics is not None:
            names = statistic_names(self.statistics.shape[1])
            frame = frame.assign(**dict(zip(names, self.statistics.T)))
        return frame

    def to_spark(self, spark: Any = None) -> Any:
        """The particles as a Spark DataFrame (see :meth:`to_frame`)."""
        from abcspark.session import get_spark

        return get_spark(spark).createDataFrame(self.to_frame())

    def save(self, path: str, spark: Any = None, *, overwrite: bool = False) -> None:
        """Write Parquet particles and JSON metadata under ``path`` (local or any Hadoop URI).

        ``overwrite=True`` replaces a posterior saved there (without it: ``ValueError``). A save
        killed anywhere leaves that posterior or this one, whole (:func:`storage.write_pair`).
        The earlier generations go with it (:mod:`abcspark.posterior_files`).
        """
        posterior_files.save(self, path, spark, overwrite)

    @classmethod
    def load(cls, path: str, spark: Any = None) -> Posterior:
        """Read a posterior written by :meth:`save`."""
        parts = posterior_files.load(path, spark)
        posterior, weights = cls(**parts), parts["weights"]
        if abs(weights.sum() - 1.0) < 1e-12:
            posterior.weights = weights  # as saved, bit for bit (normalising may move an ulp)
        return posterior

    def sample(self, n: int, seed: Optional[int] = None, method: str = "resample") -> pd.DataFrame:
        """``n`` draws from the posterior, one column per parameter.

        Parameters
        ----------
        n : int
        seed : int, optional
            Keys the draws; None draws one.
        method : {'resample', 'kde'}, default 'resample'
            Particles drawn by weight, or a weighted kernel density estimate inside the prior's
            support (:func:`abcspark.draws.kde`): distinct values where resampling repeats.
            Discrete parameters (``metadata["discrete"]``) are resampled, never smoothed.
        """
        n = positive_int("n", n, "10_000")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS} (got {method!r}).")
        rng = batch_rng(check_seed(seed), 0, 0, stream=DRAWS)
        values = self.samples.to_numpy(dtype=np.float64)
        if method == "resample":
            draws = values[resample(self.weights, n, rng)]
        else:
            discrete = np.isin(self.names, self.metadata.get("discrete", []))
            draws = kde(values, self.weights, self._bounds(), n, rng, discrete)
        return pd.DataFrame(draws, columns=self.names)

    def adjust(
        self, method: str = "linear", seed: int = 0, kernel: str = KERNELS[0], pool: bool = True
    ) -> Posterior:
        """The posterior after regression adjustment (:mod:`abcspark.adjustment`).

        Parameters
        ----------
        method : {'linear', 'neural'}
            ``'linear'``: local-linear (Beaumont et al. 2002), ridge-penalised; ``'neural'``:
            non-linear, heteroscedastic (Blum and Francois 2010), for curved or bimodal posteriors.
        seed : int
            The networks' seed (``'neural'``): the same seed, the same particles.
        kernel : {'rectangular', 'epanechnikov'}
            The regression's weights (:func:`abcspark.adjustment.kernel_weights`).
        pool : bool
            After a PMC or APMC run that kept the statistics, also fit and move the generations
            whose epsilon is within twice the last one's, each weighted by its share of their ESS
            (:func:`abcspark.pooling.pooled`; closer in 24 of 27 measured cells, README); the
            result holds all their particles. False: the last population alone.

        Raises
        ------
        ValueError, ImportError
            Without statistics (run with ``keep_statistics=True``); see ``adjusted``.
        """
        frame = self.to_frame()
        if boolean("pool", pool) and self.earlier is not None:
            frame = pooled(self.earlier, frame, self.history["epsilon"].to_numpy())
        stats = statistics_in(frame)
        theta, weights = adjusted(
            method,
            frame[self.names].to_numpy(),
            frame[stats].to_numpy() if stats else None,
            self.metadata.get("observed"),
            frame["distance"].to_numpy(),
            frame["weight"].to_numpy(),
            self._bounds(),
            seed=check_seed(seed),
            kernel=kernel,
        )
        pooled_generations = frame[GENERATION].nunique() if GENERATION in frame else 1
        metadata = {
            **self.metadata,
            "adjustment": ADJUSTMENTS[method],
            "adjustment_kernel": kernel,
            "adjustment_generations": int(pooled_generations),
        }
        samples = pd.DataFrame(theta, columns=self.names)
        return Posterior(
            samples, weights, frame["distance"].to_numpy(), self.history, metadata, frame[stats]
        )

    def _bounds(self) -> np.ndarray:
        bounds = self.metadata.get("bounds")
        if bounds is None:
            return np.tile([-np.inf, np.inf], (len(self.names), 1))
        return np.asarray(bounds, dtype=np.float64)

    def plot(self, path: Optional[str] = None, **options: Any) -> Any:
        """Marginals with credible intervals, pairs and the history in one figure.

        See :func:`abcspark.plots.plot_posterior`; writes a PNG when ``path`` is given.
        """
        from abcspark.plots import plot_posterior

        return plot_posterior(self, path, **options)

    def predict(self, simulate: Callable, n: int, **options: Any) -> Any:
        """A posterior predictive check, ``n`` simulations (:func:`abcspark.predictive.predict`)."""
        from abcspark.predictive import predict

        return predict(self, simulate, n, **options)

    def to_arviz(self) -> Any:
        """ArviZ ``InferenceData``: particles systematically resampled to equal weights (arviz)."""
        try:
            import arviz
        except ImportError:
            raise ImportError("to_arviz needs arviz; pip install arviz.") from None
        picks = systematic(self.weights)
        draws = {name: self.samples[name].to_numpy()[picks][None, :] for name in self.names}
        return arviz.from_dict(posterior=draws)
