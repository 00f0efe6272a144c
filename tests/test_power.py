"""Tests with power: each fails under a named, realistic bug in the statistical core.

Every statistical test here compares a run with an exact answer (conjugate algebra, quadrature
or enumeration) and says in its docstring: the tolerance in Monte Carlo (MC) standard errors,
the shift a named bug causes in the same units, and the seeds its core was checked on. The
check ran each core over seeds 1-50 in a throwaway script, outside the suite; the largest
error seen is quoted, so the false-alarm rate is far below 1 in 1,000.

PMC's MC error: ``sd / sqrt(ESS)`` for a mean and ``var * sqrt(2 / ESS)`` for a variance
understate the real spread of a PMC estimate by a factor of about 1.1 to 1.3 (measured over
50 seeds; Kong's ESS is an approximation), so PMC tolerances are 5.5 of those units (over 4
real standard errors). Each PMC test also bounds the ESS from below, so a bug that ruins the
weights cannot widen its own tolerance.
"""

import math

import numpy as np
import pytest

from abcspark import (
    PMCABC,
    BudgetExhausted,
    Categorical,
    MultivariateNormal,
    Normal,
    Poisson,
    Prior,
    RejectionABC,
    ScaledEuclidean,
)
from abcspark.examples import NormalMean

PMC_TOLERANCE = 5.5
"""PMC tolerance in nominal MC errors (sd / sqrt(ESS)): over 4 real ones (module docstring)."""

MIN_ESS_SHARE = 0.25
"""Lowest ESS / n_particles accepted; correct runs gave 0.51 or more on every seed checked."""


def assert_mean_and_var(got_mean, got_var, mean, var, ess, tolerance):
    """|mean error| < tolerance * sd / sqrt(ess); |var error| < tolerance * var * sqrt(2/ess)."""
    assert abs(got_mean - mean) < tolerance * math.sqrt(var / ess), (got_mean, mean, var, ess)
    assert abs(got_var - var) < tolerance * var * math.sqrt(2 / ess), (got_var, var, ess)


def gaussian_abc_moments(prior_mean, prior_cov, noise_cov, observed, semi_axes):
    """Mean and covariance of the exact ABC posterior of a 2-D conjugate Gaussian model.

    ``y = theta + e`` with ``theta ~ N(m0, S0)`` and ``e ~ N(0, S)``; a simulation is accepted
    when ``y - observed`` lies in the ellipse with ``semi_axes`` along the coordinate axes (a
    disc of radius epsilon for the Euclidean distance). Write ``y = observed + u``: the ABC
    posterior is the mixture over ``u`` in the ellipse, weighted by the prior predictive
    density ``N(observed + u; m0, S0 + S)``, of the conjugate posteriors given ``y``, whose
    mean is ``m0 + K (y - m0)`` with ``K = S0 (S0 + S)^-1`` and covariance ``S0 - K S0``. So
    with ``ybar, Vy`` the mean and covariance of ``y`` under that weight,
    ``mean = m0 + K (ybar - m0)`` and ``cov = S0 - K S0 + K Vy K^T``. The ellipse integral is
    Gauss-Legendre in the radius and the trapezoid rule in the angle (exact to rounding for
    this smooth integrand).
    """
    m0, s0 = np.asarray(prior_mean, float), np.asarray(prior_cov, float)
    predictive = s0 + np.asarray(noise_cov, float)
    nodes, weights = np.polynomial.legendre.leggauss(80)
    radius, weights = (nodes + 1) / 2, weights / 2 * (nodes + 1) / 2  # Jacobian r dr
    angle = np.linspace(0, 2 * np.pi, 160, endpoint=False)
    unit = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    y = np.asarray(observed, float) + (radius[:, None, None] * unit) * np.asarray(semi_axes)
    y, w = y.reshape(-1, 2), np.repeat(weights, len(angle))
    diff = y - m0
    w = w * np.exp(-0.5 * np.einsum("ni,ij,nj->n", diff, np.linalg.inv(predictive), diff))
    w /= w.sum()
    ybar = w @ y
    vy = ((y - ybar) * w[:, None]).T @ (y - ybar)
    gain = s0 @ np.linalg.inv(predictive)
    return m0 + gain @ (ybar - m0), s0 - gain @ s0 + gain @ vy @ gain.T


# 1, 2 and 4: an informative Normal prior carrying as much precision as the data.
# Prior N(0, 2^2), one observation xbar ~ N(mu, 2^2) at 4: the exact (epsilon -> 0) posterior
# is N(2, 2), halfway between prior mean and observation, sd 1.414. Prior sd 2 also makes the
# variance (4) differ from the sd, so a Normal density that uses one for the other is wrong.
INFORMATIVE = NormalMean(prior_mean=0.0, prior_sd=2.0, sd=2.0, n_obs=1)


def check_informative_prior_pmc(kernel, seed):
    pmc = PMCABC(
        INFORMATIVE.prior,
        INFORMATIVE,
        n_particles=2000,
        generations=6,
        kernel=kernel,
        batch_size=2000,
        engine="numpy",
        progress=False,
    )
    posterior = pmc.run([4.0], seed=seed)
    ess = posterior.ess
    assert posterior.epsilon < 0.5  # at 0.5 the ABC posterior still has mean 1.98, var 2.02
    assert posterior.ess > MIN_ESS_SHARE * 2000, posterior.ess
    assert (posterior.history["ess"] > MIN_ESS_SHARE * 2000).all()
    mean, var = INFORMATIVE.abc_moments(4.0, posterior.epsilon)
    got_mean, got_var = posterior.mean()["mu"], posterior.cov().iloc[0, 0]
    assert_mean_and_var(got_mean, got_var, mean, var, posterior.ess, PMC_TOLERANCE)
    errors = [
        (got_mean - mean) / math.sqrt(var / ess),
        (got_var - var) / (var * math.sqrt(2 / ess)),
    ]
    return np.array(errors), posterior


@pytest.mark.parametrize("kernel", ["gaussian", "olcm"])
def test_pmc_with_an_informative_normal_prior_matches_the_exact_abc_posterior(kernel):
    """PMC weights must carry the prior density, and the Normal density must use its sd.

    Truth: ``NormalMean.abc_moments`` (quadrature of prior x P(|xbar - 4| <= epsilon | mu))
    at the final epsilon (0.25 to 0.35): mean 1.99, var 2.01. ESS about 1,200 of 2,000, so
    one nominal MC error of the mean is 1.42 / sqrt(1200) = 0.041.
    Tolerance: 5.5 nominal MC errors (0.23) for the mean, 5.5 * var * sqrt(2 / ESS) for the
    variance; ESS > 500 in every generation.
    Bug 1, weights without the prior (``log_w = -log q``): the target becomes the flat-prior
    ABC posterior, mean 4, var 4: a shift of 2.0, measured 56 to 63 MC errors (means 3.91 to
    4.07; the ESS rises, so the ESS bound does not help it).
    Bug 2, Normal log density with the variance as the sd: the weights use a N(0, 16) prior
    while generation 0 samples N(0, 4): mean 4 * 16 / 20 = 3.2, a shift of 1.2, measured 32
    to 35 MC errors.
    Seeds 1-50 checked for both kernels: largest |error| 3.7 nominal MC errors for the mean
    and 3.9 for the variance; smallest ESS 1,121.
    """
    check_informative_prior_pmc(kernel, seed=3)


# 6: a correlated 2-D conjugate model: theta ~ MVN(0, [[4, 3], [3, 4]]), y ~ N(theta, I).
MVN_PRIOR_MEAN, MVN_PRIOR_COV = np.zeros(2), np.array([[4.0, 3.0], [3.0, 4.0]])
MVN_OBSERVED = np.array([2.0, -1.0])


def mvn_model(theta, rng):
    return theta + rng.standard_normal(theta.shape)


def check_correlated_multivariate_pmc(seed):
    prior = Prior(theta=MultivariateNormal(MVN_PRIOR_MEAN, MVN_PRIOR_COV))
    pmc = PMCABC(
        prior,
        mvn_model,
        n_particles=2000,
        generations=8,
        batch_size=2000,
        engine="numpy",
        progress=False,
    )
    posterior = pmc.run(MVN_OBSERVED, seed=seed)
    ess = posterior.ess
    assert ess > MIN_ESS_SHARE * 2000, ess
    assert (posterior.history["ess"] > MIN_ESS_SHARE * 2000).all()
    eps = posterior.epsilon
    assert eps < 0.6
    mean, cov = gaussian_abc_moments(
        MVN_PRIOR_MEAN, MVN_PRIOR_COV, np.eye(2), MVN_OBSERVED, [eps, eps]
    )
    got_mean, got_cov = posterior.mean().to_numpy(), posterior.cov().to_numpy()
    mean_se = np.sqrt(np.diag(cov) / ess)
    # A sample covariance entry's sd is sqrt((C_ij^2 + C_ii C_jj) / n) for Gaussian draws.
    cov_se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / ess)
    assert (np.abs(got_mean - mean) < PMC_TOLERANCE * mean_se).all(), (got_mean, mean)
    assert (np.abs(got_cov - cov) < PMC_TOLERANCE * cov_se).all(), (got_cov, cov)
    errors = np.concatenate([(got_mean - mean) / mean_se, ((got_cov - cov) / cov_se).ravel()])
    return errors, posterior


def test_pmc_with_a_correlated_multivariate_normal_prior_matches_the_exact_abc_posterior():
    """A correlated MultivariateNormal prior and Gaussian data: exact mean and covariance.

    Exact posterior (epsilon -> 0): K = S0 (S0 + I)^-1 = [[11, 3], [3, 11]] / 16, mean
    K y = (1.1875, -0.3125), covariance S0 - K S0 = [[0.6875, 0.1875], [0.1875, 0.6875]]
    (correlation 0.27). The test's truth is the exact ABC posterior at the final epsilon (0.41
    to 0.48, a disc): ``gaussian_abc_moments``, e.g. mean (1.171, -0.300) at 0.4. One nominal
    MC error of a mean is sqrt(0.71 / 1100) = 0.025.
    Tolerance: 5.5 nominal MC errors for each mean and each covariance entry (an entry's
    error is sqrt((C_ij^2 + C_ii C_jj) / ESS)); ESS > 500.
    Bug 1 (weights without the prior): the flat-prior target has mean (2, -1) and covariance
    about I: measured means (2.01, -0.93) and (1.97, -1.02), a shift of over 30 MC errors.
    Seeds 1-50 checked: largest |error| 3.4 nominal MC errors over the 2 means and 4
    covariance entries; smallest ESS 1,025.
    """
    check_correlated_multivariate_pmc(seed=2)


# 6: the automatic ScaledEuclidean pilot fit, on two statistics 1,000 times apart in scale.
# theta = (a, b) ~ N(0, I); s = (a + 0.5 e1, 1000 (b + 0.5 e2)). Prior-predictive sds:
# sqrt(1.25) = 1.118 and 1118, the scales the pilot's MAD estimates.
SCALED_OBSERVED = np.array([1.0, -1000.0])
NOISE_SD = 0.5


def two_scales(theta, rng):
    noisy = theta + NOISE_SD * rng.standard_normal(theta.shape)
    return noisy * np.array([1.0, 1000.0])


def check_scaled_euclidean_pilot(seed):
    prior = Prior(a=Normal(0.0, 1.0), b=Normal(0.0, 1.0))
    abc = RejectionABC(
        prior,
        two_scales,
        ScaledEuclidean(),
        batch_size=10_000,
        engine="numpy",
        keep_statistics=True,
    )
    posterior = abc.run(SCALED_OBSERVED, quantile=0.01, n_simulations=200_000, seed=seed)
    n = len(posterior.samples)
    assert n == 2000
    # The scales the run applied, recovered exactly from distance^2 = sum((s - o)^2 / c^2).
    squares = (posterior.statistics - SCALED_OBSERVED) ** 2
    inverse, *_ = np.linalg.lstsq(squares, posterior.distances**2, rcond=None)
    scales = inverse**-0.5
    # In units of theta the accepted region is an ellipse with semi-axes epsilon * scale / (1,
    # 1000): the draws must follow its exact ABC posterior...
    semi_axes = posterior.epsilon * scales / np.array([1.0, 1000.0])
    mean, cov = gaussian_abc_moments(
        np.zeros(2), np.eye(2), NOISE_SD**2 * np.eye(2), SCALED_OBSERVED / [1, 1000], semi_axes
    )
    got_mean, got_var = posterior.mean().to_numpy(), np.diag(posterior.cov().to_numpy())
    errors = []
    for j in range(2):
        assert_mean_and_var(got_mean[j], got_var[j], mean[j], cov[j, j], n, 4.5)
        errors.append((got_mean[j] - mean[j]) / math.sqrt(cov[j, j] / n))
        errors.append((got_var[j] - cov[j, j]) / (cov[j, j] * math.sqrt(2 / n)))
    # ... which learns both parameters: it is within 0.02 of the exact posterior, (0.8, -0.8)
    # with variances 0.2 (it is about (0.79, -0.79), 0.21 at this epsilon).
    assert np.allclose(mean, [0.8, -0.8], atol=0.02), mean
    assert np.allclose(np.diag(cov), 0.2, atol=0.02), cov
    # 1.4826 * MAD estimates the sd with relative sd 0.0368 for 1,000 pilot draws (MAD's
    # Gaussian efficiency is 0.37: sqrt(1 / (2 * 1000 * 0.37))); 5 of them is 18%.
    expected = math.sqrt(1 + NOISE_SD**2) * np.array([1.0, 1000.0])
    assert (np.abs(scales / expected - 1) < 5 * 0.0368).all(), scales
    return np.array(errors), scales / expected - 1


def test_scaled_euclidean_fitted_on_the_pilot_run_weighs_both_statistics():
    """``ScaledEuclidean()`` without scales: fitted in the run, both parameters are learned.

    Truth: the exact ABC posterior of the ellipse the run accepted (``gaussian_abc_moments``
    with the fitted scales, recovered from the kept statistics and distances); it must be
    within 0.02 of the exact posterior, (0.8, -0.8) with variances 0.2, for both parameters;
    and the fitted scales within 18% (5 standard errors of a MAD of 1,000 pilot draws) of
    1.118 and 1118. The 2,000 rejection draws are independent: tolerance 4.5 MC errors
    (sqrt(0.21 / 2000) = 0.010 for each mean).
    A wrong scaling: unscaled (scales 1, 1), the second statistic takes all of epsilon and
    ``a`` keeps its prior: the target's mean of ``a`` is 0.002 for 0.8, a shift of 80 MC
    errors; scales from the variance instead of the sd fail the scale check (1.26e6 for 1118).
    Seeds 1-50 checked: largest |error| 3.3 MC errors; fitted scales within 11%.
    """
    check_scaled_euclidean_pilot(seed=1)


# 6: RejectionABC with a discrete prior, against its exact ABC posterior by enumeration.
DISCRETE_DRAWS = 20_000


def poisson_counts(theta, rng):
    return rng.poisson(1.0 + theta).astype(np.float64)


def poisson_pmf(k, rate):
    return np.exp(k * math.log(rate) - rate - np.array([math.lgamma(x + 1) for x in k]))


DISCRETE_CASES = {
    # prior, its values and masses, observed count, epsilon (|s - o| <= epsilon on integers)
    "poisson": (Poisson(3.0), np.arange(60.0), poisson_pmf(np.arange(60.0), 3.0), 4.0, 1.0),
    "categorical": (
        Categorical([0.4, 0.3, 0.2, 0.1]),
        np.arange(4.0),
        np.array([0.4, 0.3, 0.2, 0.1]),
        4.0,
        0.5,
    ),
}


def exact_discrete_posterior(values, masses, observed, epsilon):
    """prior(k) * P(|s - observed| <= epsilon | k), s ~ Poisson(1 + k), normalised."""
    counts = np.arange(math.ceil(observed - epsilon), math.floor(observed + epsilon) + 1.0)
    like = np.array([poisson_pmf(counts, 1.0 + k).sum() for k in values])
    posterior = masses * like
    return posterior / posterior.sum()


def check_discrete_rejection(case, seed):
    distribution, values, masses, observed, epsilon = DISCRETE_CASES[case]
    abc = RejectionABC(Prior(k=distribution), poisson_counts, batch_size=5000, engine="numpy")
    posterior = abc.run([observed], epsilon=epsilon, n_samples=DISCRETE_DRAWS, seed=seed)
    exact = exact_discrete_posterior(values, masses, observed, epsilon)
    draws = posterior.samples["k"].to_numpy()
    assert np.isin(draws, values).all()
    share = np.array([(draws == v).mean() for v in values])
    # Each share is a binomial proportion: sd sqrt(p (1 - p) / n). 4.5 sd for the values of
    # mass >= 0.01, and the rest together.
    big = exact >= 0.01
    se = np.sqrt(exact * (1 - exact) / DISCRETE_DRAWS)
    z = (share - exact)[big] / se[big]
    rest = exact[~big].sum()
    rest_se = math.sqrt(rest * (1 - rest) / DISCRETE_DRAWS)
    assert (np.abs(z) < 4.5).all(), (share[big], exact[big])
    assert abs(share[~big].sum() - rest) <= 4.5 * rest_se, (share[~big].sum(), rest)
    return z, posterior


@pytest.mark.parametrize("case", sorted(DISCRETE_CASES))
def test_rejection_with_a_discrete_prior_matches_enumeration(case):
    """Poisson(3) or Categorical([0.4, 0.3, 0.2, 0.1]) prior on k; s ~ Poisson(1 + k).

    Truth by enumeration: prior(k) * P(|s - 4| <= epsilon | k), normalised. Poisson case,
    epsilon 1 (s in {3, 4, 5}, the boundary included): posterior masses of k = 0..6 are
    0.009, 0.108, 0.261, 0.290, 0.195, 0.092, 0.032 (prior 0.050, 0.149, 0.224, 0.224, 0.168,
    0.101, 0.050). Categorical case, epsilon 0.5 (s = 4): 0.071, 0.313, 0.389, 0.226 against
    the prior 0.4, 0.3, 0.2, 0.1.
    Tolerance: 4.5 binomial sds (sqrt(p (1 - p) / 20000)) per value of mass >= 0.01, and for
    the rest together.
    Bugs: ``distance < epsilon`` instead of ``<=`` in the batch accepts only s = 4 in the
    Poisson case: the mass of k = 1 goes from 0.108 to 0.093, measured 7.6 sds; a sampler
    that draws the Categorical uniformly puts 0.417 at k = 3 for 0.226 (65 sds).
    Seeds 1-50 checked for both cases: largest |error| 3.2 sds.
    """
    check_discrete_rejection(case, seed=1)


def test_budget_exhausted_in_pmc_generation_0_is_raised_with_its_message():
    """Generation 0 has no earlier generation to fall back on: the budget error is raised.

    Five batches of 100 prior draws (epsilon inf accepts all) leave 500 of the 1,000 particles.
    """
    model = NormalMean()
    pmc = PMCABC(
        model.prior,
        model,
        n_particles=1000,
        batch_size=100,
        max_simulations=500,
        engine="numpy",
        progress=False,
    )
    with pytest.raises(
        BudgetExhausted,
        match=r"^max_simulations=500 was reached with 500 of 1,000 particles accepted in 500 "
        r"simulations: acceptance rate 1, so the request needs about 1e\+03 simulations; "
        r"raise epsilon or max_simulations\.$",
    ) as raised:
        pmc.run([0.5], seed=1)
    assert isinstance(raised.value, ValueError)
