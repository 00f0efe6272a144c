"""Semi-automatic summary statistics (Fearnhead and Prangle 2012) as a distance.

The model: two Normal(0, 1) means, each seen through one statistic with noise sd 0.5, and six
statistics of pure noise with sd 10. The exact posterior of each mean is Normal with mean
``s / 1.25`` and variance ``0.25 / 1.25``, and ``E[theta | s]`` is linear in ``s``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import assert_same_posterior

from abcspark import (
    PMCABC,
    Gamma,
    Normal,
    Prior,
    ReferenceTable,
    RejectionABC,
    TableRejectionABC,
    Uniform,
)
from abcspark.problem import DRY_RUN_SIZE
from abcspark.rng import batch_rng
from abcspark.semi_automatic import SemiAutomatic

SIGMA, NOISE, N_NOISE = 0.5, 10.0, 6
PRIOR = Prior(mu1=Normal(0.0, 1.0), mu2=Normal(0.0, 1.0))
OBSERVED = np.array([1.0, -0.5, 4.0, -9.0, 12.0, 0.5, -15.0, 6.0])
POSTERIOR_MEAN = OBSERVED[:2] / (1 + SIGMA**2)
POSTERIOR_SD = math.sqrt(SIGMA**2 / (1 + SIGMA**2))


def simulate(theta, rng):
    """Two informative statistics (a mean plus noise sd 0.5), then six of pure noise."""
    informative = theta + SIGMA * rng.standard_normal(theta.shape)
    return np.column_stack([informative, NOISE * rng.standard_normal((len(theta), N_NOISE))])


class Counting:
    """The model, counting the rows it simulates (the NumPy engine runs in this process)."""

    def __init__(self):
        self.rows = 0

    def __call__(self, theta, rng):
        self.rows += len(theta)
        return simulate(theta, rng)


def spent(posterior) -> int:
    """Every simulator call of a run, the driver's included."""
    return posterior.metadata["n_simulations"] + posterior.metadata["n_driver_simulations"]


def error(posterior) -> float:
    """Distance to the exact posterior: mean errors in exact sds plus log sd ratios."""
    mean, sd = posterior.mean().to_numpy(), posterior.std().to_numpy()
    return float(
        np.sum(np.abs(mean - POSTERIOR_MEAN) / POSTERIOR_SD + np.abs(np.log(sd / POSTERIOR_SD)))
    )


def test_rejection_is_closer_to_the_exact_posterior_than_euclidean_at_equal_cost():
    n_total, n_pilot, keep = 20_000, 2_000, 200
    for seed in (1, 2, 3):
        counter = Counting()
        distance = SemiAutomatic().fit(
            PRIOR, counter, OBSERVED, n=n_pilot, seed=100 + seed, engine="numpy"
        )
        n_run = n_total - n_pilot
        semi = RejectionABC(PRIOR, counter, distance, engine="numpy").run(
            OBSERVED, quantile=keep / n_run, n_simulations=n_run, seed=seed
        )
        plain = RejectionABC(PRIOR, simulate, engine="numpy").run(
            OBSERVED, quantile=keep / n_total, n_simulations=n_total, seed=seed
        )
        assert len(semi.samples) == len(plain.samples) == keep
        assert counter.rows == distance.n_simulations + spent(semi)
        assert counter.rows == spent(plain) + 2 * DRY_RUN_SIZE  # the pilot's own dry run
        # Euclidean is swamped by the noise (its posterior is about the prior, error ~4);
        # the projection keeps only the two informative directions.
        assert error(plain) > 2.5
        assert error(semi) < error(plain) / 4, (seed, error(semi), error(plain))


def test_the_projection_recovers_the_exact_posterior_mean_function():
    m = 4000
    counter = Counting()
    fitted = SemiAutomatic().fit(PRIOR, counter, n=m, seed=5, engine="numpy")  # no observed
    assert fitted.n_simulations == counter.rows == m + 3 * DRY_RUN_SIZE
    base = np.zeros((1, len(OBSERVED)))
    at_zero = fitted.project(base)[0]
    slopes = np.vstack([fitted.project(base + row)[0] - at_zero for row in np.eye(len(OBSERVED))])
    exact = np.zeros((len(OBSERVED), 2))
    exact[0, 0] = exact[1, 1] = 1 / (1 + SIGMA**2)
    # Least squares: a slope's sd is sqrt(residual variance / (m var(s_j))), the fit at the
    # statistics' mean sqrt(residual variance / m).
    residual = POSTERIOR_SD**2
    variance = np.array([1 + SIGMA**2] * 2 + [NOISE**2] * N_NOISE)
    sd = np.sqrt(residual / (m * variance))[:, None]
    assert (np.abs(slopes - exact) < 4 * sd).all(), (slopes - exact) / sd
    assert (np.abs(at_zero) < 4 * math.sqrt(residual / m)).all()
    # R^2 = 1 / (1 + sigma^2), of sd about 2 sqrt(R^2) (1 - R^2) / sqrt(m); the fitted values'
    # sd is sqrt(R^2 var(theta)), of relative sd about 1 / sqrt(2 m).
    r_squared = 1 / (1 + SIGMA**2)
    tolerance = 4 * 2 * math.sqrt(r_squared) * (1 - r_squared) / math.sqrt(m)
    np.testing.assert_allclose(fitted.r_squared, r_squared, rtol=0, atol=tolerance)
    np.testing.assert_allclose(fitted.scale, math.sqrt(r_squared), rtol=4 / math.sqrt(2 * m))


def bounded(theta, rng):
    """Noise-free: logit(p) and log(r), so the transformed parameters are linear in them."""
    p, r = theta[:, 0], theta[:, 1]
    return np.column_stack([np.log(p / (1 - p)), np.log(r), rng.standard_normal(len(theta))])


def test_parameters_are_regressed_in_the_transformed_space_of_their_support():
    prior = Prior(p=Uniform(0.0, 1.0), r=Gamma(2.0, 1.0))
    fitted = SemiAutomatic().fit(prior, bounded, n=500, seed=1, engine="numpy")
    assert (fitted.r_squared > 1 - 1e-9).all()  # on the raw scale they are not linear
    rng = batch_rng(0, 0, 0)
    theta = np.column_stack([rng.uniform(0.05, 0.95, 5), rng.gamma(2.0, 1.0, 5)])
    z = np.column_stack([np.log(theta[:, 0] / (1 - theta[:, 0])), np.log(theta[:, 1])])
    np.testing.assert_allclose(fitted.project(bounded(theta, rng)), z, atol=1e-5)


def quadratic(theta, rng):
    """``theta + b^2`` and ``b``: E[theta | s] = s_0 - s_1^2, quadratic in the statistics."""
    b = rng.standard_normal(len(theta))
    return np.column_stack([theta[:, 0] + b**2, b])


def test_degree_two_fits_squares_of_the_statistics():
    prior = Prior(theta=Normal(0.0, 1.0))
    linear = SemiAutomatic(degree=1).fit(prior, quadratic, n=2000, seed=2, engine="numpy")
    squares = SemiAutomatic(degree=2).fit(prior, quadratic, n=2000, seed=2, engine="numpy")
    assert linear.r_squared[0] < 0.5  # about var(theta) / var(theta + b^2) = 1/3
    assert squares.r_squared[0] > 1 - 1e-6
    assert squares.coefficients.shape == (5, 1) and linear.coefficients.shape == (3, 1)


@pytest.fixture(scope="module")
def fitted():
    return SemiAutomatic(degree=2).fit(
        PRIOR, simulate, OBSERVED, n=1000, seed=11, engine="numpy", batch_size=100
    )


def rejection(distance, **options):
    abc = RejectionABC(PRIOR, simulate, distance, batch_size=200, keep_statistics=True, **options)
    return abc.run(OBSERVED, quantile=0.02, n_simulations=4000, seed=12)


@pytest.mark.parametrize("parallelism", [1, 2])
def test_bit_identical_on_numpy_and_spark(spark, fitted, parallelism):
    on_spark = SemiAutomatic(degree=2).fit(
        PRIOR,
        simulate,
        OBSERVED,
        n=1000,
        seed=11,
        spark=spark,
        parallelism=parallelism,
        batch_size=100,
    )
    assert on_spark.to_dict() == fitted.to_dict()  # every coefficient, bit for bit
    assert on_spark.n_simulations == 1000 + 2 * DRY_RUN_SIZE
    on_spark_run = rejection(on_spark, spark=spark, parallelism=parallelism)
    reference = rejection(fitted, engine="numpy")
    assert_same_posterior(on_spark_run, reference)
    np.testing.assert_array_equal(on_spark_run.statistics, reference.statistics)


def test_pmc_runs_with_it_identically_on_numpy_and_spark(spark, fitted):
    def pmc(**options):
        return PMCABC(
            PRIOR,
            simulate,
            fitted,
            n_particles=200,
            generations=3,
            batch_size=200,
            progress=False,
            **options,
        ).run(OBSERVED, seed=4)

    reference = pmc(engine="numpy")
    assert_same_posterior(pmc(spark=spark, parallelism=2), reference)
    assert reference.metadata["distance"] == fitted.to_dict()
    assert np.diff(reference.history["epsilon"]).max() < 0  # it made progress


def test_on_a_reference_table(spark, tmp_path):
    table = ReferenceTable.simulate(
        PRIOR, simulate, 2000, str(tmp_path / "t"), seed=7, batch_size=100, spark=spark
    )
    distance = SemiAutomatic().fit_table(table, n=1000)
    assert distance.n_simulations == 0 and distance.n_rows == 1000
    direct = RejectionABC(PRIOR, simulate, engine="numpy", batch_size=100, keep_statistics=True)
    every = direct.run(OBSERVED, epsilon=np.inf, n_simulations=2000, seed=7)
    expected = SemiAutomatic().regress(
        every.samples.to_numpy()[:1000], every.statistics[:1000], PRIOR.bounds()
    )
    assert distance.to_dict() == expected.to_dict()
    on_table = TableRejectionABC(table, distance).run(OBSERVED, n_samples=40)
    run = RejectionABC(
        PRIOR, simulate, distance, engine="numpy", batch_size=100, keep_statistics=True
    )
    assert_same_posterior(on_table, run.run(OBSERVED, quantile=0.02, n_simulations=2000, seed=7))
    with pytest.raises(ValueError, match=r"n must be at most the table's 2,000 simulations"):
        SemiAutomatic().fit_table(table, n=2001)
    with pytest.raises(TypeError, match="table must be a ReferenceTable"):
        SemiAutomatic().fit_table("s3://bucket/table")


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: SemiAutomatic(degree=3), ValueError, r"degree must be 1 or 2 \(got 3\)"),
        (lambda: SemiAutomatic(degree=True), ValueError, r"degree must be 1 or 2 \(got True\)"),
        (lambda: SemiAutomatic(ridge=-1.0), ValueError, r"ridge must be a finite number >= 0"),
        (lambda: SemiAutomatic(ridge=np.inf), ValueError, r"ridge must be a finite number >= 0"),
        (lambda: SemiAutomatic().fit(PRIOR, simulate, n=0), ValueError, "n must be a positive int"),
        (
            lambda: SemiAutomatic().fit(PRIOR, simulate, keep_statistics=False),
            ValueError,
            r"fit's options must not set .* \(got \['keep_statistics'\]\)",
        ),
        (lambda: SemiAutomatic().fit("prior", simulate), TypeError, "prior must be a Prior"),
        (
            lambda: SemiAutomatic().fit(PRIOR, simulate, [0.0, 1.0], n=100, engine="numpy"),
            ValueError,
            r"simulate must return shape \(n, k\) = \(4, 2\)",
        ),
        (
            lambda: SemiAutomatic().fit(PRIOR, lambda t, rng: t[:, 0], n=100, engine="numpy"),
            ValueError,
            r"simulate must return shape \(n, k\) \(got \(4,\)\)",
        ),
        (
            lambda: SemiAutomatic().regress(np.zeros((10, 2)), np.zeros((9, 3))),
            ValueError,
            r"theta and stats must have shapes .* \(got \(10, 2\) and \(9, 3\)\)",
        ),
        (
            lambda: SemiAutomatic().regress(np.zeros((10, 1)), np.full((10, 1), np.nan)),
            ValueError,
            "theta and stats must be finite",
        ),
        (
            lambda: SemiAutomatic(degree=2).regress(np.arange(7.0)[:, None], np.ones((7, 3))),
            ValueError,
            r"the pilot must hold more rows than the 7 features of degree=2 \(got 7\)",
        ),
        (
            lambda: SemiAutomatic().regress(
                np.arange(9.0)[:, None], np.column_stack([np.arange(9.0), np.ones(9)])
            ),
            ValueError,
            r"summary statistic 1 must vary over the pilot",
        ),
    ],
)
def test_bad_arguments_are_refused_with_the_fix(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_an_unfitted_or_mismatched_distance_is_refused_before_any_pilot(fitted):
    counter = Counting()
    with pytest.raises(ValueError, match=r"SemiAutomatic must be fitted before use .*\.fit\(prior"):
        RejectionABC(PRIOR, counter, SemiAutomatic(), engine="numpy").run(
            OBSERVED, quantile=0.1, n_simulations=1000, seed=1
        )
    assert counter.rows == 2 * DRY_RUN_SIZE  # the dry run, no more
    with pytest.raises(
        ValueError, match=r"fitted on k = 8 statistics and must get as many \(got 2\)"
    ):
        fitted(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="must be fitted before use"):
        SemiAutomatic().project(np.zeros((3, 2)))


def test_it_describes_itself(fitted):
    assert repr(SemiAutomatic()) == "SemiAutomatic(degree=1, ridge=1e-06, unfitted)"
    assert repr(fitted) == "SemiAutomatic(degree=2, ridge=1e-06, fitted on 1,000 rows)"
    assert SemiAutomatic().to_dict() == {"type": "SemiAutomatic", "degree": 1, "ridge": 1e-06}
    assert len(fitted.to_dict()["coefficients"]) == 1 + 2 * len(OBSERVED)
    assert fitted.seed == 11


def test_the_distance_is_euclidean_on_the_scaled_projection_row_by_row(fitted):
    stats = simulate(PRIOR.sample(500, batch_rng(3, 0, 0)), batch_rng(3, 0, 1))
    distances = fitted(stats, OBSERVED)
    shift = (fitted.project(stats) - fitted.project(OBSERVED[None, :])) / fitted.scale
    np.testing.assert_allclose(distances, np.sqrt((shift**2).sum(axis=1)), rtol=1e-12)
    # A row's distance never depends on the rows it comes with (batches, table chunks).
    alone = np.concatenate([fitted(stats[i : i + 1], OBSERVED) for i in range(len(stats))])
    np.testing.assert_array_equal(distances, alone)
    np.testing.assert_array_equal(distances[::-1], fitted(stats[::-1].copy(order="F"), OBSERVED))
    moved = fitted(OBSERVED[None, :] + np.eye(len(OBSERVED)), OBSERVED)
    assert moved[2:].max() < moved[:2].min()  # a unit of noise moves it less than of signal
