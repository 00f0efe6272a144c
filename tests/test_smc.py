"""SMCABC: the conjugate answer, the ESS-driven epsilons, bit-identity, resume, counts, errors."""

import math

import numpy as np
import pytest
from helpers import assert_same_posterior

from abcspark import AdaptiveEuclidean, Callback, Poisson, Prior, Uniform, kernels
from abcspark.algorithms.smc import SMCABC
from abcspark.examples import NormalMean
from abcspark.rng import batch_rng
from abcspark.smc_weights import epsilon_for_ess, ess_at, resample

MODEL = NormalMean(prior_mean=0.0, prior_sd=2.0, sd=1.0, n_obs=10)
OBSERVED = [0.8]
SHORT = dict(n_particles=200, n_datasets=2, alpha=0.7, batch_size=30, generations=3)
"""Blocks of 30 (the last one partial), two datasets each: step 1 leaves particles of weight 0
unmoved, step 2 resamples."""


def smc(**options):
    return SMCABC(MODEL.prior, MODEL, progress=False, **{"engine": "numpy", **options})


def distinct_ess(posterior):
    """The ESS of the weights summed over identical particles: resampled copies count once."""
    _, which = np.unique(posterior.samples.to_numpy(), axis=0, return_inverse=True)
    summed = np.bincount(which.ravel(), posterior.weights)
    return 1.0 / np.sum(summed**2)


@pytest.mark.parametrize(("n_particles", "n_datasets"), [(1000, 1), (500, 3)])
def test_conjugate_posterior_at_a_small_epsilon(n_particles, n_datasets):
    posterior = smc(n_particles=n_particles, n_datasets=n_datasets, min_epsilon=0.1).run(
        OBSERVED, seed=3
    )
    assert posterior.metadata["stop_reason"] == "min_epsilon" and posterior.epsilon == 0.1
    mean, var = MODEL.abc_moments(OBSERVED[0], posterior.epsilon)
    size = distinct_ess(posterior)
    assert abs(posterior.mean()["mu"] - mean) < 4 * math.sqrt(var / size)
    assert abs(posterior.cov().iloc[0, 0] - var) < 4 * var * math.sqrt(2 / (size - 1))
    assert (posterior.distances <= posterior.epsilon).all()  # weight 0 ones are left out


def test_each_step_lowers_the_ess_by_alpha():
    alpha, n = 0.8, 400
    history = smc(n_particles=n, alpha=alpha, min_epsilon=0.3).run(OBSERVED, seed=5).history
    ess = history["ess"].to_numpy()
    carried = np.where(ess < 0.5 * n, n, ess)[:-2]  # after resampling: n equal weights
    ratio = ess[1:-1] / carried  # the last step stops at min_epsilon, above the target
    # One particle, one dataset: the ESS counts the live particles, so the smallest distance
    # that reaches alpha overshoots it by less than one particle.
    assert (ratio >= alpha - 1e-12).all() and (ratio < alpha + 1 / carried).all()
    assert (ess[:-1] < 0.5 * n).sum() >= 2  # resampled twice at least
    assert np.all(np.diff(history["epsilon"]) < 0)


def test_the_bisection_finds_where_the_ess_crosses_the_target():
    rng = batch_rng(0, 0, 0)
    distances = rng.exponential(size=(300, 4))
    distances[rng.random(distances.shape) < 0.05] = np.nan  # failed simulations
    weights = rng.random(300)
    weights[:20] = 0.0
    weights /= weights.sum()
    previous = 2.5
    target = 0.6 * ess_at(distances, weights, previous, previous)
    epsilon = epsilon_for_ess(distances, weights, previous, target)
    below = np.unique(distances[weights > 0])
    below = below[below < epsilon]
    assert epsilon <= previous and epsilon in distances
    assert ess_at(distances, weights, epsilon, previous) >= target
    assert ess_at(distances, weights, below[-1], previous) < target


def test_resampling_keeps_each_particle_its_share():
    weights = batch_rng(1, 2, 1).random(50) * (np.arange(50) % 7 > 0)  # some weights 0
    weights /= weights.sum()
    counts = np.bincount(resample(weights, batch_rng(1, 2, 0), "systematic"), minlength=50)
    assert (np.abs(counts - 50 * weights) < 1).all() and (counts[weights == 0] == 0).all()
    weights = np.array([0.05, 0.0, 0.35, 0.6])
    draws = resample(np.repeat(weights, 2500) / 2500, batch_rng(1, 2, 0), "multinomial")
    share = np.bincount(draws // 2500, minlength=4) / 10_000
    assert (np.abs(share - weights) <= 4 * np.sqrt(weights * (1 - weights) / 10_000)).all()


class StopAfterGeneration(Callback):
    """Raises after step ``last``: a run killed between two steps."""

    def __init__(self, last):
        self.last = last

    def on_generation(self, record):
        if record.generation == self.last:
            raise KeyboardInterrupt(f"stopped after step {self.last}")


def assert_same_run(a, b):
    assert_same_posterior(a, b)
    for column in ("ess", "acceptance_rate", "n_proposals"):
        np.testing.assert_array_equal(a.history[column], b.history[column])
    np.testing.assert_array_equal(a.statistics, b.statistics)


def test_bit_identical_on_every_engine_and_after_a_resume(spark, tmp_path):
    reference = smc(keep_statistics=True, **SHORT).run(OBSERVED, seed=7)
    assert len(reference.history) == SHORT["generations"]
    resampled = reference.history["ess"] < 0.5 * SHORT["n_particles"]
    assert resampled.tolist() == [False, False, True]
    for parallelism in (1, 2, 4):
        on_spark = dict(engine="spark", spark=spark, parallelism=parallelism)
        run = smc(keep_statistics=True, **on_spark, **SHORT).run(OBSERVED, seed=7)
        assert_same_run(run, reference)
    path = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        smc(keep_statistics=True, **SHORT).run(
            OBSERVED, seed=7, checkpoint=path, callbacks=[StopAfterGeneration(1)]
        )
    resumed = smc(keep_statistics=True, **SHORT).run(OBSERVED, seed=7, checkpoint=path)
    assert_same_run(resumed, reference)


def test_statistics_are_those_of_each_particles_nearest_dataset():
    posterior = smc(keep_statistics=True, **SHORT).run(OBSERVED, seed=2)
    np.testing.assert_allclose(
        np.abs(posterior.statistics[:, 0] - OBSERVED[0]), posterior.distances, rtol=1e-12
    )


def test_the_simulation_count_is_the_simulators_own():
    calls = []

    def counted(theta, rng):
        calls.append(len(theta))
        return MODEL(theta, rng)

    prior = Prior(mu=Uniform(0.6, 3.0))  # the posterior presses on 0.6: moves leave the support
    budget = 4000
    posterior = SMCABC(
        prior, counted, n_particles=200, n_datasets=2, max_simulations=budget, engine="numpy"
    ).run(OBSERVED, seed=4)
    meta, history = posterior.metadata, posterior.history
    assert sum(calls) == meta["n_simulations"] + meta["n_driver_simulations"]
    assert meta["n_simulations"] == history["n_simulations"].sum() <= budget
    assert meta["stop_reason"] == "max_simulations"
    moves = history["n_proposals"].iloc[1:] * 2
    assert (history["n_simulations"].iloc[1:] < moves).any()  # outside the support: free
    assert budget - meta["n_simulations"] < 2 * 200  # what is left cannot buy a move


def test_stop_on_the_acceptance_rate():
    posterior = smc(n_particles=200, min_acceptance_rate=0.3).run(OBSERVED, seed=2)
    rates = posterior.history["acceptance_rate"]
    assert posterior.metadata["stop_reason"] == "min_acceptance_rate"
    assert rates.iloc[-1] < 0.3 and (rates.iloc[:-1] >= 0.3).all()


def test_per_parameter_simulators_and_multinomial_resampling_run():
    def one(theta, rng):
        return MODEL(theta[None, :], rng)[0]

    posterior = SMCABC(
        MODEL.prior,
        one,
        lambda x, y: float(abs(x[0] - y[0])),
        vectorized=False,
        resampling="multinomial",
        n_particles=100,
        generations=8,
        engine="numpy",
    ).run(OBSERVED, seed=1)
    assert len(posterior.history) == 8 and posterior.epsilon < posterior.history["epsilon"][1]


class PerParticle(kernels.Kernel):
    def fit(self, particles, weights, distances, epsilon):
        return kernels.OLCMKernel().fit(particles, weights, distances, epsilon)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (dict(n_datasets=0), "n_datasets must be a positive int"),
        (dict(alpha=1.0), r"alpha must be a number in \(0, 1\)"),
        (dict(alpha=0), r"alpha must be a number in \(0, 1\)"),
        (dict(resample_threshold=1.5), r"resample_threshold must be a number in \[0, 1\]"),
        (dict(resampling="stratified"), "resampling must be one of"),
        (dict(kernel="olcm"), "kernel must be a symmetric random walk"),
        (dict(n_particles=1), "n_particles must be at least 2"),
        (dict(n_datasets=5, max_simulations=4000), "max_simulations must be at least"),
        (dict(distance=AdaptiveEuclidean()), "distance must keep its scales"),
        (dict(min_acceptance_rate=2), r"min_acceptance_rate must be a number in \[0, 1\]"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        smc(**options)


def test_a_discrete_prior_and_an_asymmetric_kernel_are_refused():
    with pytest.raises(ValueError, match="the prior's parameters must be continuous"):
        SMCABC(Prior(k=Poisson(3)), MODEL, engine="numpy")
    with pytest.raises(ValueError, match="kernel must fit one covariance for all particles"):
        smc(n_particles=100, kernel=PerParticle()).run(OBSERVED, seed=1)
