"""RejectionABC: stopping modes, errors, and the exact ABC posterior of a conjugate model."""

import math

import numpy as np
import pytest

from abcspark import BudgetExhausted, Euclidean, Prior, RejectionABC, SimulationError, Uniform
from abcspark.examples import NormalMean

MODEL = NormalMean(prior_mean=0.0, prior_sd=2.0, sd=1.0, n_obs=10)
OBSERVED = [0.8]


def within_monte_carlo_error(posterior, epsilon):
    """|mean - truth| < 4 se(mean); |var - truth| < 4 se(var), se from the sample size."""
    mean, var = MODEL.abc_moments(OBSERVED[0], epsilon)
    n = len(posterior.samples)
    got_mean = float(posterior.mean()["mu"])
    got_var = float(posterior.cov().iloc[0, 0])
    assert abs(got_mean - mean) < 4 * math.sqrt(var / n), (got_mean, mean)
    assert abs(got_var - var) < 4 * var * math.sqrt(2 / (n - 1)), (got_var, var)


@pytest.mark.parametrize("epsilon", [1.0, 0.3, 0.1])
def test_conjugate_posterior_as_epsilon_shrinks(epsilon):
    abc = RejectionABC(MODEL.prior, MODEL, engine="numpy", batch_size=5000)
    posterior = abc.run(OBSERVED, epsilon=epsilon, n_samples=3000, seed=11)
    assert len(posterior.samples) == 3000 and (posterior.distances <= epsilon).all()
    within_monte_carlo_error(posterior, epsilon)


def test_conjugate_posterior_on_spark(spark):
    abc = RejectionABC(MODEL.prior, MODEL, spark=spark, batch_size=5000)
    within_monte_carlo_error(abc.run(OBSERVED, epsilon=0.2, n_samples=2000, seed=5), 0.2)


def test_quantile_mode_keeps_the_closest():
    abc = RejectionABC(MODEL.prior, MODEL, engine="numpy", batch_size=1000)
    posterior = abc.run(OBSERVED, quantile=0.01, n_simulations=50_000, seed=3)
    assert len(posterior.samples) == 500
    assert posterior.history["n_simulations"].iloc[0] == 50_000
    # Every simulation further than the largest kept distance is excluded: compare with the
    # fixed-budget mode at that epsilon, which keeps all within it.
    budget = abc.run(OBSERVED, epsilon=posterior.epsilon, n_simulations=50_000, seed=3)
    np.testing.assert_array_equal(np.sort(budget.distances), np.sort(posterior.distances))


def test_metadata_records_the_run():
    posterior = RejectionABC(MODEL.prior, MODEL, engine="numpy").run(
        OBSERVED, epsilon=0.5, n_samples=100, seed=9
    )
    meta = posterior.metadata
    assert meta["seed"] == 9 and meta["mode"] == "until" and meta["engine"] == "numpy"
    assert meta["n_simulations"] == posterior.n_simulations > 100
    assert meta["settings"]["prior"] == MODEL.prior.to_dict()
    assert {"abcspark", "numpy", "pandas", "python"} <= set(meta["versions"])


def test_unreachable_epsilon_reports_the_acceptance_rate():
    abc = RejectionABC(MODEL.prior, MODEL, engine="numpy", batch_size=1000)
    with pytest.raises(
        BudgetExhausted,
        match=r"max_simulations=20,000 cannot be enough with \d+ of 1,000 "
        r"particles accepted in 1,000 simulations: acceptance rate .*raise epsilon",
    ):
        abc.run(OBSERVED, epsilon=1e-4, n_samples=1000, max_simulations=20_000, seed=1)


def test_a_budget_reached_says_so():
    # The acceptance rate is about 0.285: 500 particles need about 1,750 simulations. Below
    # 1,000 simulations no early check is made, so the run goes on to the budget.
    abc = RejectionABC(MODEL.prior, MODEL, engine="numpy", batch_size=100)
    with pytest.raises(
        BudgetExhausted, match=r"max_simulations=1,600 was reached with \d+ of 500 particles"
    ):
        abc.run(OBSERVED, epsilon=0.8, n_samples=500, max_simulations=1_600, seed=1)


def test_epsilon_zero_stops_early_instead_of_spending_the_default_cap():
    calls = []

    def counted(theta, rng):
        calls.append(len(theta))
        return MODEL(theta, rng)

    # With none accepted in S simulations, a rate of 3/S cannot be ruled out, so stopping is
    # honest once 100 particles at 3/S would need more than the budget: S near 3% of it.
    abc = RejectionABC(MODEL.prior, counted, engine="numpy")
    with pytest.raises(BudgetExhausted, match=r"max_simulations=1,000,000 cannot be enough"):
        abc.run(OBSERVED, epsilon=0.0, n_samples=100, max_simulations=10**6, seed=1)
    assert sum(calls) < 100_000  # a tenth of the budget


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(epsilon=0.5), "run needs one stopping mode"),
        (dict(epsilon=0.5, n_samples=10, quantile=0.1), "run needs one stopping mode"),
        (dict(quantile=1.5, n_simulations=100), r"quantile must be a number in \(0, 1\]"),
        (dict(epsilon=-1.0, n_samples=10), "epsilon must be a number >= 0"),
        (dict(epsilon=0.5, n_samples=0), "n_samples must be a positive int"),
    ],
)
def test_bad_run_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RejectionABC(MODEL.prior, MODEL, engine="numpy").run(OBSERVED, seed=1, **kwargs)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (("not a prior", MODEL), {}, TypeError, "prior must be a Prior"),
        ((MODEL.prior, 3), {}, TypeError, "simulate must be a callable"),
        ((MODEL.prior, MODEL, 3), {}, TypeError, "distance must be a Distance or a callable"),
        ((MODEL.prior, MODEL), dict(on_error="ignore"), ValueError, "on_error must be one of"),
        ((MODEL.prior, MODEL), dict(engine="dask"), ValueError, "engine must be one of"),
        ((MODEL.prior, MODEL), dict(batch_size=0), ValueError, "batch_size must be a positive int"),
        (
            (MODEL.prior, MODEL),
            dict(batch_timeout=0),
            ValueError,
            "batch_timeout must be a number > 0",
        ),
        (
            (MODEL.prior, MODEL),
            dict(batch_timeout="5"),
            ValueError,
            r"batch_timeout must be a number > 0 \(got '5'\)",
        ),
    ],
)
def test_bad_constructor_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        RejectionABC(*args, **kwargs)


def test_simulator_failure_names_generation_batch_and_parameters(spark):
    def fails_above(theta, rng):
        if (theta[:, 0] > 1.9).any():
            raise FloatingPointError("overflow")
        return theta

    prior = Prior(a=Uniform(0, 2))
    abc = RejectionABC(prior, fails_above, spark=spark, batch_size=100)
    with pytest.raises(
        SimulationError,
        match=r"raised FloatingPointError: overflow in generation 0, "
        r"batch \d+, at parameters \(a=1\.9",
    ):
        abc.run([0.5], epsilon=0.01, n_samples=500, seed=1)


def test_skip_counts_failures_on_spark(spark, spark_path):
    def nan_above(theta, rng):
        out = theta + 0.01 * rng.standard_normal(theta.shape)
        out[theta[:, 0] > 1.5] = np.nan
        return out

    prior = Prior(a=Uniform(0, 2))
    posterior = RejectionABC(prior, nan_above, spark=spark, batch_size=500, on_error="skip").run(
        [0.5], quantile=0.1, n_simulations=4000, seed=2
    )
    failed = posterior.metadata["n_failed"]
    assert (
        0.25 * 4000 - 4 * math.sqrt(4000 * 0.25 * 0.75)
        < failed
        < 0.25 * 4000 + 4 * math.sqrt(4000 * 0.25 * 0.75)
    )
    assert posterior.history["n_failed"].iloc[0] == failed


def test_user_callable_distance():
    def manhattan(stats, observed):
        return np.abs(stats - observed).sum(axis=1)

    posterior = RejectionABC(MODEL.prior, MODEL, manhattan, engine="numpy").run(
        OBSERVED, epsilon=0.2, n_samples=50, seed=1
    )
    assert (posterior.distances <= 0.2).all()
    assert posterior.metadata["settings"]["distance"]["type"] == "CallableDistance"


def test_user_distance_with_wrong_shape_fails_in_the_dry_run():
    with pytest.raises(ValueError, match=r"distance must return shape \(n,\)"):
        RejectionABC(MODEL.prior, MODEL, lambda s, o: s - o, engine="numpy").run(
            OBSERVED, epsilon=0.2, n_samples=50, seed=1
        )


def test_default_distance_is_euclidean():
    abc = RejectionABC(MODEL.prior, MODEL, engine="numpy")
    assert isinstance(abc.problem.distance, Euclidean)


def test_rejection_reports_the_simulations_its_last_batch_ran_after_the_last_sample():
    """``n_samples`` within epsilon: the simulator's own record of its last call holds the
    last sample and, after it, exactly ``n_after_last`` rows."""
    calls = []

    def recorded(theta, rng):
        calls.append(theta.copy())
        return MODEL(theta, rng)

    posterior = RejectionABC(MODEL.prior, recorded, engine="numpy").run(
        OBSERVED, epsilon=0.5, n_samples=200, seed=4
    )
    last = posterior.samples.to_numpy()[-1]
    ((call, row),) = [(i, r) for i, c in enumerate(calls) for r in np.flatnonzero(c == last)]
    after = len(calls[call]) - 1 - row
    assert posterior.history["n_after_last"].tolist() == [after]
    assert posterior.metadata["n_after_last"] == after > 0
