"""Multivariate distributions: MultivariateNormal, a component of several `Prior` columns.

Examples
--------
>>> import numpy as np
>>> mvn = MultivariateNormal([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]])
>>> mvn.sample(5, np.random.default_rng(0)).shape
(5, 2)
>>> mvn.log_pdf([[0.0, 0.0]]).round(3).tolist()
[-1.838]
"""

from __future__ import annotations

import numpy as np

from abcspark.distributions import LOG_2PI, Distribution, real_array_parameter


class MultivariateNormal(Distribution):
    """d-variate Normal with ``mean``, shape (d,), and ``cov``, shape (d, d).

    ``cov`` must be symmetric (to 1e-12 of its largest entry) and positive definite. A
    component called ``x`` gives the `Prior` columns ``x_0``, ..., ``x_{d-1}``.
    """

    _vector = True
    _fields = ("mean", "cov")

    def __init__(self, mean: np.ndarray, cov: np.ndarray) -> None:
        self.mean = real_array_parameter("MultivariateNormal", "mean", mean, ndim=1)
        cov = real_array_parameter("MultivariateNormal", "cov", cov, ndim=2)
        self.dim = d = len(self.mean)
        if cov.shape != (d, d) or np.abs(cov - cov.T).max() > 1e-12 * np.abs(cov).max():
            raise ValueError(
                f"MultivariateNormal cov must be a symmetric ({d}, {d}) matrix to match mean "
                f"(got {cov.tolist()}); pass a {d} x {d} covariance matrix."
            )
        self.cov = (cov + cov.T) / 2
        try:
            self._chol = np.linalg.cholesky(self.cov)
        except np.linalg.LinAlgError:
            raise ValueError(
                f"MultivariateNormal cov must be positive definite (got smallest eigenvalue "
                f"{np.linalg.eigvalsh(self.cov).min():.3g}); fix the correlations."
            ) from None
        self._log_norm = np.log(np.diag(self._chol)).sum() + 0.5 * d * LOG_2PI

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        # einsum, not BLAS: the same bits on every CPU (see kernels.GaussianMixture)
        return self.mean + np.einsum("ij,nj->ni", self._chol, rng.standard_normal((n, self.dim)))

    def _in_support(self, v: np.ndarray) -> np.ndarray:
        return np.isfinite(v).all(axis=1)

    def _log_pdf(self, v: np.ndarray) -> np.ndarray:
        y = np.linalg.solve(self._chol, (v - self.mean).T)
        return -0.5 * (y * y).sum(axis=0) - self._log_norm
