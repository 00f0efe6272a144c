"""Tests of abcspark.priors: sampling, densities, validation and Prior (no Spark)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from abcspark import priors
from abcspark.priors import (
    RESERVED_NAMES,
    Beta,
    Categorical,
    Distribution,
    Gamma,
    LogNormal,
    MultivariateNormal,
    Normal,
    Poisson,
    Prior,
    TruncatedNormal,
    Uniform,
)

N = 20_000
COV = [[2.0, 0.6], [0.6, 1.0]]


def _normal_pdf(x, mean, sd):
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def _truncated_moments(mean, sd, low, high):
    """Mean, variance and 4th central moment by midpoint quadrature of the Normal density."""
    h = (high - low) / 400_000
    x = low + h * (np.arange(400_000) + 0.5)
    w = _normal_pdf(x, mean, sd) * h
    w /= w.sum()
    m = w @ x
    return m, w @ (x - m) ** 2, w @ (x - m) ** 4


def _moments_from_kurtosis(mean, var, excess_kurtosis):
    return mean, var, var**2 * (excess_kurtosis + 3)


def _categorical_moments(probs):
    k, p = np.arange(len(probs)), np.asarray(probs)
    m = p @ k
    return m, p @ (k - m) ** 2, p @ (k - m) ** 4


def _lognormal_moments(mu, s):
    var = (math.exp(s * s) - 1) * math.exp(2 * mu + s * s)
    kurt = math.exp(4 * s * s) + 2 * math.exp(3 * s * s) + 3 * math.exp(2 * s * s) - 6
    return _moments_from_kurtosis(math.exp(mu + s * s / 2), var, kurt)


# (distribution, (mean, variance, 4th central moment))
SCALAR_CASES = [
    (Uniform(1, 3), (2.0, 4 / 12, 16 / 80)),
    (Normal(1, 2), (1.0, 4.0, 48.0)),
    (LogNormal(0.5, 0.25), _lognormal_moments(0.5, 0.25)),
    (TruncatedNormal(0, 1, -1, 2), _truncated_moments(0, 1, -1, 2)),
    (TruncatedNormal(0, 1, -0.001, 0.002), _truncated_moments(0, 1, -0.001, 0.002)),
    (TruncatedNormal(0, 1, 1, 1.8), _truncated_moments(0, 1, 1, 1.8)),
    (TruncatedNormal(2, 0.5, 3.5, 4.5), _truncated_moments(2, 0.5, 3.5, 4.5)),
    (TruncatedNormal(0, 1, -1000, -4), _truncated_moments(0, 1, -1000, -4)),
    (Beta(2, 3), _moments_from_kurtosis(0.4, 0.04, -36 / 56)),
    (Gamma(2, 3), _moments_from_kurtosis(6.0, 18.0, 3.0)),
    (Poisson(3.5), _moments_from_kurtosis(3.5, 3.5, 1 / 3.5)),
    (Categorical([0.2, 0.0, 0.8]), _categorical_moments([0.2, 0.0, 0.8])),
]
ALL = [d for d, _ in SCALAR_CASES] + [MultivariateNormal([0.0, 1.0], COV)]


@pytest.mark.parametrize(("dist", "truth"), SCALAR_CASES, ids=repr)
def test_sample_moments_and_support(dist, truth):
    x = dist.sample(N, np.random.default_rng(1))
    assert x.shape == (N, 1) and x.dtype == np.float64
    assert dist.in_support(x).all() and np.isfinite(dist.log_pdf(x)).all()
    mean, var, mu4 = truth
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / N)
    assert abs(x.var(ddof=1) - var) < 5 * math.sqrt((mu4 - var**2) / N)


def test_multivariate_normal_moments_and_formula():
    dist, cov = MultivariateNormal([0.0, 1.0], COV), np.array(COV)
    x = dist.sample(N, np.random.default_rng(2))
    assert x.shape == (N, 2) and x.dtype == np.float64 and dist.in_support(x).all()
    assert np.all(np.abs(x.mean(axis=0) - [0.0, 1.0]) < 5 * np.sqrt(np.diag(cov) / N))
    sd_of_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / N)
    assert np.all(np.abs(np.cov(x.T) - cov) < 5 * sd_of_cov)
    z = np.random.default_rng(3).standard_normal((5, 2))
    chol = np.linalg.cholesky(cov)  # mean + L z, written out: the same bits on every CPU
    expected = np.array([0.0, 1.0]) + (z[:, [0]] * chol[:, 0] + z[:, [1]] * chol[:, 1])
    np.testing.assert_array_equal(dist.sample(5, np.random.default_rng(3)), expected)


@pytest.mark.parametrize("dist", ALL, ids=repr)
def test_sampling_is_deterministic_given_the_rng(dist):
    first = dist.sample(1000, np.random.default_rng(7))
    np.testing.assert_array_equal(first, dist.sample(1000, np.random.default_rng(7)))
    rng = np.random.default_rng(7)
    dist.sample(1000, rng)
    assert not np.array_equal(first, dist.sample(1000, rng))
    assert dist.sample(0, rng).shape == (0, dist.dim)


@pytest.mark.parametrize(
    ("dist", "proposal"),
    [
        (TruncatedNormal(0, 1, -1, 2), "normal"),
        (TruncatedNormal(0, 1, -0.001, 0.002), "uniform"),
        (TruncatedNormal(0, 1, 1, 1.8), "uniform"),
        (TruncatedNormal(2, 0.5, 3.5, 4.5), "exponential"),
        (TruncatedNormal(0, 1, -1000, -4), "exponential"),
    ],
    ids=repr,
)
def test_truncated_normal_uses_the_best_proposal_and_is_normalised(dist, proposal):
    assert dist._proposal == proposal
    h = (dist.high - dist.low) / 200_000
    grid = dist.low + h * (np.arange(200_000) + 0.5)
    assert np.exp(dist.log_pdf(grid[:, None])).sum() * h == pytest.approx(1.0, abs=1e-3)


def _normal_log_pdf(x, mean, sd):
    return -0.5 * ((x - mean) / sd) ** 2 - math.log(sd) - 0.5 * math.log(2 * math.pi)


def _truncated_log_pdf(x, mean, sd, low, high):
    cdf = [0.5 * (1 + math.erf((v - mean) / (sd * math.sqrt(2)))) for v in (low, high)]
    return _normal_log_pdf(x, mean, sd) - math.log(cdf[1] - cdf[0])


def _poisson_log_pmf(k, rate):
    return k * math.log(rate) - rate - math.lgamma(k + 1)


@pytest.mark.parametrize(
    ("dist", "x", "expected"),
    [
        (Uniform(1, 3), [1.0, 2.0, 3.0], [math.log(0.5)] * 3),
        (Normal(1, 2), [0.0, 1.0, 7.5], [_normal_log_pdf(v, 1, 2) for v in (0.0, 1.0, 7.5)]),
        (LogNormal(0.5, 0.75), [2.0], [_normal_log_pdf(math.log(2), 0.5, 0.75) - math.log(2)]),
        (
            TruncatedNormal(1, 2, 0, 4),
            [0.0, 2.5],
            [_truncated_log_pdf(v, 1, 2, 0, 4) for v in (0, 2.5)],
        ),
        (Beta(2, 3), [0.25, 0.0], [math.log(12 * 0.25 * 0.75**2), -math.inf]),
        (Beta(1, 1), [0.0, 0.5, 1.0], [0.0, 0.0, 0.0]),
        (Beta(0.5, 1), [0.0], [math.inf]),
        (Gamma(2, 3), [1.0, 0.0], [math.log(math.exp(-1 / 3) / 9), -math.inf]),
        (Gamma(1, 2), [0.0], [math.log(0.5)]),
        (Poisson(3.5), [0.0, 1.0, 5.0, 30.0], [_poisson_log_pmf(k, 3.5) for k in (0, 1, 5, 30)]),
        (Categorical([0.2, 0.0, 0.8]), [0.0, 2.0], [math.log(0.2), math.log(0.8)]),
    ],
    ids=repr,
)
def test_log_pdf_by_hand(dist, x, expected):
    np.testing.assert_allclose(dist.log_pdf(np.array(x)[:, None]), expected, rtol=1e-12)


def test_multivariate_normal_log_pdf_by_hand():
    dist, cov, mean = MultivariateNormal([0.0, 1.0], COV), np.array(COV), np.array([0.0, 1.0])
    x = np.array([[0.5, -1.0], [0.0, 1.0], [3.0, 2.0]])
    d = x - mean
    quad = np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d)
    expected = -0.5 * quad - 0.5 * math.log(np.linalg.det(2 * math.pi * cov))
    np.testing.assert_allclose(dist.log_pdf(x), expected, rtol=1e-12)
    bad = np.array([[np.nan, 0.0], [np.inf, 1.0]])
    assert dist.log_pdf(bad).tolist() == [-math.inf, -math.inf]
    assert dist.in_support(bad).tolist() == [False, False]


def test_poisson_log_factorial_matches_lgamma_for_small_and_large_counts():
    k = np.concatenate([np.arange(300.0), [1e3, 12345.0, 1e6, 1e12]])
    expected = [_poisson_log_pmf(v, 2.0) for v in k]
    np.testing.assert_allclose(Poisson(2.0).log_pdf(k[:, None]), expected, rtol=1e-13)


@pytest.mark.parametrize("rate", (1e9, 1e12, 1e16, 1e18))
def test_poisson_log_mass_is_accurate_near_the_mean_of_a_huge_rate(rate):
    """At ``rate + k``, ``|k|`` up to 3 sd, the log mass is the normal limit with its first
    corrections, ``-log(2 pi rate)/2 - k**2/(2 rate) + k**3/(6 rate**2) - k/(2 rate)``, to
    1e-7 (what that expansion leaves out is below 2e-8 there). Computed as ``k log(rate) -
    rate - log(k!)`` it was off by up to 4e-6 at 1e9, 0.04 at 1e14 and 19-88 at 1e16."""
    k = np.round([0.0, 1.0, -1.0, 1e3, -1e3, 3 * math.sqrt(rate), -3 * math.sqrt(rate)])
    got = Poisson(rate).log_pdf((rate + k)[:, None])
    normal = -0.5 * math.log(2 * math.pi * rate) - k**2 / (2 * rate)
    expected = normal + k**3 / (6 * rate**2) - k / (2 * rate)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7)


OUTSIDE = [
    (Uniform(1, 3), [0.999, 3.001, math.nan, math.inf]),
    (Normal(0, 1), [math.nan, math.inf, -math.inf]),
    (LogNormal(0, 1), [0.0, -1.0, math.inf]),
    (TruncatedNormal(0, 1, -1, 2), [-1.001, 2.001, math.nan]),
    (Beta(2, 3), [-0.001, 1.001, math.nan]),
    (Gamma(2, 3), [-0.001, math.inf, math.nan]),
    (Poisson(3.5), [-1.0, 1.5, math.inf, math.nan]),
    (Categorical([0.2, 0.0, 0.8]), [-1.0, 0.5, 1.0, 3.0, math.nan]),
]


@pytest.mark.parametrize(("dist", "x"), OUTSIDE, ids=repr)
def test_log_pdf_is_minus_inf_outside_the_support(dist, x):
    x = np.array(x)[:, None]
    assert (dist.log_pdf(x) == -math.inf).all()
    assert not dist.in_support(x).any()


BAD = [
    (
        lambda: Uniform(3.0, 1.0),
        ValueError,
        r"Uniform low must be < high \(got low=3.0, high=1.0\)",
    ),
    (lambda: Uniform(1, 1), ValueError, "low must be < high"),
    (lambda: Uniform("0", 1), TypeError, r"Uniform low must be a real number \(got '0'"),
    (lambda: Uniform(True, 2), TypeError, "low must be a real number .* <class 'bool'>"),
    (lambda: Uniform(0, None), TypeError, "high must be a real number"),
    (lambda: Uniform(0, math.nan), ValueError, "Uniform high must be finite"),
    (lambda: Uniform(-math.inf, 0), ValueError, "Uniform low must be finite"),
    (lambda: Normal(0, 0), ValueError, r"Normal sd must be finite and > 0 \(got sd=0\)"),
    (lambda: Normal(0, -1.0), ValueError, "Normal sd must be finite and > 0"),
    (lambda: Normal(np.bool_(True), 1), TypeError, "Normal mean must be a real number"),
    (lambda: LogNormal(0, -1), ValueError, "LogNormal sigma must be finite and > 0"),
    (lambda: LogNormal("a", 1), TypeError, "LogNormal mu must be a real number"),
    (lambda: TruncatedNormal(0, 0, -1, 1), ValueError, "TruncatedNormal sd must be finite and > 0"),
    (lambda: TruncatedNormal(0, 1, 2, 1), ValueError, "TruncatedNormal low must be < high"),
    (lambda: TruncatedNormal(0, 1, 6, 7), ValueError, "must hold at least 1e-06 of the Normal"),
    (lambda: TruncatedNormal(0, 1, -1e-8, 1e-8), ValueError, "towards the mean"),
    (lambda: Beta(0, 1), ValueError, r"Beta a must be finite and > 0 \(got a=0\)"),
    (lambda: Beta(1, -2), ValueError, "Beta b must be finite and > 0"),
    (lambda: Gamma(0, 1), ValueError, "Gamma shape must be finite and > 0"),
    (lambda: Gamma(1, math.inf), ValueError, "Gamma scale must be finite and > 0"),
    (lambda: Poisson(0), ValueError, "Poisson rate must be finite and > 0"),
    (lambda: Poisson([1.0]), TypeError, "Poisson rate must be a real number"),
    (lambda: Categorical([0.5, 0.4]), ValueError, "Categorical probs must .* sum to 1 within 1e-9"),
    (lambda: Categorical([-0.1, 1.1]), ValueError, "Categorical probs must be >= 0"),
    (lambda: Categorical([]), ValueError, "Categorical probs must be a non-empty 1-D array"),
    (lambda: Categorical([[0.5, 0.5]]), ValueError, r"non-empty 1-D array .*shape \(1, 2\)"),
    (lambda: Categorical([math.nan, 1.0]), ValueError, "finite numbers"),
    (lambda: Categorical(["a", "b"]), TypeError, "Categorical probs must be an array of real"),
    (lambda: Categorical([True, False]), TypeError, "must be an array of real numbers"),
    (lambda: MultivariateNormal([[0.0]], [[1.0]]), ValueError, "mean must be a non-empty 1-D"),
    (lambda: MultivariateNormal([0, 0], np.eye(3)), ValueError, r"symmetric \(2, 2\) matrix"),
    (lambda: MultivariateNormal([0, 0], [[1, 0.5], [0, 1]]), ValueError, "must be a symmetric"),
    (lambda: MultivariateNormal([0, 0], [[1, 2], [2, 1]]), ValueError, "positive definite"),
    (lambda: MultivariateNormal([0, 0], [[1, 0], [0, math.nan]]), ValueError, "finite numbers"),
    (lambda: MultivariateNormal(["a"], [[1.0]]), TypeError, "mean must be an array of real"),
    # Beyond float64's comfortable range: draws, squares or log-gamma would overflow.
    (lambda: Uniform(0, 2**2000), ValueError, r"high must be within .*an int of 603 digits"),
    (lambda: Uniform(-1e308, 1e308), ValueError, r"low must be within \[-1e\+100, 1e\+100\]"),
    (lambda: Normal(0, 1e101), ValueError, "sd must be within"),
    (lambda: Normal(0, 1e-101), ValueError, r"sd must be within \[1e-100, 1e\+100\]"),
    (lambda: Beta(1e101, 1), ValueError, "Beta a must be within"),
    (lambda: LogNormal(231, 0.1), ValueError, r"needs \|mu\| \+ 10 sigma <= 230"),
    (lambda: LogNormal(0, 24), ValueError, "or its draws exp"),
    (lambda: Gamma(1e60, 1e60), ValueError, r"shape \* scale must be <= 1e\+100"),
    (lambda: Poisson(1e19), ValueError, r"rate must be <= 1e\+18"),
    (lambda: MultivariateNormal([0], [[1e101]]), ValueError, r"finite numbers within \+-1e\+100"),
    (lambda: MultivariateNormal([2**400], [[1.0]]), ValueError, "mean must be a non-empty"),
]


def test_the_largest_accepted_parameters_draw_finite_values_with_finite_densities():
    rng = np.random.default_rng(0)
    for dist in (
        Normal(1e100, 1e100),
        LogNormal(229, 0.1),
        LogNormal(-229, 0.1),
        LogNormal(0.25, 1e-100),
        Gamma(1e50, 1e49),
        Poisson(1e18),
        Beta(1e100, 1e100),
        MultivariateNormal([1e100, 0], [[1e100, 0], [0, 1]]),
    ):
        draws = dist.sample(200, rng)
        assert dist.in_support(draws).all(), dist
        assert np.isfinite(dist.log_pdf(draws)).all(), dist


@pytest.mark.parametrize(("make", "error", "match"), BAD, ids=[m for _, _, m in BAD])
def test_bad_parameters_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda d, rng: d.sample(-1, rng), ValueError, r"n must be >= 0 \(got n=-1\)"),
        (lambda d, rng: d.sample(2.5, rng), TypeError, r"n must be an int \(got 2.5"),
        (lambda d, rng: d.sample(True, rng), TypeError, "n must be an int"),
        (lambda d, rng: d.sample(3, 0), TypeError, "rng must be a numpy.random.Generator"),
        (lambda d, rng: d.sample(3, np.random), TypeError, "np.random.default_rng"),
        (lambda d, rng: d.log_pdf([1.0, 2.0]), ValueError, r"shape \(n, 1\) \(got \(2,\)\)"),
        (lambda d, rng: d.in_support(np.ones((2, 2))), ValueError, r"got \(2, 2\)"),
    ],
)
def test_bad_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(Uniform(0, 1), np.random.default_rng(0))


def test_numpy_scalars_are_accepted_and_to_dict_is_plain_json():
    dist = Uniform(np.float32(1.5), np.int64(3))
    assert dist.to_dict() == {"type": "Uniform", "low": 1.5, "high": 3.0}
    assert repr(dist) == "Uniform(low=1.5, high=3.0)"
    assert repr(Uniform(150, 200)) == "Uniform(low=150.0, high=200.0)"
    for d in ALL:
        assert json.loads(json.dumps(d.to_dict(), allow_nan=False)) == d.to_dict()


@pytest.mark.parametrize("dist", ALL, ids=repr)
def test_repr_round_trips_and_equality_is_by_value(dist):
    copy = eval(repr(dist), vars(priors))
    assert copy == dist and hash(copy) == hash(dist) and copy is not dist


def test_equality_distinguishes_types_and_parameters():
    assert Uniform(1, 2) == Uniform(1.0, 2.0)
    assert Uniform(1, 2) != Uniform(1, 3)
    assert Normal(1, 2) != Uniform(1, 2)
    assert Uniform(1, 2) != "Uniform(low=1.0, high=2.0)"


def test_discrete_flags_and_float_samples():
    assert [d.discrete for d in ALL].count(True) == 2
    assert Poisson(2).discrete and Categorical([1.0]).discrete and not Normal(0, 1).discrete
    assert Categorical([1.0]).sample(3, np.random.default_rng(0)).tolist() == [[0.0]] * 3


def _prior():
    return Prior(a=Uniform(0, 1), x=MultivariateNormal([0.0, 1.0], COV), k=Poisson(2.0))


def test_prior_names_dim_and_components():
    prior = _prior()
    assert prior.names == ["a", "x_0", "x_1", "k"]
    assert prior.dim == 4 and prior.discrete_names == ["k"]
    assert list(prior.components) == ["a", "x", "k"]
    assert Prior(c=Categorical([0.5, 0.5])).discrete_names == ["c"]


def test_prior_samples_components_in_order_from_one_rng():
    prior, rng = _prior(), np.random.default_rng(11)
    parts = [d.sample(50, rng) for d in prior.components.values()]
    theta = prior.sample(50, np.random.default_rng(11))
    assert theta.shape == (50, 4) and theta.dtype == np.float64
    np.testing.assert_array_equal(theta, np.concatenate(parts, axis=1))
    np.testing.assert_array_equal(theta, prior.sample(50, np.random.default_rng(11)))
    assert prior.sample(0, rng).shape == (0, 4)


def test_prior_log_pdf_is_the_sum_of_the_components():
    prior = _prior()
    theta = prior.sample(20, np.random.default_rng(5))
    expected = sum(
        d.log_pdf(theta[:, cols]) for d, cols in zip(prior.components.values(), [[0], [1, 2], [3]])
    )
    np.testing.assert_allclose(prior.log_pdf(theta), expected, rtol=1e-12)
    assert prior.in_support(theta).all()
    theta[0, 0], theta[1, 3] = 1.5, 0.5
    assert prior.log_pdf(theta)[:2].tolist() == [-math.inf, -math.inf]
    assert prior.in_support(theta)[:3].tolist() == [False, False, True]


def test_prior_log_pdf_of_a_pole_times_zero_density_is_minus_inf():
    prior = Prior(p=Beta(0.5, 1), q=Uniform(0, 1), r=Gamma(2, 1))
    theta = np.array([[0.0, 2.0, 1.0], [0.0, 0.5, 0.0], [0.0, 0.5, 1.0]])
    assert prior.log_pdf(theta).tolist() == [-math.inf, -math.inf, math.inf]


def test_prior_to_dict_repr_and_equality():
    prior = Prior(mu=Uniform(150, 200), sigma=Uniform(5, 25))
    assert prior.to_dict() == {
        "mu": {"type": "Uniform", "low": 150.0, "high": 200.0},
        "sigma": {"type": "Uniform", "low": 5.0, "high": 25.0},
    }
    assert repr(prior) == (
        "Prior(mu=Uniform(low=150.0, high=200.0), sigma=Uniform(low=5.0, high=25.0))"
    )
    assert prior == Prior(mu=Uniform(150.0, 200.0), sigma=Uniform(5, 25))
    assert hash(prior) == hash(Prior(mu=Uniform(150.0, 200.0), sigma=Uniform(5, 25)))
    assert prior != Prior(sigma=Uniform(5, 25), mu=Uniform(150, 200))  # column order matters
    assert json.loads(json.dumps(_prior().to_dict())) == _prior().to_dict()


@pytest.mark.parametrize("name", [*RESERVED_NAMES, "_x", "__init__"])
def test_prior_refuses_reserved_names(name):
    with pytest.raises(ValueError, match=f"Prior component names must not be .*got '{name}'"):
        Prior(**{name: Uniform(0, 1)})


@pytest.mark.parametrize(
    ("named", "error", "match"),
    [
        ({}, ValueError, "Prior must have at least one component"),
        ({"mu": 3}, TypeError, r"Prior component 'mu' must be a Distribution \(got 3 .*int"),
        ({"mu": Uniform}, TypeError, "use e.g. Uniform"),
        (
            {"x": MultivariateNormal([0, 0], np.eye(2)), "x_1": Uniform(0, 1)},
            ValueError,
            r"column names must be unique \(got \['x_1'\]",
        ),
    ],
)
def test_prior_refuses_bad_components(named, error, match):
    with pytest.raises(error, match=match):
        Prior(**named)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda p: p.log_pdf(np.zeros((3, 3))),
            r"Prior input must have shape \(n, 4\) \(got \(3, 3\)",
        ),
        (lambda p: p.in_support(np.zeros(4)), r"got \(4,\)"),
        (lambda p: p.sample(-2, np.random.default_rng(0)), "n must be >= 0"),
    ],
)
def test_prior_checks_shapes(call, match):
    with pytest.raises(ValueError, match=match):
        call(_prior())


def test_reserved_names_constant():
    assert issubclass(MultivariateNormal, Distribution)
    # Every column of the batch rows and of saved posteriors, so no parameter can shadow one.
    assert set(RESERVED_NAMES) == {
        "batch",
        "index",
        "distance",
        "n_simulated",
        "n_failed",
        "weight",
        "generation",
    }
    for name in ("n_simulated", "n_failed"):
        with pytest.raises(ValueError, match="Prior component names must not be one of"):
            Prior(**{name: Uniform(0, 1)})
