"""PMC's proposal kernels: resample the last population, perturb it with a Gaussian.

A kernel is an object with one method, ``fit(particles, weights, distances, epsilon)``, that
returns the proposal of the next generation: a :class:`GaussianMixture` with ``sample`` and
``log_density``. Two kernels are built in, and strings name them:

- ``'gaussian'``, :class:`GaussianKernel`: twice the weighted sample covariance (Beaumont et
  al. 2009);
- ``'olcm'``, :class:`OLCMKernel`: the optimal local covariance matrix of Filippi et al.
  (2013), one covariance per particle.

A user's kernel subclasses :class:`Kernel`. Importance weights need the mixture's density at
every new particle; it is computed in chunks of rows so that 10,000 particles never build a
10,000 x 10,000 matrix at once.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from abcspark.validation import real
from abcspark.weighted import covariance

CHUNK_FLOATS = 2**22
"""Floats of one chunk's work array in :meth:`GaussianMixture.log_density` (32 MiB)."""


def _cholesky(cov: np.ndarray) -> np.ndarray:
    """Cholesky factors of ``(..., d, d)``; a degenerate covariance gets a tiny ridge."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        diag = np.diagonal(cov, axis1=-2, axis2=-1)
        ridge = 1e-10 * np.maximum(diag.max(axis=-1), 1e-300)
        return np.linalg.cholesky(cov + ridge[..., None, None] * np.eye(cov.shape[-1]))


class GaussianMixture:
    """A mixture of Gaussians centred on the weighted particles of the last generation.

    Parameters
    ----------
    particles : ndarray, shape (n, d)
    weights : ndarray, shape (n,)
        Normalised weights.
    covariance : ndarray, shape (d, d) or (n, d, d)
        One covariance for all particles, or one per particle.
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


class Kernel(ABC):
    """A proposal kernel: fitted to a weighted population, it proposes the next generation."""

    @abstractmethod
    def fit(
        self, particles: np.ndarray, weights: np.ndarray, distances: np.ndarray, epsilon: float
    ) -> GaussianMixture:
        """The proposal around ``particles (n, d)`` with normalised ``weights (n,)``.

        ``distances (n,)`` and the next ``epsilon`` let a kernel look at which particles are
        already close enough (as OLCM does).
        """

    def to_dict(self) -> dict:
        """JSON-able description, saved in metadata and checkpoints: the type and settings."""
        return {"type": type(self).__name__, **vars(self)}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({settings})"


class GaussianKernel(Kernel):
    """One Gaussian per particle, with ``scale`` times the population's weighted covariance.

    Parameters
    ----------
    scale : float, default 2.0
        The covariance's multiple of the weighted covariance; Beaumont et al. show that 2
        minimises the Kullback-Leibler divergence to the next target for a Gaussian posterior.

    References
    ----------
    Beaumont, M. A., Cornuet, J.-M., Marin, J.-M. and Robert, C. P. (2009). Adaptive
    approximate Bayesian computation. Biometrika 96(4), 983-990.
    """

    def __init__(self, scale: float = 2.0):
        self.scale = real("scale", scale, 0, open_low=True, example="2.0")

    def fit(
        self, particles: np.ndarray, weights: np.ndarray, distances: np.ndarray, epsilon: float
    ) -> GaussianMixture:
        return GaussianMixture(particles, weights, self.scale * covariance(particles, weights))


class OLCMKernel(Kernel):
    """The optimal local covariance matrix: one Gaussian per particle, each its own covariance.

    For particle j, ``sum_k w_k (theta_k - theta_j)(theta_k - theta_j)^T`` over the particles k
    already within the next ``epsilon``, computed as ``C + (m - theta_j)(m - theta_j)^T``.

    References
    ----------
    Filippi, S., Barnes, C. P., Cornebise, J. and Stumpf, M. P. H. (2013). On optimality of
    kernels for approximate Bayesian computation using sequential Monte Carlo. Statistical
    Applications in Genetics and Molecular Biology 12(1), 87-107.
    """

    def fit(
        self, particles: np.ndarray, weights: np.ndarray, distances: np.ndarray, epsilon: float
    ) -> GaussianMixture:
        close = distances <= epsilon
        if not close.any():
            close = distances <= distances.min()
        near_w = weights[close] / weights[close].sum()
        near = particles[close]
        offset = near_w @ near - particles
        covs = covariance(near, near_w)[None] + offset[:, :, None] * offset[:, None, :]
        return GaussianMixture(particles, weights, covs)


SHORTCUTS = {"gaussian": GaussianKernel, "olcm": OLCMKernel}
"""Kernels that may be given by name."""


def as_kernel(kernel: Any) -> Kernel:
    """``kernel`` as a :class:`Kernel`: an instance passes through, a name is looked up.

    Raises
    ------
    ValueError, TypeError
        For an unknown name, or an object that is not a :class:`Kernel` instance.
    """
    if isinstance(kernel, Kernel):
        return kernel
    if isinstance(kernel, str):
        if kernel not in SHORTCUTS:
            raise ValueError(f"kernel must be one of {tuple(SHORTCUTS)} (got {kernel!r}).")
        return SHORTCUTS[kernel]()
    raise TypeError(
        f"kernel must be a name in {tuple(SHORTCUTS)} or a Kernel instance (got "
        f"{type(kernel)}); subclass abcspark.Kernel and implement fit."
    )


def importance_weights(
    theta: np.ndarray, log_prior: np.ndarray, proposal: GaussianMixture
) -> np.ndarray:
    """Normalised PMC weights ``prior(theta) / sum_j w_j K(theta | theta_j)``, ``(m,)``."""
    log_w = log_prior - proposal.log_density(theta)
    log_w -= log_w.max()
    w = np.exp(log_w)
    return w / w.sum()
