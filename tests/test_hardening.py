"""Inputs that used to give a wrong result without a word: each now fails with its message."""

from __future__ import annotations

import numpy as np
import pytest

from abcspark import PMCABC, Prior, RejectionABC, SimulationError, Uniform
from abcspark.examples import NormalMean

MODEL = NormalMean(prior_mean=0.0, prior_sd=2.0, sd=1.0, n_obs=10)
OBSERVED = [0.8]


def test_a_simulator_drawing_from_global_numpy_random_is_refused():
    def global_random(theta, rng):
        return theta + np.random.standard_normal(theta.shape)  # noqa: NPY002 (the bug tested)

    with pytest.raises(SimulationError, match="simulate must draw all its randomness from the rng"):
        RejectionABC(MODEL.prior, global_random, engine="numpy").run(
            OBSERVED, quantile=0.1, n_simulations=1000, seed=1
        )


def test_a_per_parameter_simulator_drawing_from_global_random_is_refused_too():
    def one(theta, rng):
        return float(theta[0] + np.random.standard_normal())  # noqa: NPY002 (the bug tested)

    abc = RejectionABC(
        MODEL.prior, one, lambda s, o: abs(s - o[0]), vectorized=False, engine="numpy"
    )
    with pytest.raises(SimulationError, match="replace np.random"):
        abc.run(OBSERVED, quantile=0.1, n_simulations=1000, seed=1)


def closure(shift):
    def simulate(theta, rng):
        return theta + shift + rng.normal(0.0, 0.3, size=theta.shape)

    return simulate


def test_a_checkpoint_of_another_closure_is_refused(tmp_path):
    settings = dict(n_particles=100, generations=2, engine="numpy", progress=False)
    PMCABC(MODEL.prior, closure(0.0), **settings).run(OBSERVED, seed=1, checkpoint=str(tmp_path))
    same = PMCABC(MODEL.prior, closure(0.0), **settings)
    assert len(same.run(OBSERVED, seed=1, checkpoint=str(tmp_path)).history) == 2
    other = PMCABC(MODEL.prior, closure(1.0), **settings)  # same qualname, another model
    with pytest.raises(ValueError, match="must hold this same problem .*differs in settings"):
        other.run(OBSERVED, seed=1, checkpoint=str(tmp_path))


def test_two_lambdas_have_different_fingerprints():
    def fingerprint_of(simulate):
        abc = RejectionABC(Prior(x=Uniform(0, 1)), simulate, engine="numpy")
        posterior = abc.run([0.5], quantile=0.5, n_simulations=100, seed=1)
        return posterior.metadata["settings"]["simulate"]["fingerprint"]

    a = fingerprint_of(lambda theta, rng: theta + rng.normal(0, 1, theta.shape))
    b = fingerprint_of(lambda theta, rng: theta * 2 + rng.normal(0, 1, theta.shape))
    c = fingerprint_of(lambda theta, rng: theta + rng.normal(0, 1, theta.shape))
    assert a != b and a == c


def test_a_simulator_that_fails_whole_batches_under_skip_stops_with_the_reason():
    def raises_for_the_batch(theta, rng):
        if (theta[:, 0] > 3.0).any():  # about 7% of rows, so nearly every batch of 100
            raise ValueError("diverged")
        return MODEL(theta, rng)

    abc = RejectionABC(MODEL.prior, raises_for_the_batch, engine="numpy", on_error="skip")
    with pytest.raises(
        SimulationError,
        match=r"max_failed_share=0.5 \(got \d+\.\d% of [\d,]+ simulations failed and were "
        r"skipped .*fails its whole batch: return NaN rows",
    ):
        abc.run(OBSERVED, epsilon=0.1, n_samples=500, seed=3)


def test_failures_below_the_share_only_warn(caplog):
    def nan_rows(theta, rng):
        stats = MODEL(theta, rng)
        stats[theta[:, 0] > 0.8] = np.nan  # about 34% of prior draws: over a quarter
        return stats

    abc = RejectionABC(MODEL.prior, nan_rows, engine="numpy", on_error="skip")
    with caplog.at_level("WARNING", logger="abcspark"):
        posterior = abc.run(OBSERVED, epsilon=0.2, n_samples=300, seed=3)
    assert len(posterior.samples) == 300
    assert "failed and were skipped" in caplog.text
    with pytest.raises(ValueError, match=r"max_failed_share must be a number in \[0, 1\]"):
        RejectionABC(MODEL.prior, nan_rows, max_failed_share=1.5)


def test_a_population_of_one_particle_is_refused():
    with pytest.raises(ValueError, match=r"n_particles must be at least 2 \(got 1\)"):
        PMCABC(MODEL.prior, MODEL, n_particles=1, engine="numpy")


def test_a_kernel_that_never_proposes_inside_the_support_stops_with_the_reason():
    prior = Prior(**{f"p{i}": Uniform(0, 1) for i in range(50)})

    def simulate(theta, rng):
        return theta + rng.normal(0.0, 0.1, size=theta.shape)

    pmc = PMCABC(prior, simulate, n_particles=100, generations=3, engine="numpy", progress=False)
    with pytest.raises(ValueError, match=r"the proposals must fall inside the prior's support"):
        pmc.run(np.full(50, 0.5), seed=1)
