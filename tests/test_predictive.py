"""Posterior predictive checks: the same bits on every engine, the exact predictive distribution
of a conjugate model, p-values, the plot, and every error with its message."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from abcspark import Posterior, SimulationError, nested
from abcspark.examples import NormalMean
from abcspark.predictive import predict
from abcspark.predictive_check import PredictiveCheck
from abcspark.rng import PREDICTIVE, batch_rng, split_rng

N_CHECK, BATCH = 100, 16  # 7 batches, the last one short
STATS = ["_stat_0", "_stat_1", "_stat_2"]


def lopsided():
    """50 particles of (mu, sigma) with unequal weights."""
    rng = np.random.default_rng(5)
    samples = pd.DataFrame({"mu": rng.normal(size=50), "sigma": rng.uniform(0.5, 2.0, 50)})
    return Posterior(samples, rng.uniform(0.1, 1.0, 50), np.zeros(50))


def three_stats(theta, rng):
    draws = rng.normal(theta[:, :1], theta[:, 1:], size=(len(theta), 5))
    return np.column_stack([draws.mean(axis=1), draws.std(axis=1), draws.max(axis=1)])


def two_points():
    """mu = 0 (weight 0.98) or 5 (0.02): with seed 0, draws 77 and 181 of 200 are the 5s."""
    return Posterior(pd.DataFrame({"mu": [0.0, 5.0]}), np.array([0.98, 0.02]), np.zeros(2))


def raises_above_4(theta, rng):
    if (theta > 4).any():
        raise ValueError("mu too large")
    return theta + rng.normal(size=theta.shape)


def nan_above_4(theta, rng):
    return np.where(theta > 4, np.nan, theta + rng.normal(size=theta.shape))


# -- the same bits everywhere ----------------------------------------------------------------


@pytest.fixture(scope="module")
def reference():
    return predict(lopsided(), three_stats, N_CHECK, seed=3, batch_size=BATCH, engine="numpy")


def test_each_batch_is_keyed_by_the_predictive_stream_and_draws_by_weight(reference):
    """Rows are ``posterior.sample(n, seed)`` in order, and batch b's statistics are the
    simulator on its rows with ``batch_rng(seed, 0, b, stream=PREDICTIVE)``."""
    post = lopsided()
    draws = post.sample(N_CHECK, seed=3)
    frame = reference.statistics
    assert list(frame.columns) == ["mu", "sigma", *STATS]
    assert_array_equal(frame[["mu", "sigma"]].to_numpy(), draws.to_numpy())
    theta = draws.to_numpy()
    for b in range(math.ceil(N_CHECK / BATCH)):
        rows = slice(b * BATCH, (b + 1) * BATCH)
        expected = three_stats(theta[rows].copy(), batch_rng(3, 0, b, stream=PREDICTIVE))
        assert_array_equal(frame[STATS].to_numpy()[rows], expected)
    assert reference.metadata == {
        "seed": 3,
        "n": N_CHECK,
        "batch_size": BATCH,
        "engine": "numpy",
        "parallelism": 1,
        "n_failed": 0,
    }


@pytest.mark.parametrize("parallelism", [1, 2, 4])
def test_spark_gives_the_numpy_engines_bits_at_any_parallelism(spark, reference, parallelism):
    """No engine given: a posterior without a run's engine is checked on Spark."""
    check = predict(
        lopsided(),
        three_stats,
        N_CHECK,
        seed=3,
        batch_size=BATCH,
        spark=spark,
        parallelism=parallelism,
    )
    assert (check.metadata["engine"], check.metadata["parallelism"]) == ("spark", parallelism)
    assert list(check.statistics.columns) == list(reference.statistics.columns)
    assert_array_equal(check.statistics.to_numpy(), reference.statistics.to_numpy())


def test_another_seed_gives_other_draws_and_simulations(reference):
    other = predict(lopsided(), three_stats, N_CHECK, seed=4, batch_size=BATCH, engine="numpy")
    for column in ["mu", *STATS]:
        assert not np.array_equal(other.statistics[column], reference.statistics[column])


def test_a_numpy_run_is_checked_on_the_numpy_engine_and_nested_simulators_run():
    post = lopsided()
    post.metadata["engine"] = "numpy"

    @nested(process_per_model=2)
    def ranks(theta, rng, comm):
        part = split_rng(rng, comm.size)[comm.rank].normal(size=(len(theta), 3))
        parts = comm.gather(part, root=0)
        if comm.rank > 0:
            return None
        return theta + np.concatenate(parts, axis=1).mean(axis=1)[:, None]

    def twin(theta, rng):
        parts = [part.normal(size=(len(theta), 3)) for part in split_rng(rng, 2)]
        return theta + np.concatenate(parts, axis=1).mean(axis=1)[:, None]

    check = post.predict(ranks, 30, seed=1, batch_size=8)
    assert check.metadata["engine"] == "numpy"
    assert_array_equal(check.statistics, post.predict(twin, 30, seed=1, batch_size=8).statistics)


# -- a conjugate model: the exact posterior predictive ---------------------------------------

PRIOR_SD, OBSERVED = 2.0, 0.7
MODEL = NormalMean(prior_sd=PRIOR_SD, sd=1.0, n_obs=10)  # xbar ~ Normal(mu, 1 / 10)
NOISE_VAR = 1.0 / 10
POST_VAR = 1.0 / (1.0 / PRIOR_SD**2 + 1.0 / NOISE_VAR)
POST_MEAN = POST_VAR * OBSERVED / NOISE_VAR
PRED_VAR = POST_VAR + NOISE_VAR
N_PARTICLES, N_SIMULATIONS = 6000, 4000


@pytest.fixture(scope="module")
def conjugate():
    """Exact posterior by importance weights: particles from Normal(post mean, (2 post sd)^2),
    weighted by posterior / proposal density. Ignoring the weights would give a predictive
    variance of 4 * POST_VAR + NOISE_VAR, 2.5 times the true one."""
    rng = np.random.default_rng(11)
    mu = POST_MEAN + 2 * math.sqrt(POST_VAR) * rng.standard_normal(N_PARTICLES)
    z = (mu - POST_MEAN) ** 2 / POST_VAR
    weights = np.exp(-0.5 * z + 0.5 * z / 4)
    metadata = {"observed": [OBSERVED], "engine": "numpy"}
    post = Posterior(pd.DataFrame({"mu": mu}), weights, np.zeros(N_PARTICLES), None, metadata)
    return post, post.predict(MODEL, N_SIMULATIONS, seed=2)


def test_the_predictive_mean_and_variance_are_the_analytic_ones(conjugate):
    """Predictive: Normal(POST_MEAN, POST_VAR + 1/10). Given the particles, the N simulations
    are iid with variance ~PRED_VAR, so their mean errs by sqrt(PRED_VAR / N); the particles'
    own mean errs by sqrt(POST_VAR / ESS). Their sample variance errs by
    sqrt(2 PRED_VAR^2 / N + 2 POST_VAR^2 / ESS) (Normal fourth moments). Tolerances: 4 sd, i.e.
    0.034 on the mean (truth 0.683) and 0.020 on the variance (truth 0.198), at ESS 3,963."""
    post, check = conjugate
    ess = post.ess
    assert ess > 0.6 * N_PARTICLES  # ~M / 1.51 for a proposal twice as wide
    simulated = check.statistics["_stat_0"].to_numpy()
    assert len(simulated) == N_SIMULATIONS
    mean_tol = 4 * math.sqrt(PRED_VAR / N_SIMULATIONS + POST_VAR / ess)
    var_tol = 4 * math.sqrt(2 * PRED_VAR**2 / N_SIMULATIONS + 2 * POST_VAR**2 / ess)
    assert abs(simulated.mean() - POST_MEAN) < mean_tol
    assert abs(simulated.var(ddof=1) - PRED_VAR) < var_tol
    table = check.p_values()
    assert table.loc["_stat_0", "mean"] == pytest.approx(simulated.mean(), rel=1e-12)
    assert table.loc["_stat_0", "sd"] == pytest.approx(simulated.std(ddof=1), rel=1e-12)


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_an_observation_at_the_q_quantile_has_p_value_1_minus_q(conjugate, q):
    """P(T >= the predictive q-quantile) = 1 - q. Given the particles, the estimate is a
    binomial share, sd <= sqrt(0.25 / N); the particles' error moves the predictive's quantile
    by ~sqrt(POST_VAR / ESS), which moves p by at most 0.4 * that / pred sd < sqrt(0.25 / ESS).
    Tolerance: 4 * sqrt(0.25 / N + 0.25 / ESS) = 0.045."""
    post, check = conjugate
    value = POST_MEAN + math.sqrt(PRED_VAR) * NormalDist().inv_cdf(q)
    row = check.p_values([value]).loc["_stat_0"]
    tol = 4 * math.sqrt(0.25 / N_SIMULATIONS + 0.25 / post.ess)
    assert abs(row["p_value"] - (1 - q)) < tol
    assert abs(row["p_two_sided"] - 2 * min(q, 1 - q)) < 2 * tol


def test_observations_far_in_the_tails_have_p_values_0_and_1(conjugate):
    """Six predictive sds out, P = 1e-9 a simulation: none of 4,000 lies beyond."""
    _, check = conjugate
    sd = math.sqrt(PRED_VAR)
    high = check.p_values([POST_MEAN + 6 * sd]).loc["_stat_0"]
    low = check.p_values([POST_MEAN - 6 * sd]).loc["_stat_0"]
    assert (high["p_value"], high["p_two_sided"]) == (0.0, 0.0)
    assert (low["p_value"], low["p_two_sided"]) == (1.0, 0.0)
    assert check.observed.tolist() == [OBSERVED]  # from the posterior's metadata
    assert repr(check).startswith("PredictiveCheck: 4,000 simulations of 1 statistic(s)\n")


def test_p_values_count_ties_as_at_or_above_the_observed():
    frame = pd.DataFrame({"mu": np.zeros(4), "_stat_0": [1.0, 2.0, 2.0, 3.0], "_stat_1": 1.0})
    table = PredictiveCheck(frame, ["mu"], observed=[2.0, 1.5]).p_values()
    assert table["p_value"].tolist() == [0.75, 0.0]
    assert table["p_two_sided"].tolist() == [0.5, 0.0]
    assert table["sd"].tolist() == [pytest.approx(np.std([1, 2, 2, 3], ddof=1)), 0.0]


# -- the plot --------------------------------------------------------------------------------


def test_the_plot_marks_each_observed_value_and_writes_a_png(reference, tmp_path):
    observed = [0.1, 1.0, 1.5]
    path = tmp_path / "check.png"
    fig = reference.plot(str(path), observed=observed)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    table = reference.p_values(observed)
    assert [ax.get_xlabel() for ax in fig.axes] == STATS
    for ax, name, value in zip(fig.axes, STATS, observed):
        row = table.loc[name]
        assert ax.get_title() == f"{name}: p = {row.p_value:.3g}, two-sided {row.p_two_sided:.3g}"
        assert [line.get_xdata()[0] for line in ax.lines] == [value]
        heights = np.array([patch.get_height() for patch in ax.patches])
        assert len(heights) == 10 and heights.sum() > 0  # sqrt(100) bins, a density
    bare = reference.plot(bins=5)
    assert [ax.get_title() for ax in bare.axes] == ["", "", ""]
    assert [len(ax.lines) for ax in bare.axes] == [0, 0, 0]
    assert [len(ax.patches) for ax in bare.axes] == [5, 5, 5]


# -- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["numpy", "spark"])
def test_a_simulation_that_raises_names_its_batch_and_parameters(spark, engine):
    """The dry run's first four draws are 0, so the error comes from batch 77 // 20 = 3."""
    with pytest.raises(
        SimulationError,
        match=r"the simulator raised ValueError: mu too large in generation 0, batch 3, at "
        r"parameters \(mu=5\.0\); fix the simulator",
    ):
        predict(
            two_points(),
            raises_above_4,
            200,
            seed=0,
            batch_size=20,
            engine=engine,
            spark=spark,
            parallelism=1,
        )


def test_nan_fails_the_check_or_with_skip_drops_exactly_those_rows():
    post = two_points()
    with pytest.raises(SimulationError, match=r"returned NaN or inf in generation 0, batch 3, "):
        predict(post, nan_above_4, 200, seed=0, batch_size=20, engine="numpy")
    check = predict(post, nan_above_4, 200, seed=0, batch_size=20, engine="numpy", on_error="skip")
    draws = post.sample(200, seed=0)["mu"].to_numpy()
    assert check.metadata["n_failed"] == 2 and len(check.statistics) == 198
    assert_array_equal(check.statistics["mu"], draws[draws == 0.0])
    # A vectorized simulator that raises loses its whole batch: batches 3 and 9 of 20.
    raised = predict(
        post, raises_above_4, 200, seed=0, batch_size=20, engine="numpy", on_error="skip"
    )
    assert raised.metadata["n_failed"] == 40 and len(raised.statistics) == 160
    assert "40 failed" in repr(raised)


def test_a_simulator_that_fails_on_every_run_is_refused_after_the_run():
    """Seed 53: the dry run's generator gives one finite row, the run's none of four."""

    def flaky(theta, rng):
        return np.where(rng.uniform(size=theta.shape) < 0.5, np.nan, theta)

    post = Posterior(pd.DataFrame({"mu": [1.0]}), np.ones(1), np.zeros(1))
    with pytest.raises(SimulationError, match=r"failed \(raised, or gave NaN or inf\) on all 4 "):
        predict(post, flaky, 4, seed=53, engine="numpy", on_error="skip")


def test_the_dry_run_refuses_bad_simulators():
    post = lopsided()

    def broken(theta, rng):
        raise ZeroDivisionError("boom")

    def flat(theta, rng):
        return theta[:, 0]

    def global_random(theta, rng):
        return theta + np.random.default_rng().normal(size=theta.shape)

    def short_when_long(theta, rng):
        return theta[: 4 if len(theta) <= 4 else len(theta) - 1, :1]

    with pytest.raises(SimulationError, match="simulate raised ZeroDivisionError: boom in the dry"):
        predict(post, broken, 10, seed=1, engine="numpy")
    with pytest.raises(ValueError, match=r"simulate must return shape \(n, k\) = \(4, 1\) .*"):
        predict(post, flat, 10, seed=1, engine="numpy")
    with pytest.raises(SimulationError, match="simulate must draw all its randomness from the"):
        predict(post, global_random, 10, seed=1, engine="numpy")
    with pytest.raises(SimulationError, match=r"shape \(n, k\) with n = 10 \(got \(9, 1\)\) in "):
        predict(post, short_when_long, 10, seed=1, engine="numpy")


def test_bad_arguments_are_refused_with_their_fix():
    post = lopsided()
    for n in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match=r"n must be a positive int \(got .*\); e.g. n=1000"):
            post.predict(three_stats, n, seed=1, engine="numpy")
    with pytest.raises(ValueError, match=r"= \(4, 2\) for 4 parameter rows and 2 observed"):
        post.predict(three_stats, 10, observed=[1.0, 2.0], seed=1, engine="numpy")
    with pytest.raises(ValueError, match="observed must be finite"):
        post.predict(three_stats, 10, observed=[1.0, np.nan, 2.0], seed=1, engine="numpy")
    with pytest.raises(ValueError, match="engine must be one of"):
        post.predict(three_stats, 10, seed=1, engine="dask")
    with pytest.raises(ValueError, match="on_error must be one of"):
        post.predict(three_stats, 10, seed=1, on_error="ignore")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        post.predict(three_stats, 10, seed=1, batch_size=0)
    with pytest.raises(TypeError, match="simulate must be a callable"):
        post.predict("three_stats", 10, seed=1)
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        post.predict(three_stats, 10, seed="1")


def test_a_posterior_without_particles_is_refused():
    empty = lopsided()
    empty.samples = empty.samples.iloc[:0]
    no_parameters = Posterior(pd.DataFrame(index=range(3)), np.ones(3), np.zeros(3))
    for post, shape in [(empty, r"\(0, 2\)"), (no_parameters, r"\(3, 0\)")]:
        with pytest.raises(ValueError, match=f"must hold particles .* shape {shape}\\); run an"):
            predict(post, three_stats, 10, seed=1, engine="numpy")


def test_p_values_need_k_observed_statistics(reference):
    with pytest.raises(ValueError, match=r"observed must be given for p-values \(got None"):
        reference.p_values()
    with pytest.raises(ValueError, match=r"observed must hold k = 3 statistics.* \(got 1\)"):
        reference.p_values([1.0])
    with pytest.raises(ValueError, match=r"observed must hold k = 3 statistics.* \(got 2\)"):
        PredictiveCheck(reference.statistics, ["mu", "sigma"], observed=[1.0, 2.0])
    with pytest.raises(ValueError, match="bins must be a positive int"):
        reference.plot(bins=0)
