"""Tests with power for Posterior and the regression adjustment: the audit's surviving mutants.

benchmarks/MUTATION.md ("Missing tests") lists the surviving mutants of the statistical core and
the test that would kill each; this module writes those of ``posterior.py`` (T12, T14-T18),
``weighted.py``'s covariance (T12) and ``adjustment.py`` (T27-T30). Each test names, in its
docstring, the entries it covers.

Every expected value is worked out by hand: weighted moments in closed form, the local-linear
regression by its normal equations, the transforms by their formulas. No Spark.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from abcspark.adjustment import epanechnikov, kernel_weights, local_linear, ridge, ridge_slopes
from abcspark.posterior import Posterior
from abcspark.transforms import from_unbounded, to_unbounded
from abcspark.weighted import covariance

INF = math.inf


def frame(*values: float) -> pd.DataFrame:
    """One parameter ``x`` holding ``values``."""
    return pd.DataFrame({"x": np.array(values, dtype=np.float64)})


# --- T12: the unbiased covariance at its small sizes -------------------------------------------


def test_unbiased_covariance_of_two_particles_is_the_corrected_one():
    """T12: ``x = 0, 2`` at weights 1/2: biased variance 1, times ``1 / (1 - sum w^2)`` = 2.

    Kills weighted.py ``covariance`` #8 (``len > 2``: two particles left uncorrected).
    """
    post = Posterior(frame(0.0, 2.0), [0.5, 0.5], [0.0, 0.0])
    assert post.cov().loc["x", "x"] == pytest.approx(2.0, rel=1e-15)
    assert post.std()["x"] == pytest.approx(math.sqrt(2.0), rel=1e-15)


def test_covariance_of_one_particle_is_zero_not_nan():
    """T12: one particle has no spread: covariance 0, with no 0/0 and no warning.

    Kills weighted.py ``covariance`` #7 (``len >= 1``: ``1 / (1 - 1)`` for one particle).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cov = Posterior(frame(3.0), [1.0], [0.0]).cov()
    assert cov.loc["x", "x"] == 0.0


def test_unbiased_weighted_covariance_of_three_particles_by_hand():
    """T12: uneven weights (1/2, 1/4, 1/4) on (0, 1, 4): mean 1.25, biased variance 2.6875,
    ``sum w^2 = 3/8``, so the unbiased one is ``2.6875 / (5/8) = 4.3``."""
    values, weights = np.array([[0.0], [1.0], [4.0]]), np.array([0.5, 0.25, 0.25])
    assert covariance(values, weights)[0, 0] == pytest.approx(2.6875, rel=1e-15)
    assert covariance(values, weights, unbiased=True)[0, 0] == pytest.approx(4.3, rel=1e-15)


# --- T14-T16: what the constructor accepts and stores -----------------------------------------


def test_a_zero_weight_is_allowed_and_ignored():
    """T14: weights ``(0, 1, 1)``: the mean of the last two, ESS 2.

    Kills posterior.py ``Posterior.__init__`` #10 (``weights > 0``: a zero weight refused).
    """
    post = Posterior(frame(100.0, 1.0, 3.0), [0.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    assert post.mean()["x"] == 2.0 and post.ess == 2.0
    np.testing.assert_array_equal(post.weights, [0.0, 0.5, 0.5])


def test_a_posterior_without_history_has_no_epsilon_and_no_simulations():
    """T15: no history: ``epsilon`` NaN, ``n_simulations`` 0, and a repr of the particles.

    Kills posterior.py ``Posterior.__init__`` #26 (the history kept as None).
    """
    post = Posterior(frame(1.0, 2.0, 3.0, 4.0), np.ones(4), np.zeros(4))
    assert math.isnan(post.epsilon) and post.n_simulations == 0
    assert isinstance(post.history, pd.DataFrame) and len(post.history) == 0
    assert repr(post).splitlines()[0] == "Posterior: 4 particles, ESS 4.0"


def test_weights_distances_and_statistics_are_stored_as_float64():
    """T16: float32 weights, int distances and int statistics become float64.

    Kills posterior.py ``Posterior.__init__`` #3, #5 (weights), #21, #23 (distances), #35,
    #37 (statistics): without ``dtype=float64`` they keep their types.
    """
    weights = np.array([1.0, 2.0, 1.0], dtype=np.float32)
    post = Posterior(frame(1.0, 2.0, 3.0), weights, np.array([0, 1, 2]), statistics=[[1], [2], [3]])
    assert post.weights.dtype == np.float64 and post.distances.dtype == np.float64
    assert post.statistics.dtype == np.float64
    np.testing.assert_array_equal(post.weights, [0.25, 0.5, 0.25])


# --- T17, T18: the closed ends of quantiles, the open ends of levels --------------------------


def test_quantiles_zero_and_one_are_the_minimum_and_maximum():
    """T17: q in the closed [0, 1]: q = 0 and 1 are the extreme particles.

    Kills posterior.py ``Posterior.quantile`` #8 (``q <= 0`` refused) and #10 (``q >= 1``).
    """
    post = Posterior(frame(5.0, -2.0, 7.5, 1.0), [1.0, 2.0, 1.0, 3.0], np.zeros(4))
    table = post.quantile([0.0, 1.0])
    assert table["x"].tolist() == [-2.0, 7.5]


@pytest.mark.parametrize("level", [0, 1])
def test_credible_interval_levels_zero_and_one_are_refused(level):
    """T18: the level is in the open (0, 1), refused at both ends with the message.

    Kills posterior.py ``Posterior.credible_interval`` #4 (``0 <= level``) and #5
    (``level <= 1``).
    """
    post = Posterior(frame(1.0, 2.0, 3.0), np.ones(3), np.zeros(3))
    message = f"level must be in (0, 1) (got {level}); e.g. level=0.95."
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        post.credible_interval(level)


# --- T29: the adjustment's weights -------------------------------------------------------------


def epanechnikov_by_hand(weights: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """``w_i (1 - (d_i / h)^2)``, normalised, ``h = max d (1 + 1e-9)``; ``w`` when all d are 0."""
    h = distances.max() * (1.0 + 1e-9)
    kernel = weights * (1.0 - (distances / h) ** 2) if h > 0 else weights
    return kernel / kernel.sum()


def slope_by_hand(z: np.ndarray, s: np.ndarray, k: np.ndarray) -> float:
    """Weighted least squares of ``z`` on ``s`` with weights ``k`` (normalised): the slope."""
    zc, sc = z - k @ z, s - k @ s
    return float((k * sc) @ zc / ((k * sc) @ sc))


def test_local_linear_weights_and_adjustment_by_hand():
    """T29: five particles at distances 0 to 0.5: Epanechnikov weights and the fitted slope.

    The bandwidth is 0.5 (below 1, so ``h > 1`` as a test differs). Kills adjustment.py
    ``local_linear`` #4, #5 (the bandwidth's factor), #7 (no kernel), #10, #11, #14 (its
    formula), #16 (``h > 1``) and #18 (``kernel * sum``: not normalised).
    """
    weights = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    offsets = np.array([0.0, 0.125, -0.25, 0.375, -0.5])
    theta = np.array([1.0, 2.5, 0.5, 3.0, -1.0])[:, None]
    bounds = np.array([[-INF, INF]])
    kernel = kernel_weights("epanechnikov", np.abs(offsets), weights)
    adjusted, kept = local_linear(theta, 2.0 + offsets[:, None], np.array([2.0]), kernel, bounds)
    expected = epanechnikov_by_hand(weights, np.abs(offsets))
    assert kept is kernel  # the adjusted particles keep the regression's weights
    rectangular = kernel_weights("rectangular", np.abs(offsets), 2.0 * weights)
    np.testing.assert_allclose(rectangular, weights / weights.sum(), rtol=1e-15)
    # 0.1 * 1, 0.3 * (1 - 1/16), 0.2 * (1 - 1/4), 0.25 * (1 - 9/16), 0.15 * ~0; sum 0.640625
    by_hand = np.array([0.1, 0.28125, 0.15, 0.109375, 0.0]) / 0.640625
    np.testing.assert_allclose(expected, by_hand, rtol=0, atol=1e-8)
    np.testing.assert_allclose(kernel, expected, rtol=1e-12)
    # Least squares (slope 4.4515) has a leave-one-out error of 0.33929 plus an estimated
    # error at the observation of 0.00632, 0.34561; the penalty 0.001 0.34508; both more than
    # TOLERANCE (1%) above the least, 0.34146 at the penalty 0.01 (slope 4.4074): the slope
    # chosen. A tolerance of 2% would take least squares.
    beta = ridge_by_hand(theta[:, 0], offsets, expected, 0.01)
    assert slope_by_hand(theta[:, 0], offsets, expected) == pytest.approx(4.45150288)
    assert beta == pytest.approx(4.40742859)
    np.testing.assert_allclose(adjusted[:, 0], theta[:, 0] - offsets * beta, rtol=1e-10)


def ridge_by_hand(z: np.ndarray, s: np.ndarray, k: np.ndarray, factor: float) -> float:
    """One statistic: the weighted ridge slope with the penalty ``factor`` times
    ``sum k (s - mean)^2 / var``, which is 1 (the only squared singular value, standardised)."""
    zc, sc = z - k @ z, s - k @ s
    return float((k * sc) @ zc / ((k * sc) @ sc * (1 + factor)))


def refitted_without_each(x, z, k, penalty):
    """PRESS by brute force: refit the weighted ridge regression (intercept unpenalised, ``x``
    standardised by the moments of all particles) without each particle, predict it."""
    xc = x - k @ x
    xs = xc / np.sqrt(k @ xc**2)
    error = np.zeros(z.shape[1])
    for i in np.flatnonzero(k > 0):
        rest = np.arange(len(k)) != i
        root = np.sqrt(k[rest])[:, None]
        design = np.column_stack([np.ones(rest.sum()), xs[rest]]) * root
        shrink = np.sqrt(penalty) * np.eye(x.shape[1] + 1)[1:]  # no penalty on the intercept
        fit = np.linalg.lstsq(
            np.vstack([design, shrink]),
            np.vstack([z[rest] * root, np.zeros((x.shape[1], z.shape[1]))]),
            rcond=None,
        )[0]
        error += k[i] * (z[i] - np.concatenate([[1.0], xs[i]]) @ fit) ** 2
    return error


@pytest.mark.parametrize("factor", [0.0, 0.3, np.inf])
def test_ridge_leave_one_out_error_is_that_of_refits_without_each_particle(factor):
    """``ridge``'s PRESS (residual over one minus leverage) equals 12 refits, each without one
    particle; the particle of kernel 0 counts for nothing. Least squares, a penalty, and
    none but the mean."""
    rng = np.random.default_rng(5)
    x, z = rng.normal(size=(12, 3)), rng.normal(size=(12, 2))
    z[:, 0] += x @ np.array([1.0, -0.5, 0.2])
    k = rng.uniform(0.2, 1.0, 12)
    k[4] = 0.0
    k /= k.sum()
    slopes, press, _ = (fit[0] for fit in ridge(x, z, k, [factor]))
    xs = (x - k @ x) * np.sqrt(k)[:, None] / np.sqrt(k @ (x - k @ x) ** 2)
    top = np.linalg.svd(xs, compute_uv=False).max() ** 2
    penalty = 1e12 if factor == np.inf else factor * top
    np.testing.assert_allclose(press, refitted_without_each(x, z, k, penalty), rtol=1e-6)
    if factor == np.inf:
        np.testing.assert_array_equal(slopes, 0.0)


def test_ridge_error_at_the_observation_is_that_of_repeated_data_sets():
    """``ridge``'s estimate of the squared error of each fit's prediction at the observation
    (x = 0, where the data's mean is 0), averaged over 400 data sets, is the error made there:
    least squares (variance only), a penalty (variance and the bias of shrinking) and no slope
    (bias only). The observation lies 1.5 spreads off the particles' centre, where a fit's
    leave-one-out error at the particles says little. The intercept's variance (sigma^2 / n),
    the same for every penalty, is left out of the estimate, so out of the error too."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 4)) + 1.5
    beta, sigma, k = np.array([1.0, -0.5, 0.25, 0.0]), 0.5, np.full(40, 1 / 40)
    estimated, made = [], []
    for _ in range(400):
        z = (x @ beta + sigma * rng.normal(size=40))[:, None]
        slopes, _, at_observation = ridge(x, z, k, [0.0, 0.1, np.inf])
        predicted = k @ z - (k @ x) @ slopes
        made.append(predicted[:, 0] ** 2 - sigma**2 / 40)
        estimated.append(at_observation[:, 0])
    made, estimated = np.mean(made, axis=0), np.mean(estimated, axis=0)
    np.testing.assert_allclose(estimated, made, rtol=0.15)
    assert made[2] > 10 * made[0]  # no slope: its bias dominates; least squares' is none


def test_ridge_slopes_leave_parameters_that_statistics_do_not_predict():
    """20 statistics of noise for 30 particles, 20 data sets: least squares moves the particles
    by 0.8 of their spread on average, the penalty chosen by about 0.1 (0.04 or less in half of
    them; measured on 40). The parameter the statistics do predict keeps a slope near 1."""
    moved, by_least_squares = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(30, 20))
        z = np.column_stack([rng.normal(size=30), x[:, 0] + 0.1 * rng.normal(size=30)])
        slopes = ridge_slopes(x, z, np.full(30, 1 / 30))
        ols = np.linalg.lstsq(np.column_stack([np.ones(30), x]), z, rcond=None)[0][1:]
        moved.append((x @ slopes)[:, 0].std() / z[:, 0].std())
        by_least_squares.append((x @ ols)[:, 0].std() / z[:, 0].std())
        assert slopes[0, 1] == pytest.approx(1.0, abs=0.1)
    assert np.mean(by_least_squares) > 0.6
    assert np.mean(moved) < 0.2
    assert np.median(moved) < 0.05


def test_local_linear_with_every_distance_zero_keeps_the_weights():
    """T29: all distances 0 (epsilon 0, discrete statistics): the input weights, finite
    particles, unmoved (every statistic hit the observed one).

    Kills adjustment.py ``local_linear`` #8 and #15 (the kernel at ``h = 0``: 0 / 0).
    """
    weights = np.array([0.5, 0.2, 0.3])
    theta = np.array([[1.0], [2.0], [4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kernel = epanechnikov(np.zeros(3), weights)
        adjusted, _ = local_linear(
            theta, np.full((3, 1), 7.0), np.array([7.0]), kernel, np.array([[-INF, INF]])
        )
    np.testing.assert_allclose(kernel, weights, rtol=1e-15)
    np.testing.assert_allclose(adjusted, theta, rtol=1e-12)


@pytest.mark.parametrize("kernel", ["rectangular", "epanechnikov"])
def test_adjusting_with_all_weight_on_one_particle_moves_nothing_and_warns_nothing(kernel):
    """One particle carries every weight (a degenerate PMC population): no fit can leave it
    out, so every leave-one-out error is infinite and no slope is fitted; the particles are
    returned unmoved, without a NaN or a warning (until 2026-12-04, 0 / 0 warned)."""
    theta = np.linspace(1.0, 3.0, 10)[:, None]
    post = posterior_with_statistics(theta, [[-INF, INF]], seed=31)
    post.weights = np.eye(10)[3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adjusted = post.adjust(kernel=kernel)
    np.testing.assert_array_equal(adjusted.samples["x"], theta[:, 0])
    np.testing.assert_array_equal(adjusted.weights, np.eye(10)[3])


# --- T27, T28, T30: the transforms and their edges ----------------------------------------------

BOUNDS = np.array([[150.0, 200.0], [0.0, INF], [-INF, 3.0], [-INF, INF]])


def test_transforms_by_their_formulas_and_their_inverse():
    """T27: logit of a box of width 50, log above a lower bound, ``-log`` below an upper one.

    Kills adjustment.py ``from_unbounded`` #5 (width 1 for every box).
    """
    theta = np.array([[151.0, 0.5, 2.0, -7.0], [190.0, 20.0, -40.0, 8.0]])
    z = to_unbounded(theta, BOUNDS)
    p = (theta[:, 0] - 150.0) / 50.0
    np.testing.assert_allclose(z[:, 0], np.log(p / (1 - p)), rtol=1e-13)
    np.testing.assert_allclose(z[:, 1], np.log(theta[:, 1]), rtol=1e-13)
    np.testing.assert_allclose(z[:, 2], -np.log(3.0 - theta[:, 2]), rtol=1e-13)
    np.testing.assert_array_equal(z[:, 3], theta[:, 3])
    np.testing.assert_allclose(from_unbounded(z, BOUNDS), theta, rtol=1e-13)


def posterior_with_statistics(theta: np.ndarray, bounds: list, seed: int = 0) -> Posterior:
    """One parameter; its statistic is ``theta`` plus noise; observed the particles' mean."""
    rng = np.random.default_rng(seed)
    stats = theta + rng.normal(0.0, 1.0, theta.shape)
    observed = [float(theta.mean())]
    metadata = {"observed": observed, "bounds": bounds}
    distances = np.abs(stats[:, 0] - observed[0])
    return Posterior(
        pd.DataFrame({"x": theta[:, 0]}),
        np.ones(len(theta)),
        distances,
        metadata=metadata,
        statistics=stats,
    )


def test_adjusting_particles_exactly_on_the_bounds_of_a_far_box():
    """T27: particles on 1000 and 1100 of ``Uniform(1000, 1100)`` adjust to finite values
    inside the box: the margin ``1e-12 * width`` is above the float spacing at 1000.

    Kills adjustment.py ``to_unbounded`` #23, #25 (``1e-12 / width``: below that spacing,
    ``log(0)`` makes every coefficient NaN).
    """
    theta = np.concatenate([[1000.0, 1100.0], np.linspace(1010.0, 1090.0, 18)])[:, None]
    adjusted = posterior_with_statistics(theta, [[1000.0, 1100.0]], seed=27).adjust()
    x = adjusted.samples["x"].to_numpy()
    assert np.isfinite(x).all() and ((x >= 1000.0) & (x <= 1100.0)).all()
    assert np.isfinite(adjusted.weights).all()


@pytest.mark.parametrize("kernel", ["rectangular", "epanechnikov"])
def test_adjusting_an_unbounded_parameter_near_5000_raises_no_warning(kernel):
    """T28: ``np.where`` computes the bounded branches too; ``exp(5000)`` there must be silent.

    Kills adjustment.py ``from_unbounded`` #15-#18 (the ``errstate`` of overflow and invalid).
    The adjustment itself is checked by hand: an unbounded column moves along the slope
    fitted with the kernel's weights, which the adjusted particles keep.
    """
    theta = np.random.default_rng(28).normal(5000.0, 100.0, 30)[:, None]
    post = posterior_with_statistics(theta, [[-INF, INF]], seed=28)
    post.weights = np.linspace(1.0, 2.0, 30) / np.linspace(1.0, 2.0, 30).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adjusted = post.adjust(kernel=kernel)
    s = post.statistics[:, 0] - post.metadata["observed"][0]
    k = post.weights
    if kernel == "epanechnikov":
        k = epanechnikov_by_hand(post.weights, post.distances)
    np.testing.assert_allclose(adjusted.weights, k, rtol=1e-12)
    beta = slope_by_hand(theta[:, 0], s, k)
    np.testing.assert_allclose(adjusted.samples["x"], theta[:, 0] - s * beta, rtol=1e-10)


def test_adjusting_a_positive_parameter_with_a_particle_at_one_raises_no_warning():
    """T30: at ``x = 1`` above a lower bound 0, the discarded logit branch takes ``log1p(-1)``.

    Kills adjustment.py ``to_unbounded`` #27, #29 (the ``errstate`` of divide).
    """
    theta = np.concatenate([[1.0], np.linspace(0.2, 3.0, 15)])[:, None]
    post = posterior_with_statistics(theta, [[0.0, INF]], seed=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adjusted = post.adjust()
    x = adjusted.samples["x"].to_numpy()
    assert np.isfinite(x).all() and (x > 0).all()
