"""The maps to the real line, PMC's proposal through them (``transform``), and its errors."""

import math

import numpy as np
import pytest

from abcspark import APMCABC, PMCABC, LogNormal, Normal, Poisson, Prior, Uniform
from abcspark.kernels import GaussianKernel
from abcspark.transforms import UnboundedProposal, log_jacobian, mapped_bounds, to_unbounded

BOUNDS = {
    "box": (2.0, 7.0),
    "lower": (1.0, math.inf),
    "upper": (-math.inf, 5.0),
}


def proposal(low: float, high: float) -> UnboundedProposal:
    """A Silverman kernel fitted to 50 particles on the real line, mapped to (low, high)."""
    bounds = np.array([[low, high]])
    rng = np.random.default_rng(3)
    inside = np.clip(rng.normal(3.0, 1.0, (50, 1)), max(low, -50) + 0.2, min(high, 50) - 0.2)
    weights = rng.uniform(0.5, 1.5, 50)
    weights /= weights.sum()
    inner = GaussianKernel("silverman").fit(to_unbounded(inside, bounds), weights, None, 1.0)
    return UnboundedProposal(inner, bounds)


def integral(y: np.ndarray, x: np.ndarray) -> float:
    """The trapezoid rule (numpy 1 and 2 name theirs differently)."""
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def grid(low: float, high: float) -> np.ndarray:
    """Points that resolve the density on the support, with the tails out to where it is nil."""
    low = low if math.isfinite(low) else -1e4
    high = high if math.isfinite(high) else 1e4
    near = np.linspace(low, high, 400_001) if high - low < 100 else np.empty(0)
    tails = np.concatenate(
        [
            low + np.geomspace(1e-12, high - low, 200_001),
            high - np.geomspace(1e-12, high - low, 200_001),
        ]
    )
    return np.unique(np.concatenate([near, tails]))[1:-1]


@pytest.mark.parametrize("support", list(BOUNDS))
def test_the_density_on_the_support_integrates_to_one(support):
    """Without the Jacobian the inner density, read on the support, would not integrate to 1
    (for the box by a factor of about the width's inverse)."""
    low, high = BOUNDS[support]
    theta = grid(low, high)
    density = np.exp(proposal(low, high).log_density(theta[:, None]))
    assert integral(density, theta) == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize("support", list(BOUNDS))
def test_draws_stay_inside_the_support_and_follow_the_density(support):
    low, high = BOUNDS[support]
    q = proposal(low, high)
    draws = q.sample(200_000, np.random.default_rng(5))[:, 0]
    assert ((draws > low) & (draws < high)).all()
    # P(theta <= median of the draws) is 1/2 under the density: integrate it up to there.
    theta = grid(low, high)
    theta = theta[theta <= np.median(draws)]
    mass = integral(np.exp(q.log_density(theta[:, None])), theta)
    assert mass == pytest.approx(0.5, abs=0.005)


def test_the_jacobian_of_a_box_a_lower_and_an_upper_bound_and_none():
    bounds = np.array([[0.0, 4.0], [1.0, math.inf], [-math.inf, 2.0], [-math.inf, math.inf]])
    theta = np.array([[1.0, 3.0, 0.5, 7.0]])
    # d/dtheta logit(theta / 4) = 1 / (theta (1 - theta / 4)); log(theta - 1); -log(2 - theta).
    expected = -math.log(1.0 * 0.75) - math.log(2.0) - math.log(1.5) + 0.0
    assert log_jacobian(theta, bounds)[0] == pytest.approx(expected, rel=1e-12)


OBSERVED = 0.3
SD = 0.3


def simulate(theta, rng):
    return theta + rng.normal(0.0, SD, size=theta.shape)


def abc_moments(epsilon: float) -> tuple:
    """Mean and variance of the ABC posterior on U(0, 10) at ``epsilon``, by quadrature."""
    from math import erf

    mu = np.linspace(0.0, 10.0, 200_001)
    cdf = np.vectorize(lambda x: 0.5 * (1 + erf(x / (SD * math.sqrt(2)))))
    density = cdf(OBSERVED + epsilon - mu) - cdf(OBSERVED - epsilon - mu)
    mass = integral(density, mu)
    mean = integral(mu * density, mu) / mass
    return mean, integral((mu - mean) ** 2 * density, mu) / mass


def test_pmc_with_every_bound_mapped_finds_the_abc_posterior_by_a_bound():
    """The observation sits by the prior's lower bound, where the logit's Jacobian changes
    several-fold across the posterior: weights without it would pull the mean up, far past
    Monte Carlo error. Every proposal is inside the support, so none is free."""
    pmc = PMCABC(
        Prior(mu=Uniform(0.0, 10.0)),
        simulate,
        n_particles=2000,
        epsilons=[math.inf, 1.0, 0.5, 0.2],
        transform="all",
        engine="numpy",
        progress=False,
    )
    post = pmc.run([OBSERVED], seed=4)
    mean, var = abc_moments(0.2)
    n = post.ess
    assert abs(float(post.mean()["mu"]) - mean) < 4 * math.sqrt(var / n)
    assert abs(float(post.cov().iloc[0, 0]) - var) < 4 * var * math.sqrt(2 / (n - 1))
    history = post.history.iloc[1:]
    assert (history["n_proposals"] == history["n_simulations"]).all()  # none outside
    assert post.metadata["settings"]["transform"] == "all"


def test_transform_is_bit_identical_on_spark(spark):
    options = dict(n_particles=200, epsilons=[math.inf, 1.0, 0.5], transform="all")
    prior = Prior(mu=Uniform(0.0, 10.0))
    local = PMCABC(prior, simulate, engine="numpy", **options).run([OBSERVED], seed=9)
    on_spark = PMCABC(prior, simulate, spark=spark, parallelism=2, **options).run(
        [OBSERVED], seed=9
    )
    np.testing.assert_array_equal(local.samples.to_numpy(), on_spark.samples.to_numpy())
    np.testing.assert_array_equal(local.weights, on_spark.weights)


def test_transform_rejects_bad_values():
    prior = Prior(mu=Uniform(0.0, 10.0))
    for bad in ("yes", True, "logit"):
        with pytest.raises(ValueError, match=r"transform must be 'log', 'all' or 'none' \(got"):
            PMCABC(prior, simulate, transform=bad, engine="numpy")
    mixed = Prior(mu=Uniform(0.0, 10.0), k=Poisson(3.0))
    with pytest.raises(ValueError, match="this prior has discrete ones; pass transform='none'"):
        PMCABC(mixed, simulate, transform="log", engine="numpy")
    assert PMCABC(mixed, simulate, engine="numpy").transform == "none"  # the default there
    assert PMCABC(prior, simulate, engine="numpy").transform == "log"


def test_the_default_maps_only_parameters_bounded_on_one_side():
    bounds = np.array([[0.0, 4.0], [1.0, math.inf], [-math.inf, 2.0], [-math.inf, math.inf]])
    one_sided = [[-math.inf, math.inf], [1.0, math.inf], [-math.inf, 2.0], [-math.inf, math.inf]]
    np.testing.assert_array_equal(mapped_bounds(bounds, "log"), one_sided)
    np.testing.assert_array_equal(mapped_bounds(bounds, "all"), bounds)
    assert mapped_bounds(bounds, "none") is None
    assert mapped_bounds(bounds[[0, 3]], "log") is None  # a box and the real line: nothing
    assert mapped_bounds(bounds[[3]], "all") is None


def test_a_positive_parameter_is_proposed_on_the_log_scale_by_default():
    """LogNormal prior: every proposal of the default is positive, so none is free; with
    transform='none' some fall below 0 and are dropped before simulating. The posterior is the
    ABC posterior at the last epsilon (quadrature), within Monte Carlo error."""
    prior = Prior(mu=LogNormal(0.0, 1.0))
    options = dict(n_particles=2000, epsilons=[math.inf, 1.0, 0.5, 0.2], engine="numpy")
    post = PMCABC(prior, simulate, **options).run([OBSERVED], seed=6)
    history = post.history.iloc[1:]
    assert (history["n_proposals"] == history["n_simulations"]).all()
    plain = PMCABC(prior, simulate, transform="none", **options).run([OBSERVED], seed=6)
    assert (plain.history["n_proposals"] > plain.history["n_simulations"]).iloc[1:].any()
    mu = np.linspace(1e-9, 30.0, 600_001)
    log_prior = -np.log(mu) - 0.5 * np.log(mu) ** 2
    cdf = np.vectorize(lambda x: 0.5 * (1 + math.erf(x / (SD * math.sqrt(2)))))
    density = np.exp(log_prior) * (cdf(OBSERVED + 0.2 - mu) - cdf(OBSERVED - 0.2 - mu))
    mass = integral(density, mu)
    mean = integral(mu * density, mu) / mass
    var = integral((mu - mean) ** 2 * density, mu) / mass
    assert abs(float(post.mean()["mu"]) - mean) < 4 * math.sqrt(var / post.ess)


def test_a_prior_with_no_bound_on_one_side_only_is_not_mapped():
    """Boxes and unbounded parameters: the default 'log' proposes as 'none' does, bit for bit."""
    prior = Prior(mu=Uniform(0.0, 10.0), nu=Normal(0.0, 3.0))

    def two(theta, rng):
        return theta + rng.normal(0.0, SD, size=theta.shape)

    options = dict(n_particles=100, epsilons=[math.inf, 2.0, 1.0], engine="numpy")
    by_default = PMCABC(prior, two, **options).run([OBSERVED, 1.0], seed=3)
    plain = PMCABC(prior, two, transform="none", **options).run([OBSERVED, 1.0], seed=3)
    np.testing.assert_array_equal(by_default.samples.to_numpy(), plain.samples.to_numpy())
    np.testing.assert_array_equal(by_default.weights, plain.weights)
    # Nothing mapped, nothing recorded: a checkpoint saved before the option still resumes.
    assert "transform" not in by_default.metadata["settings"]


def test_apmc_maps_nothing_by_default_and_the_log_scale_on_request():
    """APMC fits the same kernels. By default (measured, README) nothing is mapped and some
    proposals of its LogNormal parameter fall below 0; with 'log' none does, none is free."""
    prior = Prior(mu=LogNormal(0.0, 1.0))
    options = dict(n_particles=400, max_simulations=6000, engine="numpy", progress=False)
    plain = APMCABC(prior, simulate, **options).run([OBSERVED], seed=2)
    assert (plain.history["n_proposals"] > plain.history["n_simulations"]).iloc[1:].any()
    assert "transform" not in plain.metadata["settings"]
    post = APMCABC(prior, simulate, transform="log", **options).run([OBSERVED], seed=2)
    later = post.history.iloc[1:]
    assert len(later) and (later["n_proposals"] == later["n_simulations"]).all()
    assert post.metadata["settings"]["transform"] == "log"
    with pytest.raises(ValueError, match=r"transform must be 'log', 'all' or 'none' \(got 1\)"):
        APMCABC(prior, simulate, transform=1, engine="numpy")
