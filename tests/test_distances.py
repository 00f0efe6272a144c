"""Tests of abcspark.distances (no Spark)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from abcspark.distances import (
    CallableDistance,
    Distance,
    Euclidean,
    Manhattan,
    ScaledEuclidean,
    as_distance,
)

STATS = np.array([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0], [0.0, -2.0, 6.0]])
OBSERVED = np.array([0.0, 0.0, 1.0])


def _max_distance(stats, observed):
    return np.abs(stats - observed).max(axis=1)


def test_euclidean_and_manhattan_by_hand():
    assert Euclidean()(STATS, OBSERVED).tolist() == [math.sqrt(26), math.sqrt(2), math.sqrt(29)]
    assert Manhattan()(STATS, OBSERVED).tolist() == [8.0, 2.0, 7.0]
    assert Euclidean()(STATS.astype(int), [0, 0, 1]).dtype == np.float64


def test_scaled_euclidean_by_hand():
    distance = ScaledEuclidean([1.0, 2.0, 0.5])
    expected = [math.sqrt(9 + 4 + 4), math.sqrt(1 + 0.25 + 0), math.sqrt(0 + 1 + 100)]
    np.testing.assert_allclose(distance(STATS, OBSERVED), expected, rtol=1e-14)
    assert not distance.needs_pilot


@pytest.mark.parametrize("distance", [Euclidean(), Manhattan(), ScaledEuclidean([1.0, 1.0])])
def test_nan_passes_through_and_no_rows_give_no_distances(distance):
    out = distance(np.array([[np.nan, 0.0], [1.0, 1.0]]), np.array([0.0, 0.0]))
    assert np.isnan(out[0]) and np.isfinite(out[1])
    assert distance(np.empty((0, 2)), np.zeros(2)).shape == (0,)


@pytest.mark.parametrize(
    "distance", [Euclidean(), Manhattan(), ScaledEuclidean([1.0, 1.0]), as_distance(_max_distance)]
)
@pytest.mark.parametrize(
    ("stats", "observed", "got"),
    [
        (np.zeros((4, 2)), np.zeros(3), r"stats \(4, 2\) and observed \(3,\)"),
        (np.zeros(2), np.zeros(2), r"stats \(2,\) and observed \(2,\)"),
        (np.zeros((4, 2)), np.zeros((1, 2)), r"observed \(1, 2\)"),
    ],
)
def test_shapes_are_checked(distance, stats, observed, got):
    with pytest.raises(ValueError, match=r"stats must have shape \(n, k\) .*" + got + ".*; "):
        distance(stats, observed)


def test_scaled_euclidean_fit_uses_the_scaled_mad():
    pilot = np.array([[1.0, 10.0], [2.0, 10.0], [4.0, 10.0], [8.0, 10.0], [9.0, 20.0]])
    # column 0: median 4, |x - 4| = 3 2 0 4 5, MAD 3. Column 1: MAD 0, so the sd is used.
    unfitted = ScaledEuclidean(n_pilot=5)
    fitted = unfitted.fit(pilot)
    assert isinstance(fitted, ScaledEuclidean) and fitted is not unfitted
    assert unfitted.needs_pilot and unfitted.scale is None and not fitted.needs_pilot
    np.testing.assert_allclose(fitted.scale, [1.4826 * 3, np.std(pilot[:, 1], ddof=1)])
    assert fitted.n_pilot == 5
    refitted = ScaledEuclidean([5.0, 5.0], n_pilot=5).fit(pilot)  # a fit always re-estimates
    np.testing.assert_array_equal(refitted.scale, fitted.scale)


def test_scaled_mad_estimates_the_sd_of_gaussian_data():
    n, sd = 20_000, np.array([1.0, 3.0, 0.01])
    pilot = np.random.default_rng(0).normal(5.0, sd, size=(n, 3))
    scale = ScaledEuclidean().fit(pilot).scale
    # The MAD-based sd estimate has standard error about 1.166 * sd / sqrt(n).
    assert np.all(np.abs(scale - sd) < 5 * 1.166 * sd / math.sqrt(n))


@pytest.mark.parametrize(
    ("pilot", "match"),
    [
        (
            np.column_stack([np.arange(1000.0), np.full(1000, 2.0)]),
            r"summary statistic 1 .*constant over the 1000 pilot simulations\); "
            r"drop it or give scale= explicitly\.",
        ),
        (np.zeros((1, 2)), r"pilot_stats must be a finite 2-D array with >= 2 rows"),
        (np.zeros(5), r"got shape \(5,\)"),
        (np.array([[1.0, np.nan], [2.0, 3.0]]), r"1 NaN or inf\); drop failed simulations"),
    ],
)
def test_scaled_euclidean_fit_refuses_bad_pilots(pilot, match):
    with pytest.raises(ValueError, match=match):
        ScaledEuclidean().fit(pilot)


def test_unfitted_scaled_euclidean_says_to_fit_it():
    with pytest.raises(ValueError, match=r"got scale=None\); call \.fit\(pilot_stats\)"):
        ScaledEuclidean()(STATS, OBSERVED)
    with pytest.raises(ValueError, match=r"one entry per summary statistic, k = 3 .*got scale="):
        ScaledEuclidean([1.0, 1.0])(STATS, OBSERVED)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"scale": [1.0, 0.0]}, ValueError, r"scale must be .* > 0 \(got \[1.0, 0.0\]\)"),
        ({"scale": [1.0, np.inf]}, ValueError, "finite numbers > 0"),
        ({"scale": [[1.0]]}, ValueError, "non-empty 1-D array"),
        ({"scale": []}, ValueError, "non-empty 1-D array"),
        ({"scale": ["a"]}, TypeError, "scale must be an array of real numbers"),
        ({"n_pilot": 1}, ValueError, r"n_pilot must be >= 2 \(got n_pilot=1\)"),
        ({"n_pilot": 10.0}, TypeError, r"n_pilot must be an int \(got 10.0"),
        ({"n_pilot": True}, TypeError, "n_pilot must be an int"),
    ],
)
def test_scaled_euclidean_validates_its_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ScaledEuclidean(**kwargs)


def test_to_dict_and_repr():
    assert Euclidean().to_dict() == {"type": "Euclidean"}
    assert repr(Manhattan()) == "Manhattan()"
    assert ScaledEuclidean().to_dict() == {
        "type": "ScaledEuclidean",
        "scale": None,
        "n_pilot": 1000,
    }
    scaled = ScaledEuclidean(np.array([1, 2]), n_pilot=np.int64(50))
    assert scaled.to_dict() == {"type": "ScaledEuclidean", "scale": [1.0, 2.0], "n_pilot": 50}
    assert repr(scaled) == "ScaledEuclidean(scale=[1.0, 2.0], n_pilot=50)"
    wrapped = as_distance(_max_distance)
    name = f"{__name__}._max_distance"
    assert wrapped.to_dict() == {"type": "CallableDistance", "function": name}
    assert repr(wrapped) == f"CallableDistance({name})"
    for d in (Euclidean(), scaled, ScaledEuclidean(), wrapped):
        assert json.loads(json.dumps(d.to_dict())) == d.to_dict()


def test_base_fit_returns_self_and_no_pilot_is_needed():
    for d in (Euclidean(), Manhattan(), as_distance(_max_distance)):
        assert d.fit(STATS) is d and not d.needs_pilot


def test_as_distance_passes_distances_through_and_wraps_callables():
    euclidean = Euclidean()
    assert as_distance(euclidean) is euclidean
    wrapped = as_distance(_max_distance)
    assert isinstance(wrapped, CallableDistance) and isinstance(wrapped, Distance)
    assert wrapped(STATS, OBSERVED).tolist() == [4.0, 1.0, 5.0]
    nan = as_distance(lambda s, o: np.full(len(s), np.nan))(STATS, OBSERVED)
    assert nan.dtype == np.float64 and np.isnan(nan).all()
    as_list = as_distance(lambda s, o: [1, 2, 3])(STATS, OBSERVED)
    assert as_list.dtype == np.float64 and as_list.tolist() == [1.0, 2.0, 3.0]


def test_callable_distance_checks_its_output_shape():
    wrapped = as_distance(lambda s, o: (s - o)[:, :1])
    expected = r"distance must return shape \(n,\) = \(5,\) \(got \(5, 1\)\); return one distance"
    with pytest.raises(ValueError, match=expected):
        wrapped(np.zeros((5, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"\(n,\) = \(3,\) \(got \(\)\)"):
        as_distance(lambda s, o: 1.0)(STATS, OBSERVED)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (
            3,
            TypeError,
            r"distance must be a Distance or a callable \(stats, observed\) -> distances "
            r"\(got 3 that is a <class 'int'>\); use e.g. Euclidean\(\)\.",
        ),
        ("euclidian", ValueError, r"distance must be one of \('euclidean', 'manhattan', "),
        (None, TypeError, "got None"),
        (Euclidean, TypeError, r"Distance instance \(got the class Euclidean\); use Euclidean\(\)"),
    ],
)
def test_as_distance_refuses_non_callables_classes_and_unknown_names(value, error, match):
    with pytest.raises(error, match=match):
        as_distance(value)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("euclidean", Euclidean), ("manhattan", Manhattan), ("scaled_euclidean", ScaledEuclidean)],
)
def test_names_are_shortcuts_for_the_distances(name, kind):
    assert type(as_distance(name)) is kind
