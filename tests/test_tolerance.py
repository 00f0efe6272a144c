"""The tolerance's error read from the regression (tolerance.py) and the choice it makes for the
budget's last generation (budget.joined_instead through next_plan)."""

import numpy as np
import pandas as pd
import pytest

from abcspark import Normal, Poisson, Prior, Uniform
from abcspark.budget import next_plan
from abcspark.history import GenerationRecord
from abcspark.tolerance import join_pays, tolerance_error

N = 200_000
SLOPE, STAT_MEAN, STAT_SD = 2.0, 0.5, 0.8
SHIFT = (SLOPE * STAT_MEAN) ** 2  # 1.0: the mean moved by one posterior sd
WIDENING = (SLOPE**2 * STAT_SD**2 / 2) ** 2  # rho = 2.56, the spread's excess rho / 2, squared


def _linear(prior, to_theta, seed=3):
    """``N`` particles whose unbounded parameter is a standard normal draw (the posterior)
    plus ``SLOPE`` times a statistic offset drawn from N(STAT_MEAN, STAT_SD^2); observed 0."""
    rng = np.random.default_rng(seed)
    x = rng.normal(STAT_MEAN, STAT_SD, N)
    z = rng.normal(0.0, 1.0, N) + SLOPE * x
    frame = pd.DataFrame({"a": to_theta(z), "weight": np.full(N, 1.0 / N), "_stat_0": x})
    return frame, [0.0]


@pytest.mark.parametrize(
    ("prior", "to_theta"),
    [
        (Prior(a=Normal(0.0, 10.0)), lambda z: z),
        (Prior(a=Uniform(0.0, 1.0)), lambda z: 1.0 / (1.0 + np.exp(-z))),  # on the logit scale
    ],
)
def test_tolerance_error_reads_the_shift_and_the_widening_of_a_linear_model(prior, to_theta):
    """Analytic: shift (2 x 0.5)^2 / 1 = 1, widening (4 x 0.64 / 2)^2 = 1.6384. Their Monte
    Carlo sd at 200,000 particles is 0.009 and 0.020 (12 seeds); the bounds are 5 sd. A box
    prior is read on the logit scale, where the model is linear: read on the bounded scale,
    they would be 0.73 and 0.87 instead."""
    population, observed = _linear(prior, to_theta)
    shift, widening = tolerance_error(population, prior, observed)
    assert shift == pytest.approx(SHIFT, abs=0.045)
    assert widening == pytest.approx(WIDENING, abs=0.1)


def test_tolerance_error_is_zero_where_the_statistics_explain_nothing():
    """The parameter independent of the statistic: the ridge keeps no slope worth the name,
    so both terms are within noise of 0 (a shift of 1e-3 is 0.03 posterior sd)."""
    rng = np.random.default_rng(5)
    population = pd.DataFrame(
        {"a": rng.normal(size=N), "weight": np.full(N, 1.0 / N), "_stat_0": rng.normal(size=N)}
    )
    shift, widening = tolerance_error(population, Prior(a=Normal(0.0, 10.0)), [0.0])
    assert shift < 1e-3 and widening < 1e-6


def test_tolerance_error_weighs_the_particles():
    """The same particles, the half with positive statistic offsets given all the weight: the
    offsets' weighted mean is then E[x | x > 0.5] = 0.5 + 0.8 sqrt(2 / pi), the shift its
    square times 4; unweighted it would stay 1."""
    prior = Prior(a=Normal(0.0, 10.0))
    population, observed = _linear(prior, lambda z: z)
    upper = population["_stat_0"] > STAT_MEAN
    population["weight"] = upper / upper.sum()
    shift, _ = tolerance_error(population, prior, observed)
    half_normal_mean = STAT_MEAN + STAT_SD * np.sqrt(2 / np.pi)
    assert shift == pytest.approx((SLOPE * half_normal_mean) ** 2, rel=0.05)


def test_tolerance_error_needs_statistics_and_continuous_parameters():
    prior = Prior(a=Normal(0.0, 10.0))
    population, observed = _linear(prior, lambda z: z)
    assert tolerance_error(population.drop(columns="_stat_0"), prior, observed) is None
    counts = population.assign(a=np.arange(N) % 7)
    assert tolerance_error(counts, Prior(a=Poisson(3.0)), observed) is None
    assert tolerance_error(population.iloc[:1], prior, observed) is None
    resumed = population.astype({"_stat_0": float})  # recycled rows saved without statistics
    resumed.loc[:10, "_stat_0"] = np.nan
    assert tolerance_error(resumed, prior, observed) is None


@pytest.mark.parametrize(
    ("error", "ratio", "expected"),
    [
        ((0.0, 0.0), 0.5, True),  # nothing to gain: the larger ESS wins
        ((1.0, 0.0), 0.5, False),  # gain 0.75 against a cost of 0.0075
        ((0.0101, 0.0), 0.5, False),  # gain 0.0076, just over the cost: the smaller epsilon
        ((0.0099, 0.0), 0.5, True),  # gain 0.0074, just under it
        ((0.0, 0.0081), 0.5, False),  # the widening shrinks as ratio^4: gain 0.0076
        ((0.0, 0.0079), 0.5, True),
        ((1.0, 1.0), 1.0, True),  # the same epsilon buys nothing
    ],
)
def test_join_pays_weighs_the_tolerance_against_the_ess(error, ratio, expected):
    """ESS 100 at the smaller epsilon against 200 joined: a cost of 1.5 (1/100 - 1/200) =
    0.0075 in units of the posterior's variance."""
    assert join_pays(error, ratio, 100.0, 200.0) is expected


def _plan(tolerance, budget_left=800, **options):
    """After generation 1 (epsilon 1.0, acceptance rate 0.1875, ESS 80 of 100 particles), 800
    simulations buy 150 particles at epsilon 0.5 (half the particles are within it): the
    budget's last generation. Joined instead, they buy 150 at 1.0, ESS 120 either way by the
    ESS per particle; joined 80 + 120. The cost of the smaller epsilon: 1.5 (1/120 - 1/200) =
    0.005; its gain: 0.75 x shift + 0.9375 x widening."""
    population = pd.DataFrame({"distance": np.arange(1, 101) / 100.0, "weight": 0.01})
    records = [
        GenerationRecord(g, epsilon, 1000, 1000, rate, ess, 0, 0, 1.0)
        for g, epsilon, rate, ess in ((0, 2.0, 0.1, 100.0), (1, 1.0, 0.1875, 80.0))
    ]
    flags = {"scheduled": False, "adaptive": False, **options}
    rules = {"target_acceptance_rate": None, "min_epsilon": 0.0, "tolerance": tolerance}
    return next_plan(population, records, 0.5, 100, budget_left, **rules, **flags)


@pytest.mark.parametrize(
    ("tolerance", "options", "expected"),
    [
        (None, {}, (0.5, 150)),  # no statistics: as before
        ((0.001, 0.001), {}, (1.0, 150)),  # gain 0.0017 < 0.005: the rest at the last epsilon
        ((0.01, 0.0), {}, (0.5, 150)),  # gain 0.0075 > 0.005: the smaller epsilon
        ((0.0, 0.006), {}, (0.5, 150)),  # gain 0.0056
        ((0.0, 0.005), {}, (1.0, 150)),  # gain 0.0047
        ((0.001, 0.001), {"scheduled": True}, (0.5, 150)),  # the user's schedule is kept
        ((0.001, 0.001), {"adaptive": True}, (0.5, 150)),  # epsilons change units
    ],
)
def test_next_plan_sends_the_budgets_last_generation_where_the_tolerance_says(
    tolerance, options, expected
):
    assert _plan(tolerance, **options) == pytest.approx(expected)


def test_a_whole_generation_is_never_joined():
    """With 8,000 simulations left, 1,500 particles at 0.5: a generation like any other, even
    where the tolerance's error is 0."""
    assert _plan((0.0, 0.0), budget_left=8000) == (0.5, 100)


def test_a_budgeted_default_run_reads_the_statistics_and_gives_none_to_the_user():
    """PMC with a budget carries the statistics to the driver for its plan (``task_statistics``)
    but its posterior has none unless asked; with them asked, the same particles bit for bit."""
    from abcspark import PMCABC

    def simulate(theta, rng):
        return theta + rng.normal(0.0, 1.0, size=theta.shape)

    def run(keep):
        pmc = PMCABC(
            Prior(mu=Uniform(-10, 10)),
            simulate,
            n_particles=50,
            max_simulations=1500,
            engine="numpy",
            keep_statistics=keep,
            progress=False,
        )
        return pmc, pmc.run([1.0], seed=4)

    pmc, post = run(False)
    assert pmc.problem.task_statistics and not pmc.problem.keep_statistics
    assert post.statistics is None and not any(c.startswith("_stat") for c in post.to_frame())
    _, kept = run(True)
    pd.testing.assert_frame_equal(post.samples, kept.samples)
    np.testing.assert_array_equal(post.weights, kept.weights)
    assert kept.statistics.shape == (len(kept.samples), 1)
