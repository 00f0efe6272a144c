"""Inputs that used to give a wrong result or a raw error: each now works or fails by name."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from abcspark import (
    PMCABC,
    GaussianKernel,
    LocalKernel,
    Poisson,
    Posterior,
    Prior,
    RejectionABC,
    ScaledEuclidean,
    SimulationError,
    Uniform,
)
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


# The dry run and the pilot under on_error: a simulator's own exception never escapes raw.


def raises_beyond(limit):
    """A vectorized simulator that raises when any row has mu > ``limit``."""

    def simulate(theta, rng):
        if (theta[:, 0] > limit).any():
            raise ArithmeticError("diverged")
        return MODEL(theta, rng)

    return simulate


def test_a_dry_run_that_raises_is_a_simulation_error_naming_the_parameters():
    abc = RejectionABC(MODEL.prior, raises_beyond(-100.0), engine="numpy")
    with pytest.raises(
        SimulationError,
        match=r"simulate raised ArithmeticError: diverged in the dry run on the driver, at "
        r"parameters \[\[.*\]\]; .*or pass on_error='skip'",
    ) as info:
        abc.run(OBSERVED, quantile=0.1, n_simulations=1000, seed=1)
    assert isinstance(info.value.__cause__, ArithmeticError)


def test_under_skip_a_dry_run_that_raises_on_some_rows_runs_with_them_skipped():
    # Seed 2's four dry-run draws include mu = 3.79; mu > 3.5 has 4% of the prior's mass.
    abc = RejectionABC(MODEL.prior, raises_beyond(3.5), engine="numpy", on_error="skip")
    posterior = abc.run(OBSERVED, epsilon=0.3, n_samples=20, seed=2, max_simulations=20_000)
    assert len(posterior.samples) == 20 and posterior.metadata["n_failed"] > 0


def test_under_skip_a_simulator_failing_everywhere_says_so_without_advising_skip():
    abc = RejectionABC(MODEL.prior, raises_beyond(-100.0), engine="numpy", on_error="skip")
    with pytest.raises(SimulationError, match="fails everywhere: fix the simulator") as info:
        abc.run(OBSERVED, quantile=0.1, n_simulations=1000, seed=1)
    assert "pass on_error='skip'" not in str(info.value)


def test_under_skip_the_scaled_distance_pilot_skips_rows_that_raise():
    prior = Prior(a=Uniform(0, 1), b=Uniform(0, 1))

    def simulate(theta, rng):
        if (theta[:, 0] > 0.99).any():  # about 10 of the pilot's 1,000 rows
            raise ArithmeticError("diverged")
        return theta * [1.0, 100.0] + rng.normal(0, 0.01, theta.shape)

    abc = RejectionABC(prior, simulate, "scaled_euclidean", engine="numpy", on_error="skip")
    posterior = abc.run([0.3, 30.0], epsilon=0.5, n_samples=20, seed=2, max_simulations=50_000)
    scale = posterior.metadata["distance"]["scale"]
    assert scale[1] / scale[0] == pytest.approx(100.0, rel=0.2)  # fitted on the rows that ran


# Arguments beyond what a float64 or a worker's memory holds are refused by name.

HUGE = 2**2000


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: RejectionABC(MODEL.prior, MODEL, batch_size=10**9), r"batch_size .* <= 1e\+08"),
        (lambda: PMCABC(MODEL.prior, MODEL, n_particles=HUGE), r"<= 1e\+15 \(got an int of 603"),
        (lambda: PMCABC(MODEL.prior, MODEL, max_simulations=10**16), "max_simulations must be"),
        (lambda: PMCABC(MODEL.prior, MODEL, epsilon_quantile=HUGE), "epsilon_quantile must be"),
        (lambda: GaussianKernel(math.inf), r"scale must be a finite number > 0 \(got inf\)"),
        (lambda: LocalKernel(scale=math.inf), "scale must be a finite number > 0"),
        (lambda: Posterior(frame([np.nan, 1.0]), [1, 1], [0, 0]), "samples must be finite"),
        (lambda: Posterior(frame([-1e200, 1e200]), [1, 1], [0, 0]), r"within \+-1e\+150"),
        (lambda: Posterior(frame([0.0, 1.0]), [1, np.inf], [0, 0]), "weights must be 2 finite"),
    ],
)
def test_arguments_beyond_their_range_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def frame(values):
    return pd.DataFrame({"mu": values})


def test_a_huge_integer_epsilon_accepts_everything_like_inf():
    abc = RejectionABC(MODEL.prior, MODEL, engine="numpy")
    posterior = abc.run(OBSERVED, epsilon=HUGE, n_samples=30, seed=1)
    assert len(posterior.samples) == 30 and posterior.n_simulations < 100


def test_kde_draws_keep_discrete_parameters_on_their_values():
    prior = Prior(k=Poisson(3.0), x=Uniform(0, 1))
    samples = pd.DataFrame({"k": [1.0, 2.0, 4.0, 4.0], "x": [0.1, 0.4, 0.6, 0.9]})
    metadata = {"bounds": prior.bounds().tolist(), "discrete": prior.discrete_names}
    draws = Posterior(samples, np.ones(4), np.zeros(4), metadata=metadata).sample(
        2000, seed=1, method="kde"
    )
    assert set(draws["k"]) == {1.0, 2.0, 4.0}  # resampled, never smoothed
    assert draws["x"].nunique() == 2000 and prior.in_support(draws.to_numpy()).all()
    assert (draws["k"] == 4.0).mean() == pytest.approx(0.5, abs=5 * math.sqrt(0.25 / 2000))


def test_one_particle_carrying_all_the_weight_has_zero_spread():
    posterior = Posterior(frame([0.2, 0.7]), [1.0, 0.0], [0, 0])
    assert posterior.std()["mu"] == 0.0 and posterior.ess == 1.0
    draws = posterior.sample(50, seed=1, method="kde")["mu"].to_numpy()
    np.testing.assert_allclose(draws, 0.2, atol=1e-9)


def test_a_pilot_with_fewer_than_two_finite_simulations_names_the_simulator():
    def finite_below_one(theta, rng):
        out = theta[:, :1] + 0.1 * rng.standard_normal((len(theta), 1))
        if len(theta) > 10:  # the 4 dry-run draws pass; of the pilot's 1,000 one is finite
            out[1:] = np.nan
        return out

    abc = RejectionABC(Prior(a=Uniform(0, 1)), finite_below_one, ScaledEuclidean(), on_error="skip")
    with pytest.raises(
        SimulationError,
        match=r"^the simulator must return finite statistics for at least 2 of the 1,000 pilot "
        r"simulations that fit ScaledEuclidean's scales \(got 1\); ",
    ):
        abc.run([0.5], quantile=0.1, n_simulations=1000, seed=1)
