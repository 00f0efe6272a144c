"""The discrete kernels on their own: the walk's closed-form steps and the jump, no Spark."""

import math

import numpy as np
import pytest

from abcspark import PMCABC, Poisson, Prior
from abcspark.discrete_kernels import (
    DiscreteJump,
    DiscreteRandomWalk,
    IntegerSteps,
    MixedMixture,
    discrete_gaussian,
    log_normaliser,
    mixed_proposal,
)
from abcspark.kernels import importance_weights

WIDTHS = (0.01, 0.3, 0.5, 0.999, 1.0, 1.7, 3.7, 50.0)
"""Both sides of ``log_normaliser``'s switch at 1 (direct sum, Poisson summation)."""

CATEGORY_PROBS = np.array([0.1, 0.2, 0.3, 0.25, 0.15])


@pytest.mark.parametrize("width", WIDTHS)
def test_the_step_masses_sum_to_one_and_are_the_normalised_gaussian_weights(width):
    steps = np.arange(-math.ceil(40 * width) - 12, math.ceil(40 * width) + 13.0)
    mass = np.exp(IntegerSteps(np.array([width])).log_mass(steps[:, None]))[:, 0]
    direct = np.exp(-0.5 * (steps / width) ** 2)
    assert abs(mass.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(mass, direct / direct.sum(), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("width", (0.3, 1.0, 3.7, 1e6))
def test_the_sampled_steps_follow_the_masses_within_monte_carlo_error(width):
    """Per step ``|count - n p| < 5 sqrt(n p (1 - p))`` where ``n p > 20``, and the pooled rest;
    at width 1e6 (no cell that full), the sd within 5 MC errors (sd / sqrt(2 n)).

    Bug, the acceptance ``exp(-(|y| - h / t)^2 / (2 h^2))`` (h for h^2): the step 0 cell off
    by 237 MC errors at width 0.3, by 64 at 3.7.
    """
    n = 100_000
    drawn = discrete_gaussian(width, n, np.random.default_rng(7))
    steps = np.arange(-math.ceil(12 * width), math.ceil(12 * width) + 1.0)
    if width > 100:
        assert abs(drawn.std() / width - 1.0) < 5 / math.sqrt(2 * n), drawn.std()
        return
    mass = np.exp(IntegerSteps(np.array([width])).log_mass(steps[:, None]))[:, 0]
    counts = (drawn[:, None] == steps[None, :]).sum(axis=0).astype(float)
    full = n * mass > 20
    expected = np.append(n * mass[full], n * mass[~full].sum())
    got = np.append(counts[full], counts[~full].sum() + n - counts.sum())
    p = expected / n
    z = (got - expected) / np.sqrt(n * p * (1 - p) + 1e-300)
    assert (np.abs(z[expected > 0]) < 5).all(), z


def test_a_far_step_has_a_finite_positive_density_and_finite_weights():
    walk = DiscreteRandomWalk().fit(np.zeros((3, 1)), np.full(3, 1 / 3))
    far = walk.log_mass(np.array([[1e6]]))
    assert far[0, 0] == -0.5e12 - log_normaliser(1.0)
    mixture = MixedMixture(np.zeros((3, 1)), np.full(3, 1 / 3), np.array([True]), None, walk)
    theta = np.array([[0.0], [40.0], [1e6]])
    log_q = mixture.log_density(theta)
    assert np.isfinite(log_q).all() and (np.diff(log_q) < 0).all()
    weights = importance_weights(theta, np.zeros(3), mixture)
    assert np.isfinite(weights).all() and weights[-1] == 1.0


def test_the_normaliser_is_continuous_where_its_two_forms_meet():
    below, above = log_normaliser(np.nextafter(1.0, 0.0)), log_normaliser(1.0)
    assert abs(above - below) < 1e-14 and log_normaliser(1e-3) == 0.0


@pytest.mark.parametrize("rate", (1e12, 1e16))
def test_a_poisson_prior_with_a_huge_mean_runs_and_proposes_from_its_population(rate):
    """The walk was a table of 8 sd + 1 steps: Poisson(1e12) 8.7 s and 360 MiB per fit,
    Poisson(1e16) out of memory. Now its width is the population's sd (about sqrt(rate)), its
    proposals are integers of finite positive density, and the weights are finite and even:
    the data say little beyond the prior, so the ESS stays near the 100 particles (97-98 over
    seeds 3-5 at either rate). It was 3.7-37 at 1e16 while the prior's log mass lost tens of
    nats to rounding."""
    sd = math.sqrt(rate)

    def simulate(theta, rng):
        return theta + sd * rng.standard_normal(theta.shape)

    pmc = PMCABC(
        Prior(k=Poisson(rate)),
        simulate,
        n_particles=100,
        batch_size=100,
        epsilons=[np.inf, 2 * sd, sd],
        engine="numpy",
        progress=False,
    )
    posterior = pmc.run(np.array([rate]), seed=3)
    k, weights = posterior.samples["k"].to_numpy(), posterior.weights
    assert np.isfinite(weights).all() and (weights > 0).all() and math.isclose(weights.sum(), 1)
    assert 1 / np.sum(weights**2) > 80
    assert (k >= 0).all() and (k == np.floor(k)).all()
    assert len(posterior.history) == 3
    walk = DiscreteRandomWalk()
    proposal = mixed_proposal(None, walk, np.array([True]), k[:, None], weights, None, sd)
    assert 0.3 * sd < proposal.moves.widths[0] < 3 * sd
    drawn = proposal.sample(1000, np.random.default_rng(1))
    log_q = proposal.log_density(drawn)
    assert np.isfinite(log_q).all() and (drawn == np.floor(drawn)).all()
    assert np.isin(drawn, k).mean() < 0.05  # moved: a settled walk would keep 40%


def weighted_shares(proposal, n, seed):
    """Draws of ``proposal`` weighted by ``Categorical(CATEGORY_PROBS) / proposal``: shares of
    each category and the ESS."""
    drawn = proposal.sample(n, np.random.default_rng(seed))[:, 0]
    inside = (drawn >= 0) & (drawn <= 4)
    log_prior = np.full(n, -np.inf)
    log_prior[inside] = np.log(CATEGORY_PROBS[drawn[inside].astype(int)])
    weights = importance_weights(drawn[:, None], log_prior, proposal)
    shares = np.array([weights[drawn == c].sum() for c in range(5)])
    return shares, 1.0 / (weights**2).sum()


@pytest.mark.parametrize("kernel", (DiscreteRandomWalk(), DiscreteJump(), DiscreteJump(0.0)))
def test_prior_over_proposal_weights_recover_the_prior_so_sampler_and_density_agree(kernel):
    """Importance sampling of a Categorical from a proposal fitted to a population on 1..3:
    shares within 5 MC errors, sqrt(p (1 - p) / ESS). Bugs: the jump's density spread over
    ``others + 1`` values instead of ``others``, category 4's share off by 10.9 MC errors; the
    walk's density 1.2 times as wide as its steps, category 0's off by 18.5."""
    particles = np.array([[1.0], [2.0], [2.0], [3.0]])
    weights = np.array([0.1, 0.4, 0.2, 0.3])
    proposal = mixed_proposal(None, kernel, np.array([True]), particles, weights, None, 1.0)
    shares, ess = weighted_shares(proposal, 40_000, seed=11)
    z = (shares - CATEGORY_PROBS) / np.sqrt(CATEGORY_PROBS * (1 - CATEGORY_PROBS) / ess)
    assert (np.abs(z) < 5).all(), z


def test_the_jump_keeps_with_stay_and_reaches_one_value_beyond_the_population():
    """From 2, with a population on 1..3: stay 0.7, each of 0, 1, 3, 4 at 0.075; sampled
    counts within 5 MC errors of those."""
    jumps = DiscreteJump(stay=0.7).fit(np.array([[1.0], [3.0]]), np.array([0.5, 0.5]))
    values = np.arange(-1.0, 6.0)
    p = np.exp(jumps.log_terms(values[:, None], np.array([[2.0]])))[:, 0]
    np.testing.assert_allclose(p, [0, 0.075, 0.075, 0.7, 0.075, 0.075, 0], rtol=1e-12)
    moved = jumps.sample(np.full((50_000, 1), 2.0), np.random.default_rng(5))[:, 0]
    counts = np.array([(moved == v).sum() for v in values])
    inside = p > 0
    z = (counts - 50_000 * p)[inside] / np.sqrt(50_000 * p * (1 - p))[inside]
    assert (np.abs(z) < 5).all() and counts[~inside].sum() == 0, z
