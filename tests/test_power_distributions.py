"""Tests with power for the distributions: the mutants the audit saw survive, each killed here.

benchmarks/MUTATION.md ("Missing tests") lists the surviving mutants of the statistical core and
the test that would kill each; this module writes those of ``continuous.py``, ``discrete.py``,
``multivariate.py`` and ``distributions.py`` (T19-T26). Each test names, in its docstring, the
entries it covers and the bug class it catches.

Reference values are computed by hand: closed forms with ``math``, or midpoint quadrature with
numpy (fine enough that its error is far below the tolerance). Monte Carlo tolerances are 5
standard errors with fixed seeds (a two-sided 5-sd excursion has probability 6e-7).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from abcspark.priors import (
    Beta,
    Categorical,
    Gamma,
    LogNormal,
    MultivariateNormal,
    Normal,
    Poisson,
    TruncatedNormal,
    Uniform,
)

TOLERANCE = 5.0
"""Monte Carlo tolerance in standard errors."""

SQRT2 = math.sqrt(2.0)


def phi(z: np.ndarray) -> np.ndarray:
    """The standard normal density."""
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def midpoint(f, low: float, high: float, n: int = 400_000) -> float:
    """``int_low^high f(x) dx`` by the midpoint rule on ``n`` cells."""
    h = (high - low) / n
    x = low + h * (np.arange(n) + 0.5)
    return float(f(x).sum() * h)


def upper_mass(a: float, b: float) -> float:
    """Standard normal mass of ``[a, b]`` for ``0 <= a < b``: erfc keeps its far tail exact."""
    return 0.5 * (math.erfc(a / SQRT2) - math.erfc(b / SQRT2))


# --- T20: sample moments where the proposals are stressed --------------------------------------


def truncated_moments(mean: float, sd: float, low: float, high: float) -> tuple:
    """Mean, variance and 4th central moment of the truncated Normal by quadrature."""
    density = lambda x: phi((x - mean) / sd)  # noqa: E731 (unnormalised)
    mass = midpoint(density, low, high)
    m = midpoint(lambda x: x * density(x), low, high) / mass
    var = midpoint(lambda x: (x - m) ** 2 * density(x), low, high) / mass
    mu4 = midpoint(lambda x: (x - m) ** 4 * density(x), low, high) / mass
    return m, var, mu4


@pytest.mark.parametrize(
    ("args", "proposal"),
    [((0.0, 1.0, 0.9, 5.0), "exponential"), ((0.0, 1.0, -1.0, 1.4), "uniform")],
)
def test_truncated_normal_moments_where_the_proposals_are_stressed(args, proposal):
    """T20: the exponential proposal with ``0 < a <= 1`` and the uniform one around the mean.

    Kills continuous.py ``_propose`` #22 (``peak = max(1.0, a)``: flat on [-1, 1]), #43 (the
    left-tail branch for ``0 < a <= 1``: a crash) and #66 (``(z - tail) ** 3`` in the
    acceptance: mean 1.389 instead of 1.446, 17 standard errors at 20,000 draws). Over seeds
    1-30 the largest error of the correct sampler was 3.0 standard errors.
    """
    dist, n = TruncatedNormal(*args), 20_000
    assert dist._proposal == proposal
    mean, var, mu4 = truncated_moments(*args)
    if args[2] == 0.9:
        # The closed form (phi(a) - phi(b)) / mass of the mean checks the quadrature.
        assert mean == pytest.approx((phi(0.9) - phi(5.0)) / upper_mass(0.9, 5.0), rel=1e-8)
    x = dist.sample(n, np.random.default_rng(20))
    assert ((x >= args[2]) & (x <= args[3])).all()
    assert abs(x.mean() - mean) < TOLERANCE * math.sqrt(var / n)
    assert abs(x.var(ddof=1) - var) < TOLERANCE * math.sqrt((mu4 - var**2) / n)


# --- T19: the advertised acceptance rates are the real ones -----------------------------------

RATE_CASES = [
    (0.0, 1.0, -1.0, 2.0),
    (0.0, 1.0, -0.001, 0.002),
    (0.0, 1.0, 1.0, 1.8),
    (2.0, 0.5, 3.5, 4.5),
    (0.0, 1.0, -1000.0, -4.0),
    (0.0, 1.0, 0.9, 5.0),
]


def rates_by_quadrature(a: float, b: float) -> dict:
    """Each proposal's acceptance probability on the standardised ``[a, b]``, integrated.

    normal: ``P(a <= Z <= b)``; uniform on [a, b], accepted with ``exp((peak^2 - z^2) / 2)``;
    exponential from the near end ``t`` (rate ``t``), accepted with ``exp(-(z - t)^2 / 2)``:
    the last exists only for an interval in one tail.
    """
    lo, hi = max(a, -40.0), min(b, 40.0)
    peak = min(max(0.0, a), b)
    rates = {
        "normal": midpoint(phi, lo, hi),
        "uniform": midpoint(lambda z: np.exp((peak * peak - z * z) / 2), lo, hi) / (b - a),
    }
    if a > 0 or b < 0:
        t, end = (a, b) if a > 0 else (-b, -a)
        accept = lambda z: t * np.exp(-t * (z - t)) * np.exp(-((z - t) ** 2) / 2)  # noqa: E731
        rates["exponential"] = midpoint(accept, t, min(end, t + 40.0))
    return rates


@pytest.mark.parametrize("args", RATE_CASES, ids=repr)
def test_truncated_normal_advertises_its_true_acceptance_rates_and_picks_the_best(args):
    """T19: ``_acceptance_rates`` against quadrature, and the proposal chosen is the best.

    Kills continuous.py ``_acceptance_rates`` #4 (``sqrt(2 / pi)``), #19 (``a > 1``: no
    exponential proposal at a = 0.9), #30, #32 (``peak * 2``, ``/ 3``), #35 (``tail > 1``),
    #44, #45 (``tail ** 3``, ``/ 3``): a wrong rate only picks a slower proposal, so no moment
    test can see it.
    """
    dist = TruncatedNormal(*args)
    truth = rates_by_quadrature(dist._a, dist._b)
    advertised = dist._acceptance_rates()
    assert set(advertised) == set(truth)
    for name, rate in truth.items():
        assert advertised[name] == pytest.approx(rate, rel=1e-6), name
    assert dist._proposal == max(truth, key=truth.get)


def test_truncated_normal_in_the_near_right_tail_chooses_the_exponential_proposal():
    """T19: ``(0, 1, 0.9, 5)``: exponential 0.62, normal 0.18, uniform 0.17 (by hand).

    Kills continuous.py ``_acceptance_rates`` #19 and #35 (no exponential for tail <= 1).
    """
    dist = TruncatedNormal(0.0, 1.0, 0.9, 5.0)
    scaled_mass = upper_mass(0.9, 5.0) * math.sqrt(2 * math.pi)
    assert dist._proposal == "exponential"
    assert dist._rate == pytest.approx(scaled_mass * 0.9 * math.exp(0.9**2 / 2), rel=1e-12)


@pytest.mark.parametrize("args", RATE_CASES, ids=repr)
def test_each_proposals_empirical_acceptance_rate_is_the_advertised_one(args):
    """T19: every available proposal, forced in turn, accepts at the rate it advertises.

    ``m`` proposals accept a Binomial(m, rate) count: tolerance 5 sds of it (over seeds 1-30
    the largest error was 2.7 sds, beside the one-count floor below). Kills the same
    rate mutants as above from the sampler's side (a rate formula and a sampler that disagree).
    """
    m = 100_000
    for name, rate in TruncatedNormal(*args)._acceptance_rates().items():
        dist = TruncatedNormal(*args)
        dist._proposal = name
        z = dist._propose(m, np.random.default_rng(19))
        assert ((z >= dist._a) & (z <= dist._b)).all(), name
        # At least one count of sd: a rate of 1 - 2e-7 (the uniform on a tiny interval)
        # rejects Poisson(0.02) proposals, where 5 binomial sds would be 0.2 of a count.
        sd = math.sqrt(max(m * rate * (1 - rate), 1.0))
        assert abs(len(z) - m * rate) < TOLERANCE * sd, name


# --- T21, T22: one draw, no draws, and the pinned stream --------------------------------------

EVERY_DISTRIBUTION = [
    Uniform(1, 3),
    Normal(1, 2),
    LogNormal(0.5, 0.25),
    TruncatedNormal(0, 1, -1, 2),
    TruncatedNormal(0, 1, 1, 1.8),
    TruncatedNormal(0, 1, 0.9, 5),
    TruncatedNormal(0, 1, -1000, -4),
    Beta(2, 3),
    Gamma(2, 3),
    Poisson(3.5),
    Categorical([0.2, 0.0, 0.8]),
    MultivariateNormal([0.0, 1.0], [[2.0, 0.6], [0.6, 1.0]]),
]


@pytest.mark.parametrize("dist", EVERY_DISTRIBUTION, ids=repr)
def test_one_draw_and_no_draw_have_the_right_shape(dist):
    """T21: ``sample(1)`` is ``(1, dim)`` inside the support, ``sample(0)`` is ``(0, dim)``.

    Kills continuous.py ``TruncatedNormal._sample`` #11 (``- 16``: a round of one draw asks
    for a negative number of proposals).
    """
    rng = np.random.default_rng(21)
    for _ in range(20):
        one = dist.sample(1, rng)
        assert one.shape == (1, dist.dim) and one.dtype == np.float64
        assert dist.in_support(one).all()
    assert dist.sample(0, rng).shape == (0, dist.dim)


def normal_proposal_by_hand(n: int, mean: float, sd: float, low: float, high: float, seed: int):
    """The documented sampler with the Normal proposal: rounds of ``int(1.1 need / rate) + 16``.

    Each round draws that many standard normals and keeps the first accepted ones.
    """
    a, b = (low - mean) / sd, (high - mean) / sd
    rate = 0.5 * (math.erfc(a / SQRT2) - math.erfc(b / SQRT2))
    rng, out = np.random.default_rng(seed), []
    while len(out) < n:
        z = rng.standard_normal(int(1.1 * (n - len(out)) / rate) + 16)
        out += list(z[(z >= a) & (z <= b)][: n - len(out)])
    return mean + sd * np.array(out)


def exponential_proposal_by_hand(n: int, mean: float, sd: float, low: float, high: float, seed):
    """The documented sampler with the exponential proposal on an interval below the mean."""
    a, b = (low - mean) / sd, (high - mean) / sd
    tail, end = -b, -a
    mass = 0.5 * (math.erfc(tail / SQRT2) - math.erfc(end / SQRT2))
    rate = mass * math.sqrt(2 * math.pi) * tail * math.exp(tail**2 / 2)
    rng, out = np.random.default_rng(seed), []
    while len(out) < n:
        m = int(1.1 * (n - len(out)) / rate) + 16
        z = tail + rng.exponential(1.0 / tail, m)
        keep = (z <= end) & (rng.random(m) < np.exp(-((z - tail) ** 2) / 2))
        out += list(-z[keep][: n - len(out)])
    return mean + sd * np.array(out)


@pytest.mark.parametrize("n", [5, 2000])
def test_truncated_normal_draws_follow_the_documented_stream(n):
    """T22: seeded draws equal the documented sampler written out by hand, bit for bit.

    The proposals per round decide the random stream, so a change of that count changes every
    seeded run. Kills continuous.py ``TruncatedNormal._sample`` #13-#16 (``need * rate``,
    ``1.1 / need``, ``2.1``, ``+ 17``).
    """
    args = (0.0, 1.0, -1.0, 2.0)
    draws = TruncatedNormal(*args).sample(n, np.random.default_rng(22))
    np.testing.assert_array_equal(draws[:, 0], normal_proposal_by_hand(n, *args, seed=22))
    args = (1.0, 2.0, -2000.0, -7.0)
    dist = TruncatedNormal(*args)
    assert dist._proposal == "exponential"
    draws = dist.sample(n, np.random.default_rng(23))
    np.testing.assert_array_equal(draws[:, 0], exponential_proposal_by_hand(n, *args, seed=23))


# --- T23: far tails on both sides --------------------------------------------------------------


@pytest.mark.parametrize(("low", "high", "x"), [(-6.0, -4.7, -5.0), (4.7, 6.0, 5.0)])
def test_truncated_normal_far_tail_density_is_accurate_on_both_sides(low, high, x):
    """T23: the log density in a far tail to 1e-13, on the left as on the right.

    The mass (1.3e-6) is ``erfc`` of the tail's near end minus its far end; computed on the
    side where ``erfc`` is near 2 it loses about 1e-10 of its relative accuracy. Kills
    continuous.py ``_normal_mass`` #2 (never reflect), #3 and #6 (always reflect).
    """
    mass = upper_mass(4.7, 6.0)  # by symmetry, the mass of either interval
    expected = -0.5 * x * x - 0.5 * math.log(2 * math.pi) - math.log(mass)
    got = TruncatedNormal(0.0, 1.0, low, high).log_pdf([[x]])[0]
    assert abs(got - expected) < 1e-13


# --- T24, T25: Poisson's log mass ---------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 2, 7, 19, 20, 25])
def test_poisson_log_mass_of_integer_arrays(k):
    """T24: an int array gives the same log mass as floats: ``k log r - r - log k!``.

    Kills distributions.py ``as_rows`` #3, #5 (without float64 an int array reaches
    ``_log_factorial``, whose ``np.empty_like`` then truncates ``log k!`` to an integer).
    """
    expected = k * math.log(3.5) - 3.5 - math.log(math.factorial(k))
    got = Poisson(3.5).log_pdf(np.array([[k]]))
    assert got.dtype == np.float64
    assert got[0] == pytest.approx(expected, abs=1e-13)


def test_poisson_log_mass_above_twenty_matches_exact_factorials():
    """T25: Stirling's series for ``log k!``, k = 20..40, to 5e-14 of ``log(k!)`` from ints.

    At rate 1, ``log p(k) = -1 - log k!``; the reference takes ``math.factorial`` exactly and
    one rounding to float (error below 1e-14). Kills discrete.py ``_log_factorial`` #25 (the
    sign of the ``1/1680`` term: 9.3e-13 at k = 20) and #28 (``1/1261``: 2.0e-13).
    """
    k = np.arange(0, 41)
    got = Poisson(1.0).log_pdf(k[:, None].astype(np.float64))
    expected = np.array([-1.0 - math.log(math.factorial(int(i))) for i in k])
    np.testing.assert_allclose(got, expected, rtol=0, atol=5e-14)


# --- T26: symmetry of a large covariance -----------------------------------------------------


def test_multivariate_normal_accepts_a_large_covariance_with_rounding_asymmetry():
    """T26: symmetry is checked relative to the largest entry, so 1e-15 of it passes.

    Kills multivariate.py ``MultivariateNormal.__init__`` #37 (``1e-12 / max``: an absolute
    tolerance of 1e-18 refuses a covariance of scale 1e6 that is symmetric to rounding).
    """
    cov = np.array([[1e6, 3e5], [3e5 * (1 + 1e-15), 1e6]])
    dist = MultivariateNormal([0.0, 0.0], cov)
    np.testing.assert_array_equal(dist.cov, dist.cov.T)
    det = 1e12 - 3e5 * 3e5 * (1 + 0.5e-15)
    expected = -math.log(2 * math.pi) - 0.5 * math.log(det)
    assert dist.log_pdf([[0.0, 0.0]])[0] == pytest.approx(expected, rel=1e-13)
    with pytest.raises(ValueError, match=r"cov must be a symmetric \(2, 2\) matrix"):
        MultivariateNormal([0.0, 0.0], [[1e6, 3e5], [3e5 * (1 + 1e-11), 1e6]])


# --- Messages: the owner and the argument named, exactly -------------------------------------

MESSAGES = [
    (
        lambda: TruncatedNormal("a", 1.0, 0.0, 1.0),
        TypeError,
        "TruncatedNormal mean must be a real number (got 'a' that is a <class 'str'>); "
        "pass e.g. mean=1.0.",
    ),
    (
        lambda: Normal(0.0, -1.0),
        ValueError,
        "Normal sd must be finite and > 0 (got sd=-1.0); pass a positive one.",
    ),
    (
        lambda: Normal(math.inf, 1.0),
        ValueError,
        "Normal mean must be finite (got mean=inf); pass a finite one.",
    ),
    (
        lambda: MultivariateNormal(["a"], [[1.0]]),
        TypeError,
        "MultivariateNormal mean must be an array of real numbers (got ['a'] that is a "
        "<class 'list'>); pass a list of floats.",
    ),
    (
        lambda: MultivariateNormal([0.0], [["a"]]),
        TypeError,
        "MultivariateNormal cov must be an array of real numbers (got [['a']] that is a "
        "<class 'list'>); pass a list of floats.",
    ),
    (
        lambda: Poisson(1.0).log_pdf([1.0, 2.0]),
        ValueError,
        "Poisson input must have shape (n, 1) (got (2,)); pass one row per draw, e.g. "
        "x.reshape(-1, 1).",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), MESSAGES)
def test_error_messages_name_the_owner_and_the_argument_exactly(call, error, message):
    """The whole message, anchored: the owner, the argument and the fix are the user's guide.

    Kills the wording mutants MUTATION.md calls equivalent (E1): continuous.py
    ``TruncatedNormal.__init__`` #2, #3, #8-#12; distributions.py ``real_parameter`` #12, #15,
    #16, #19, #20 and ``Distribution._values`` #2, #8; multivariate.py #2, #10-#12, #17, #18,
    #25-#29.
    """
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        call()
