"""PMC's proposal kernels: resample the last population, perturb it with a Gaussian.

A kernel is an object with one method, ``fit(particles, weights, distances, epsilon)``, that
returns the proposal of the next generation: a :class:`GaussianMixture` with ``sample`` and
``log_density``. These are built in, and strings name them:

- ``'gaussian'``, :class:`GaussianKernel`: twice the weighted sample covariance (Beaumont et
  al. 2009); ``'silverman'`` and ``'scott'``: the same kernel at a rule-of-thumb bandwidth;
- ``'olcm'``, :class:`OLCMKernel`: the optimal local covariance matrix of Filippi et al.
  (2013), one covariance per particle;
- ``'local'``, :class:`LocalKernel`: the covariance of each particle's nearest neighbours.

A user's kernel subclasses :class:`Kernel`. Importance weights need the mixture's density at
every new particle, in chunks of rows: 10,000 particles never build a 10,000 x 10,000 matrix.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from functools import cached_property
from typing import Any

import numpy as np

from abcspark.validation import real
from abcspark.weighted import covariance, ess

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
        return self.perturb(rng.choice(len(self.particles), size=n, p=self.weights), rng)

    def perturb(self, picks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The particles at ``picks (n,)``, each moved by its Gaussian: ``(n, d)``."""
        n = len(picks)
        z = rng.standard_normal((n, self.particles.shape[1]))
        if self.chol.ndim == 3:
            return self.particles[picks] + np.einsum("nij,nj->ni", self.chol[picks], z)
        return self.particles[picks] + np.einsum("ij,nj->ni", self.chol, z)

    def log_density(self, theta: np.ndarray) -> np.ndarray:
        """``log sum_j w_j N(theta | particle_j, cov_j)`` for ``theta (m, d)`` -> ``(m,)``."""
        return log_density_in_chunks(self.log_terms, theta, self.particles.shape)

    def log_terms(self, theta: np.ndarray) -> np.ndarray:
        """``log w_j + log N(theta_r | particle_j, cov_j)``, ``(r, n)``, for rows ``theta``."""
        inv, log_norm, white = self._whitening
        if white is None:  # one covariance per particle
            diff = theta[:, None, :] - self.particles[None, :, :]
            z = np.einsum("nij,rnj->rni", inv, diff)
        else:  # inv (theta - particle) = inv theta - inv particle: d^2 work per row, not n d^2
            z = np.einsum("ij,rj->ri", inv, theta)[:, None, :] - white[None, :, :]
        return log_norm - 0.5 * np.einsum("rni,rni->rn", z, z)

    @cached_property
    def _whitening(self) -> tuple:
        """Inverse Cholesky factors, ``log w_j - log det_j - d/2 log 2 pi``, whitened particles.

        Products are ``einsum`` loops, not BLAS: BLAS picks its kernels by CPU, so its bits
        differ between machines, and a batch must give the same bits on any executor.
        """
        d = self.particles.shape[1]
        log_det = np.log(np.diagonal(self.chol, axis1=-2, axis2=-1)).sum(axis=-1)
        log_norm = np.log(self.weights) - log_det - 0.5 * d * math.log(2 * math.pi)
        inv = np.linalg.inv(self.chol)
        white = None if inv.ndim == 3 else np.einsum("ij,nj->ni", inv, self.particles)
        return inv, log_norm, white


def log_density_in_chunks(log_terms: Any, theta: np.ndarray, shape: tuple) -> np.ndarray:
    """``log_sum_exp(log_terms(rows))`` over ``theta`` by chunks of ``CHUNK_FLOATS`` floats."""
    rows = max(1, CHUNK_FLOATS // (shape[0] * shape[1]))
    out = np.empty(len(theta))
    for start in range(0, len(theta), rows):
        out[start : start + rows] = log_sum_exp(log_terms(theta[start : start + rows]))
    return out


def log_sum_exp(log_terms: np.ndarray) -> np.ndarray:
    """``log sum_j exp(log_terms[r, j])`` per row, ``(r,)``, without overflow (-inf if all are)."""
    peak = np.maximum(log_terms.max(axis=1), np.finfo(float).min)  # all -inf: not nan
    with np.errstate(divide="ignore"):
        return peak + np.log(np.exp(log_terms - peak[:, None]).sum(axis=1))


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
    """One Gaussian per particle, all with the population's weighted covariance times ``scale``.

    Parameters
    ----------
    scale : float or {'silverman', 'scott'}, default 2.0
        The covariance's multiple of the weighted covariance. 2 is Beaumont et al.'s choice,
        which minimises the Kullback-Leibler divergence to the next target for a Gaussian
        posterior. ``'silverman'`` and ``'scott'`` take the square of the rule's bandwidth at
        the population's effective sample size, ``(4 / (n (d + 2)))^(2 / (d + 4))`` and
        ``n^(-2 / (d + 4))``: a kernel density estimate's width, much narrower (about 0.1 for
        1,000 particles in 2 dimensions), as pyABC's default transition uses.

    References
    ----------
    Beaumont, M. A., Cornuet, J.-M., Marin, J.-M. and Robert, C. P. (2009). Adaptive
    approximate Bayesian computation. Biometrika 96(4), 983-990.
    Silverman, B. W. (1986). Density Estimation for Statistics and Data Analysis. Chapman and
    Hall, London.
    """

    def __init__(self, scale: Any = 2.0):
        if isinstance(scale, str):
            if scale not in BANDWIDTH_RULES:
                raise ValueError(
                    f"scale must be a positive number or one of {tuple(BANDWIDTH_RULES)} (got "
                    f"{scale!r}); e.g. scale='silverman'."
                )
            self.scale = scale
        else:
            self.scale = real(
                "scale", scale, 0, math.inf, open_low=True, open_high=True, example="2.0"
            )

    def factor(self, weights: np.ndarray, d: int) -> float:
        """The multiple of the weighted covariance for a population of ``weights`` in ``d``-D."""
        if isinstance(self.scale, str):
            return BANDWIDTH_RULES[self.scale](ess(weights), d) ** 2
        return self.scale

    def fit(
        self, particles: np.ndarray, weights: np.ndarray, distances: np.ndarray, epsilon: float
    ) -> GaussianMixture:
        factor = self.factor(weights, particles.shape[1])
        return GaussianMixture(particles, weights, factor * covariance(particles, weights))


BANDWIDTH_RULES = {
    "silverman": lambda n, d: (4.0 / (n * (d + 2))) ** (1.0 / (d + 4)),
    "scott": lambda n, d: n ** (-1.0 / (d + 4)),
}
"""Bandwidth rules of thumb for a Gaussian kernel density estimate of ``n`` points in ``d``-D."""


class LocalKernel(Kernel):
    """One Gaussian per particle, with the weighted covariance of its nearest neighbours.

    Where the posterior is curved or has several modes, one global covariance proposes far
    outside it; the covariance of the particle's ``k`` nearest neighbours (``k`` a share of
    the population, distances measured after scaling each parameter by its sd) follows its
    local shape.

    Parameters
    ----------
    k_fraction : float, default 0.25
        Neighbours as a share of the population (at least ``d + 1`` of them).
    scale : float, default 1.0
        Multiple of each local covariance.

    References
    ----------
    Filippi, S., Barnes, C. P., Cornebise, J. and Stumpf, M. P. H. (2013). On optimality of
    kernels for approximate Bayesian computation using sequential Monte Carlo. Statistical
    Applications in Genetics and Molecular Biology 12(1), 87-107 (the k-nearest-neighbour
    kernel).
    """

    def __init__(self, k_fraction: float = 0.25, scale: float = 1.0):
        self.k_fraction = real("k_fraction", k_fraction, 0, 1, open_low=True, example="0.25")
        self.scale = real("scale", scale, 0, math.inf, open_low=True, open_high=True, example="1.0")

    def fit(
        self, particles: np.ndarray, weights: np.ndarray, distances: np.ndarray, epsilon: float
    ) -> GaussianMixture:
        n, d = particles.shape
        k = min(n, max(d + 1, math.ceil(self.k_fraction * n)))
        scaled = particles / np.maximum(particles.std(axis=0), 1e-300)
        covs = np.empty((n, d, d))
        rows = max(1, CHUNK_FLOATS // max(n, 1))
        for start in range(0, n, rows):
            block = scaled[start : start + rows]
            gaps = ((block[:, None, :] - scaled[None, :, :]) ** 2).sum(axis=2)
            nearest = np.argpartition(gaps, k - 1, axis=1)[:, :k]
            for i, near in enumerate(nearest):
                w = weights[near] / weights[near].sum()
                covs[start + i] = self.scale * covariance(particles[near], w)
        return GaussianMixture(particles, weights, covs)


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


SHORTCUTS = {
    "gaussian": GaussianKernel,
    "silverman": lambda: GaussianKernel("silverman"),
    "scott": lambda: GaussianKernel("scott"),
    "olcm": OLCMKernel,
    "local": LocalKernel,
}
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
