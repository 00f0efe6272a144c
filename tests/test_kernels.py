"""PMC's proposal kernels: what they sample is what their density says, and it integrates to one.

For every :class:`~abcspark.Kernel` in ``abcspark.kernels``, fitted to one weighted 2-D
population, three facts are checked against the kernel's definition written out by hand:

- the proposal around one particle: its draws have the covariance its density assumes (the
  shared-covariance sampling path for GaussianKernel, the per-particle path for OLCMKernel);
- the whole mixture: its draws have the mixture's mean and covariance;
- its density integrates to one, with that same mean and covariance (a 2-D grid).

Monte Carlo error, derived: the sample covariance of n Gaussian draws has entries with sd
``sqrt((C_ij^2 + C_ii C_jj) / n)`` (``C_ii sqrt(2 / n)`` on the diagonal); for a mixture, the
sd of an entry is estimated from the draws, ``sd((x_i - m_i)(x_j - m_j)) / sqrt(n)``. The
tolerance is 5 of them (a two-sided 5-sd excursion has probability 6e-7, and a test makes 5
such checks: 2 means, 3 covariance entries). A sampler at 1.5 times the covariance its
density assumes moves one particle's variance by 0.5 C_ii, measured 112 sds at n = 100,000,
and the mixture's (from 3 to 4 times the weighted covariance for GaussianKernel) by 80 sds at
n = 200,000 (56 for OLCMKernel). Seeds: the population is fixed; the draws' cores ran on
seeds 1-50 in a throwaway check: all passed, largest |error| 3.9 sds.
"""

import math

import numpy as np
import pytest

from abcspark import kernels
from abcspark.kernels import GaussianKernel, GaussianMixture, LocalKernel, OLCMKernel
from abcspark.rng import batch_rng

TOLERANCE = 5.0
"""Tolerance in Monte Carlo sds (module docstring)."""

EPSILON = 0.5
"""The next epsilon the kernels are fitted for; about half the particles are within it."""


def population():
    """40 correlated 2-D particles, uneven weights, distances in [0, 1)."""
    rng = np.random.default_rng(2024)
    particles = rng.multivariate_normal([1.0, -2.0], [[1.0, 0.6], [0.6, 2.0]], size=40)
    weights = rng.uniform(0.5, 1.5, 40)
    return particles, weights / weights.sum(), rng.uniform(0.0, 1.0, 40)


def weighted_cov(x, w):
    """``sum_k w_k (x_k - m)(x_k - m)^T`` with ``m = sum_k w_k x_k`` (weights sum to one)."""
    centred = x - w @ x
    return (centred * w[:, None]).T @ centred


def gaussian_by_hand(particles, weights, distances, epsilon):
    """Beaumont et al.: every particle's Gaussian has twice the weighted covariance."""
    return np.array([2.0 * weighted_cov(particles, weights)] * len(particles))


def olcm_by_hand(particles, weights, distances, epsilon):
    """Filippi et al.: ``C_j = sum_{k near} w~_k (x_k - x_j)(x_k - x_j)^T``, w~ renormalised."""
    near = distances <= epsilon
    w = weights[near] / weights[near].sum()
    return np.array(
        [
            sum(wk * np.outer(xk - xj, xk - xj) for wk, xk in zip(w, particles[near]))
            for xj in particles
        ]
    )


def silverman_by_hand(particles, weights, distances, epsilon):
    """Silverman's bandwidth at the effective sample size n: h^2 = (4 / (4 n))^(2 / 6) in 2-D."""
    n = 1.0 / np.sum(weights**2)
    h2 = (4.0 / (n * 4.0)) ** (2.0 / 6.0)
    return np.array([h2 * weighted_cov(particles, weights)] * len(particles))


def local_by_hand(particles, weights, distances, epsilon):
    """The weighted covariance of each particle's 10 nearest (a quarter of 40), sd-scaled."""
    scaled = particles / particles.std(axis=0)
    covs = []
    for xj in scaled:
        near = np.argsort(((scaled - xj) ** 2).sum(axis=1))[:10]
        covs.append(weighted_cov(particles[near], weights[near] / weights[near].sum()))
    return np.array(covs)


KERNELS = {
    "GaussianKernel": (GaussianKernel(), gaussian_by_hand),
    "GaussianKernel-silverman": (GaussianKernel("silverman"), silverman_by_hand),
    "OLCMKernel": (OLCMKernel(), olcm_by_hand),
    "LocalKernel": (LocalKernel(), local_by_hand),
}
"""Every kernel of ``abcspark.kernels``, with its component covariances written by hand."""


def fitted(name):
    """The proposal of kernel ``name`` and, by hand, its per-particle covariances (n, d, d)."""
    kernel, by_hand = KERNELS[name]
    particles, weights, distances = population()
    proposal = kernel.fit(particles, weights, distances, EPSILON)
    return proposal, by_hand(particles, weights, distances, EPSILON)


def mixture_moments(particles, weights, covs):
    """Mean and covariance of ``sum_j w_j N(x_j, C_j)``: between plus within particles."""
    return weights @ particles, weighted_cov(particles, weights) + np.einsum(
        "j,jab->ab", weights, covs
    )


def assert_sample_moments(draws, mean, cov, gaussian):
    """The draws' mean and covariance within ``TOLERANCE`` Monte Carlo sds of the truth."""
    n = len(draws)
    got_mean = draws.mean(axis=0)
    centred = draws - got_mean
    got_cov = centred.T @ centred / (n - 1)
    if gaussian:
        cov_se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / n)
    else:
        products = centred[:, :, None] * centred[:, None, :]
        cov_se = products.std(axis=0) / math.sqrt(n)
    mean_z = (got_mean - mean) / np.sqrt(np.diag(cov) / n)
    cov_z = (got_cov - cov) / cov_se
    assert (np.abs(mean_z) < TOLERANCE).all(), (got_mean, mean)
    assert (np.abs(cov_z) < TOLERANCE).all(), (got_cov, cov, cov_z)
    return np.concatenate([mean_z, cov_z[np.triu_indices(len(mean))]])


def grid_moments(proposal, centres, covs):
    """Mass, mean and covariance of ``exp(proposal.log_density)`` by a 2-D Riemann sum.

    A Riemann sum of a Gaussian on a grid of spacing h errs by about exp(-2 pi^2 lambda / h^2)
    for the smallest eigenvalue lambda of its covariance; h = 0.4 sqrt(lambda) makes that
    1e-53. The box reaches 9 sds past every centre, where the mass left out is below 1e-17.
    """
    eigen = np.linalg.eigvalsh(covs)
    h = 0.4 * math.sqrt(eigen.min())
    reach = 9 * np.sqrt(eigen.max(axis=1))[:, None]
    low, high = (centres - reach).min(axis=0), (centres + reach).max(axis=0)
    axes = [np.arange(a, b + h, h) for a, b in zip(low, high)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 2)
    density = np.exp(proposal.log_density(points)) * h * h
    mass = density.sum()
    mean = density @ points / mass
    centred = points - mean
    return mass, mean, (centred * density[:, None]).T @ centred / mass


def test_every_kernel_of_the_module_is_covered_here():
    found = {
        name
        for name, value in vars(kernels).items()
        if isinstance(value, type) and issubclass(value, kernels.Kernel)
    }
    covered = {name.split("-")[0] for name in KERNELS}
    assert found - {"Kernel"} == covered, "add the new kernel to KERNELS with its by_hand"


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_the_fitted_covariances_are_the_kernels_definition(name):
    proposal, covs = fitted(name)
    chol = np.broadcast_to(proposal.chol, covs.shape)
    np.testing.assert_allclose(chol @ chol.transpose(0, 2, 1), covs, rtol=1e-10)


def check_one_particle(name, j, seed):
    proposal, covs = fitted(name)
    chol = proposal.chol[j] if proposal.chol.ndim == 3 else proposal.chol
    cov = chol @ chol.T
    shape = (1, 2, 2) if proposal.chol.ndim == 3 else (2, 2)
    one = GaussianMixture(proposal.particles[j : j + 1], np.ones(1), cov.reshape(shape))
    assert one.chol.ndim == proposal.chol.ndim  # the same sampling path as the fitted kernel
    mass, mean, density_cov = grid_moments(one, proposal.particles[j : j + 1], covs[j : j + 1])
    assert mass == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(density_cov, covs[j], rtol=1e-8)
    draws = one.sample(100_000, batch_rng(seed, 0, j))
    return assert_sample_moments(draws, proposal.particles[j], density_cov, gaussian=True)


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("j", [0, 17])
def test_proposals_around_one_particle_have_the_covariance_the_density_assumes(name, j):
    """One particle's Gaussian, sampled by the kernel's own path (shared or per-particle chol).

    Truth: the covariance of the one-particle density, by grid integration, which must equal
    the kernel's definition. 100,000 draws; tolerance 5 sds of a Gaussian sample covariance.
    """
    check_one_particle(name, j, seed=1)


def check_mixture_draws(name, seed):
    proposal, covs = fitted(name)
    mean, cov = mixture_moments(proposal.particles, proposal.weights, covs)
    draws = proposal.sample(200_000, batch_rng(seed, 0, 0))
    return assert_sample_moments(draws, mean, cov, gaussian=False)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_the_proposal_draws_have_the_mixtures_mean_and_covariance(name):
    """200,000 draws of the fitted proposal against ``sum_j w_j N(x_j, C_j)``'s moments.

    Mixture covariance = weighted covariance of the particles + sum_j w_j C_j (3 times the
    weighted covariance for GaussianKernel). Tolerance 5 sds estimated from the draws.
    """
    check_mixture_draws(name, seed=1)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_the_proposal_density_integrates_to_one_with_the_mixtures_moments(name):
    proposal, covs = fitted(name)
    mass, mean, cov = grid_moments(proposal, proposal.particles, covs)
    expected_mean, expected_cov = mixture_moments(proposal.particles, proposal.weights, covs)
    assert mass == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cov, expected_cov, rtol=1e-8)
