"""scipy.stats priors: wrapped by `Prior`, drawn from the batch's rng, exact in PMC, rejection."""

import math

import numpy as np
import pytest
from helpers import assert_same_posterior
from test_power import (
    INFORMATIVE,
    MIN_ESS_SHARE,
    PMC_TOLERANCE,
    assert_mean_and_var,
    exact_discrete_posterior,
    poisson_counts,
    poisson_pmf,
)

from abcspark import PMCABC, Normal, Prior, RejectionABC
from abcspark.priors import ScipyDistribution

stats = pytest.importorskip("scipy.stats")


def test_a_frozen_scipy_distribution_becomes_a_component_with_its_support():
    prior = Prior(mu=stats.norm(170, 10), k=stats.poisson(3), t=stats.truncnorm(-1, 2, loc=5))
    assert isinstance(prior.components["mu"], ScipyDistribution)
    assert prior.names == ["mu", "k", "t"] and prior.discrete_names == ["k"]
    np.testing.assert_array_equal(prior.bounds(), [[-np.inf, np.inf], [0, np.inf], [4, 7]])
    assert prior.to_dict()["t"] == {
        "type": "ScipyDistribution",
        "name": "truncnorm",
        "args": [-1.0, 2.0],
        "kwds": {"loc": 5.0},
    }
    assert Prior(t=stats.truncnorm(-1, 2, loc=5)) == Prior(t=stats.truncnorm(-1, 2, loc=5))
    assert Prior(t=stats.truncnorm(-1, 2, loc=5)) != Prior(t=stats.truncnorm(-1, 2, loc=6))


def test_draws_come_from_the_given_rng_and_densities_from_scipy():
    frozen = stats.gamma(2.5, scale=3.0)
    prior = Prior(x=frozen)
    draws = prior.sample(1000, np.random.default_rng(5))
    np.testing.assert_array_equal(
        draws[:, 0], frozen.rvs(1000, random_state=np.random.default_rng(5))
    )
    np.testing.assert_array_equal(prior.log_pdf(draws), frozen.logpdf(draws[:, 0]))
    assert prior.log_pdf([[-1.0]])[0] == -np.inf
    counts = Prior(k=stats.poisson(3))
    np.testing.assert_allclose(counts.log_pdf([[2.0]]), np.log(poisson_pmf(np.array([2.0]), 3.0)))
    assert counts.log_pdf([[2.5]])[0] == -np.inf and counts.log_pdf([[-1.0]])[0] == -np.inf
    truncated = Prior(t=stats.truncnorm(-1, 2))
    assert not truncated.in_support([[2.5]])[0] and truncated.in_support([[1.5]])[0]


@pytest.mark.parametrize(
    "value, error, match",
    [
        (stats.norm, TypeError, r"frozen univariate distribution .*scipy.stats.norm\(0, 1\)"),
        (
            stats.multivariate_normal([0, 0]),
            TypeError,
            "use abcspark.MultivariateNormal for a vector",
        ),
        (stats.norm([0, 1], 1), ValueError, r"must be real scalars \(got \[0, 1\]\)"),
        (stats.norm(0, -1), ValueError, r"invalid parameters .*support \(nan, nan\)"),
        (stats.norm(0, np.inf), ValueError, "must be real scalars"),
    ],
)
def test_a_scipy_object_that_is_not_a_usable_prior_is_refused(value, error, match):
    with pytest.raises(error, match=match):
        Prior(x=value)


def informative_pmc(prior, **options):
    settings = dict(n_particles=2000, generations=6, batch_size=2000, progress=False)
    return PMCABC(prior, INFORMATIVE, **{**settings, **options})


def test_pmc_with_a_scipy_prior_matches_the_exact_abc_posterior_and_the_own_prior():
    """scipy.stats.norm(0, 2) in place of Normal(0, 2): the same exact answer.

    Truth and tolerance as in ``test_power``'s informative-prior test (``NormalMean``'s
    quadrature at the final epsilon; 5.5 nominal MC errors; ESS > 500 every generation).
    A wrapper that used ``pdf`` for ``logpdf`` ruins the importance weights: measured, a
    generation's ESS falls under the 500 bound. One that drew from its own generator would
    still pass here, but not the rng and bit-identity tests.
    """
    runs = {
        "scipy": informative_pmc(Prior(mu=stats.norm(0, 2)), engine="numpy").run([4.0], seed=3),
        "own": informative_pmc(Prior(mu=Normal(0, 2)), engine="numpy").run([4.0], seed=3),
    }
    for posterior in runs.values():
        assert (posterior.history["ess"] > MIN_ESS_SHARE * 2000).all()
        assert posterior.epsilon < 0.5
        mean, var = INFORMATIVE.abc_moments(4.0, posterior.epsilon)
        got_mean, got_var = posterior.mean()["mu"], posterior.cov().iloc[0, 0]
        assert_mean_and_var(got_mean, got_var, mean, var, posterior.ess, PMC_TOLERANCE)
    gap = runs["scipy"].mean()["mu"] - runs["own"].mean()["mu"]
    se = math.sqrt(sum(p.cov().iloc[0, 0] / p.ess for p in runs.values()))
    assert abs(gap) < PMC_TOLERANCE * se, (gap, se)


def test_rejection_with_a_scipy_poisson_prior_matches_enumeration():
    """Poisson(3) prior on k, s ~ Poisson(1 + k), |s - 4| <= 1: as ``test_power``'s case.

    Tolerance: 4.5 binomial sds per value of k with mass >= 0.01 (20,000 draws).
    """
    abc = RejectionABC(Prior(k=stats.poisson(3)), poisson_counts, batch_size=5000, engine="numpy")
    posterior = abc.run([4.0], epsilon=1.0, n_samples=20_000, seed=1)
    values = np.arange(60.0)
    exact = exact_discrete_posterior(values, poisson_pmf(values, 3.0), 4.0, 1.0)
    draws = posterior.samples["k"].to_numpy()
    share = np.array([(draws == v).mean() for v in values])
    big = exact >= 0.01
    z = (share - exact)[big] / np.sqrt(exact * (1 - exact) / 20_000)[big]
    assert (np.abs(z) < 4.5).all(), (share[big], exact[big])


def test_a_scipy_prior_gives_the_same_posterior_bit_for_bit_on_every_engine(spark):
    prior = Prior(mu=stats.norm(0, 2))
    reference = informative_pmc(prior, engine="numpy", generations=3).run([4.0], seed=11)
    for parallelism in (1, 2, 4):
        pmc = informative_pmc(prior, spark=spark, parallelism=parallelism, generations=3)
        assert_same_posterior(pmc.run([4.0], seed=11), reference)
