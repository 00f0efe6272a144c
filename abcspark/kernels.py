"""PMC's proposal: resample the previous population, perturb it with a Gaussian kernel.

Two covariances are offered: twice the weighted sample covariance (Beaumont et al. 2009) and
the optimal local covariance matrix of Filippi et al. (2013), one covariance per particle.
Importance weights need the kernel's mixture density at every new particle; it is computed in
chunks of rows so that 10,000 particles never build a 10,000 x 10,000 matrix at once.
"""

from __future__ import annotations

import math

import numpy as np

KERNELS = ("gaussian", "olcm")
CHUNK_FLOATS = 2**22
"""Floats of one chunk's work array in :meth:`GaussianKernel.log_density` (32 MiB)."""


def weighted_cov(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted covariance, ``values (n, d)``, normalised ``weights (n,)`` -> ``(d, d)``."""
    centred = values - weights @ values
    return (centred * weights[:, None]).T @ centred


def _cholesky(cov: np.ndarray) -> np.ndarray:
    """Cholesky factors of ``(..., d, d)``; a degenerate covariance gets a tiny ridge."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        diag = np.diagonal(cov, axis1=-2, axis2=-1)
        ridge = 1e-10 * np.maximum(diag.max(axis=-1), 1e-300)
        return np.linalg.cholesky(cov + ridge[..., None, None] * np.eye(cov.shape[-1]))


class GaussianKernel:
    """A mixture of Gaussians centred on the weighted particles of the last generation.

    Parameters
    ----------
    particles : ndarray, shape (n, d)
    weights : ndarray, shape (n,)
        Normalised weights.
    covariance : ndarray, shape (d, d) or (n, d, d)
        One covariance for all particles, or one per particle.

    References
    ----------
    Beaumont, M. A., Cornuet, J.-M., Marin, J.-M. and Robert, C. P. (2009). Adaptive
    approximate Bayesian computation. Biometrika 96(4), 983-990.
    """

    def __init__(self, particles: np.ndarray, weights: np.ndarray, covariance: np.ndarray):
        self.particles, self.weights = particles, weights
        self.chol = _cholesky(covariance)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` proposals: resample by weight, then perturb. Returns ``(n, d)``."""
        picks = rng.choice(len(self.particles), size=n, p=self.weights)
        z = rng.standard_normal((n, self.particles.shape[1]))
        if self.chol.ndim == 3:
            return self.particles[picks] + np.einsum("nij,nj->ni", self.chol[picks], z)
        return self.particles[picks] + z @ self.chol.T

    def log_density(self, theta: np.ndarray) -> np.ndarray:
        """``log sum_j w_j N(theta | particle_j, cov_j)`` for ``theta (m, d)`` -> ``(m,)``."""
        n, d = self.particles.shape
        inv = np.linalg.inv(self.chol)
        log_det = np.log(np.diagonal(self.chol, axis1=-2, axis2=-1)).sum(axis=-1)
        log_norm = np.log(self.weights) - log_det - 0.5 * d * math.log(2 * math.pi)
        rows = max(1, CHUNK_FLOATS // (n * d))
        out = np.empty(len(theta))
        for start in range(0, len(theta), rows):
            diff = theta[start : start + rows, None, :] - self.particles[None, :, :]
            if inv.ndim == 3:
                z = np.einsum("nij,rnj->rni", inv, diff)
            else:
                z = diff @ inv.T
            log_terms = log_norm - 0.5 * np.einsum("rni,rni->rn", z, z)
            peak = log_terms.max(axis=1)
            out[start : start + rows] = peak + np.log(np.exp(log_terms - peak[:, None]).sum(axis=1))
        return out


def make_kernel(
    method: str, particles: np.ndarray, weights: np.ndarray, distances: np.ndarray, epsilon: float
) -> GaussianKernel:
    """The proposal kernel for the next generation.

    ``'gaussian'``: covariance twice the weighted sample covariance (Beaumont et al. 2009).
    ``'olcm'``: for particle j, ``sum_k w_k (theta_k - theta_j)(theta_k - theta_j)^T`` over the
    particles k already within the next ``epsilon`` (Filippi et al. 2013, optimal local
    covariance matrix), computed as ``C + (m - theta_j)(m - theta_j)^T``.

    References
    ----------
    Filippi, S., Barnes, C. P., Cornebise, J. and Stumpf, M. P. H. (2013). On optimality of
    kernels for approximate Bayesian computation using sequential Monte Carlo. Statistical
    Applications in Genetics and Molecular Biology 12(1), 87-107.
    """
    if method == "gaussian":
        return GaussianKernel(particles, weights, 2.0 * weighted_cov(particles, weights))
    close = distances <= epsilon
    if not close.any():
        close = distances <= distances.min()
    near_w = weights[close] / weights[close].sum()
    near = particles[close]
    mean = near_w @ near
    offset = mean - particles
    covs = weighted_cov(near, near_w)[None] + offset[:, :, None] * offset[:, None, :]
    return GaussianKernel(particles, weights, covs)


def importance_weights(
    theta: np.ndarray, log_prior: np.ndarray, kernel: GaussianKernel
) -> np.ndarray:
    """Normalised PMC weights ``prior(theta) / sum_j w_j K(theta | theta_j)``, ``(m,)``."""
    log_w = log_prior - kernel.log_density(theta)
    log_w -= log_w.max()
    w = np.exp(log_w)
    return w / w.sum()
