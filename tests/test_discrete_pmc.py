"""PMC with discrete and mixed parameters: integer steps beside the Gaussian kernel, exact."""

import math

import numpy as np
import pytest
from helpers import assert_same_posterior
from test_power import INFORMATIVE, MIN_ESS_SHARE, PMC_TOLERANCE, poisson_pmf

from abcspark import PMCABC, Kernel, Normal, Poisson, Prior, Uniform
from abcspark.discrete_kernels import DiscreteJump, DiscreteRandomWalk

OBSERVED = np.array([4.0, 6.0])
EPSILONS = [np.inf, 4.0, 2.0, 1.0]
PRIOR = Prior(k=Poisson(3.0), mu=Normal(0.0, 2.0))


def counts_and_shift(theta, rng):
    """``s1 ~ Poisson(1 + k)``, ``s2 = mu + k + N(0, 2^2)``: k and mu correlated a posteriori."""
    counts = rng.poisson(1.0 + theta[:, 0])
    return np.column_stack(
        [counts, theta[:, 1] + theta[:, 0] + 2.0 * rng.standard_normal(len(theta))]
    )


def chebyshev(stats, observed):
    return np.abs(stats - observed).max(axis=1)


def normal_cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def exact_abc_posterior(epsilon):
    """P(k) over k = 0..59, and mu's mean and variance, at the box |s - observed| <= epsilon.

    ``p(k, mu) ~ Poisson(k; 3) N(mu; 0, 4) P(|s1 - 4| <= eps | k) P(|mu + k + e - 6| <= eps)``.
    Given k, mu's part is ``NormalMean``'s ABC posterior at the observation ``6 - k``, whose
    total mass is ``P(|N(0, 8) - (6 - k)| <= eps)``; the rest is enumeration over k.
    """
    ks = np.arange(60.0)
    counts = np.arange(math.ceil(OBSERVED[0] - epsilon), math.floor(OBSERVED[0] + epsilon) + 1)
    first = np.array([poisson_pmf(counts.astype(float), 1.0 + k).sum() for k in ks])
    sd = math.sqrt(8.0)
    second = np.array(
        [
            normal_cdf((OBSERVED[1] - k + epsilon) / sd)
            - normal_cdf((OBSERVED[1] - k - epsilon) / sd)
            for k in ks
        ]
    )
    p_k = poisson_pmf(ks, 3.0) * first * second
    p_k /= p_k.sum()
    likely = p_k > 1e-12
    moments = np.array([INFORMATIVE.abc_moments(OBSERVED[1] - k, epsilon) for k in ks[likely]])
    mean = p_k[likely] @ moments[:, 0]
    var = p_k[likely] @ (moments[:, 1] + moments[:, 0] ** 2) - mean**2
    return ks, p_k, mean, var


def mixed_pmc(**options):
    settings = dict(n_particles=2000, epsilons=EPSILONS, batch_size=2000, progress=False)
    return PMCABC(PRIOR, counts_and_shift, chebyshev, **{**settings, **options})


def check_mixed_pmc(seed, **options):
    posterior = mixed_pmc(engine="numpy", **options).run(OBSERVED, seed=seed)
    ess = posterior.ess
    assert (posterior.history["ess"] > MIN_ESS_SHARE * 2000).all(), posterior.history["ess"]
    ks, p_k, mean, var = exact_abc_posterior(1.0)
    k = posterior.samples["k"].to_numpy()
    share = np.array([posterior.weights[k == value].sum() for value in ks])
    likely = p_k >= 0.01
    z_k = (share - p_k)[likely] / np.sqrt(p_k * (1 - p_k) / ess)[likely]
    got_mean, got_var = posterior.mean()["mu"], posterior.cov().loc["mu", "mu"]
    z_mu = [(got_mean - mean) / math.sqrt(var / ess), (got_var - var) / (var * math.sqrt(2 / ess))]
    return np.concatenate([z_k, z_mu]), posterior


def test_pmc_with_an_integer_and_a_continuous_parameter_matches_the_exact_abc_posterior():
    """k ~ Poisson(3) and mu ~ N(0, 2^2), correlated through s2 = mu + k + noise.

    Truth: ``exact_abc_posterior(1)`` (enumeration over k of closed-form masses and
    ``NormalMean``'s quadrature): P(k = 1..6) = 0.042, 0.173, 0.293, 0.266, 0.149, 0.056; mu's
    mean 1.177, variance 2.484.
    Tolerance: 5.5 nominal MC errors (``test_power``'s PMC unit: sqrt(p (1 - p) / ESS) for a
    probability, sd / sqrt(ESS) and var sqrt(2 / ESS) for mu); ESS > 500 every generation.
    Bug, the proposal density without the integer steps' probabilities (weights from the
    Gaussian part alone): P(k) off by 6.6 to 7.8 nominal errors (3 seeds).
    Seeds 1-10 checked: largest |error| 2.9 nominal MC errors; smallest final ESS 1,267.
    """
    errors, _ = check_mixed_pmc(seed=2)
    assert (np.abs(errors) < PMC_TOLERANCE).all(), errors


def test_the_jump_kernel_matches_the_exact_abc_posterior_too():
    """As above with ``DiscreteJump()`` (keep the count with 0.7, else jump uniformly to
    another count within one of the population's range): the same tolerance. Seeds 1-7
    checked: largest |error| 3.4 nominal MC errors; smallest final ESS 1,207."""
    errors, posterior = check_mixed_pmc(seed=2, discrete_kernel=DiscreteJump())
    assert posterior.metadata["settings"]["discrete_kernel"]["type"] == "DiscreteJump"
    assert (np.abs(errors) < PMC_TOLERANCE).all(), errors


@pytest.mark.parametrize("kernel", [DiscreteRandomWalk(), DiscreteJump()], ids=["walk", "jump"])
def test_a_mixed_prior_gives_the_same_posterior_bit_for_bit_on_every_engine(spark, kernel):
    short = dict(n_particles=300, batch_size=100, epsilons=EPSILONS[:3], discrete_kernel=kernel)
    reference = mixed_pmc(engine="numpy", **short).run(OBSERVED, seed=5)
    assert set(np.unique(reference.samples["k"])) <= set(range(60))
    for parallelism in (1, 2, 3):
        run = mixed_pmc(spark=spark, parallelism=parallelism, **short).run(OBSERVED, seed=5)
        assert_same_posterior(run, reference)


def test_the_discrete_kernel_is_a_setting_only_where_there_are_discrete_parameters():
    assert mixed_pmc(discrete_kernel=DiscreteRandomWalk(scale=2.0)).settings()[
        "discrete_kernel"
    ] == {"type": "DiscreteRandomWalk", "scale": 2.0, "min_width": 1.0}
    continuous = PMCABC(Prior(mu=Uniform(0, 1)), counts_and_shift)
    assert "discrete_kernel" not in continuous.settings()


def test_the_walk_keeps_a_settled_population_moving_and_its_width_follows_the_sd():
    settled = DiscreteRandomWalk().fit(np.full((5, 1), 3.0), np.full(5, 0.2))
    p = np.exp(settled.log_mass(np.array([[-1.0], [0.0], [1.0]])))[:, 0]
    assert settled.widths.tolist() == [1.0]
    assert p[1] < 0.41 and math.isclose(p[0], p[2]) and p[0] > 0.24
    wide = DiscreteRandomWalk(scale=0.5).fit(np.arange(100.0)[:, None], np.full(100, 0.01))
    assert math.isclose(wide.widths[0], 0.5 * np.arange(100.0).std())


class OwnKernel(Kernel):
    def fit(self, particles, weights, distances, epsilon):
        return object()


def test_a_bad_discrete_kernel_is_refused():
    with pytest.raises(TypeError, match="discrete_kernel must be a DiscreteRandomWalk or a Discr"):
        mixed_pmc(discrete_kernel="walk")
    with pytest.raises(ValueError, match="scale"):
        DiscreteRandomWalk(scale=0)
    with pytest.raises(ValueError, match="min_width"):
        DiscreteRandomWalk(min_width=-1)
    with pytest.raises(
        ValueError, match=r"stay must be a number in \[0, 1\) \(got 1\); e.g. stay=0.7"
    ):
        DiscreteJump(stay=1)


def test_a_kernel_that_does_not_fit_a_gaussian_mixture_is_refused_beside_discrete_parameters():
    pmc = mixed_pmc(kernel=OwnKernel(), engine="numpy", n_particles=50, batch_size=50)
    with pytest.raises(TypeError, match="a kernel beside discrete parameters must fit a Gaus"):
        pmc.run(OBSERVED, seed=1)
