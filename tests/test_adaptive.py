"""AdaptiveEuclidean: scales refitted each generation on a sample of all its simulations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abcspark import PMCABC, AdaptiveEuclidean, Euclidean, Prior, RejectionABC, Uniform
from abcspark.rows import TALLY, sampled, sampled_statistics, split

PRIOR = Prior(a=Uniform(0, 1), b=Uniform(0, 1))
OBSERVED = [0.3, 600.0]


def two_scales(theta, rng):
    """Statistic 0 measures a (noise 0.05); statistic 1 measures b on a 1000x wider scale."""
    n = len(theta)
    return np.column_stack(
        [theta[:, 0] + rng.normal(0, 0.05, n), 1000 * theta[:, 1] + rng.normal(0, 50, n)]
    )


def run(distance, generations=5, **engine):
    settings = dict(n_particles=500, generations=generations, progress=False)
    return PMCABC(PRIOR, two_scales, distance, **settings, **engine).run(OBSERVED, seed=1)


def test_the_fit_is_the_mad_and_a_constant_statistic_keeps_its_scale():
    stats = np.array([[0.0, 5.0, 1.0], [1.0, 5.0, 1.0], [2.0, 5.0, 2.0], [np.nan, 1.0, 1.0]])
    fitted = AdaptiveEuclidean().fit(stats)  # the NaN row is dropped before fitting
    # Column 0: MAD 1 -> 1.4826; column 1 constant -> keeps 1 (unscaled); column 2: MAD 0, so
    # the sd of (1, 1, 2), 0.57735.
    np.testing.assert_allclose(fitted.scale, [1.4826, 1.0, np.sqrt(1 / 3)], rtol=1e-12)
    refitted = AdaptiveEuclidean([2.0, 3.0, 4.0]).fit(stats)
    assert refitted.scale[1] == 3.0  # the last scale, not 1
    assert AdaptiveEuclidean([2.0, 3.0, 4.0]).fit(stats[:1]).scale.tolist() == [2.0, 3.0, 4.0]
    unfitted = AdaptiveEuclidean()
    assert unfitted(np.array([[3.0, 4.0]]), np.zeros(2)).tolist() == [5.0]  # unscaled at first
    assert fitted.to_dict()["n_sample"] == 1000 and fitted.to_dict()["type"] == "AdaptiveEuclidean"


def test_the_refitted_scales_find_the_parameter_a_fixed_euclidean_ignores():
    plain = run(Euclidean(), engine="numpy")
    adaptive = run(AdaptiveEuclidean(), generations=8, engine="numpy")
    # Euclidean: statistic 1 (scale ~300) swamps statistic 0 (scale ~0.3), so a stays near its
    # prior (sd 0.29); adaptive scales weigh them alike, and a concentrates near 0.3.
    assert plain.std()["a"] > 0.25
    assert adaptive.std()["a"] < 0.12 and abs(adaptive.mean()["a"] - 0.3) < 0.06
    assert abs(adaptive.mean()["b"] - 0.6) < 0.05
    scale = adaptive.metadata["distance"]["scale"]
    # The last refit's sample comes from a generation concentrated near (0.3, 0.6): its scales
    # are far below the prior-predictive ones (0.3 and 300) and keep their 1:1000 ratio roughly.
    assert scale[0] < 0.2 and scale[1] < 250 and 200 < scale[1] / scale[0] < 5000
    assert adaptive.statistics is not None  # the particles carry their statistics
    # Its epsilons change units with each refit: here one rises (generation 4, 0.806 to
    # 0.808), which must not stop the run as min_epsilon_difference would.
    assert (np.diff(adaptive.history["epsilon"].to_numpy()[1:]) > 0).any()
    assert len(adaptive.history) == 8 and adaptive.metadata["stop_reason"] == "generations"


def test_adaptive_runs_are_bit_identical_across_engines(spark, spark_path):
    local = run(AdaptiveEuclidean(), engine="numpy")
    cluster = run(AdaptiveEuclidean(), spark=spark, parallelism=3)
    np.testing.assert_array_equal(local.samples.to_numpy(), cluster.samples.to_numpy())
    np.testing.assert_array_equal(local.weights, cluster.weights)
    assert local.metadata["distance"] == cluster.metadata["distance"]


def test_sample_batches_send_all_simulations_but_only_those_within_epsilon_are_particles():
    frame = pd.DataFrame(
        {
            "batch": [0, 0, 0, 1, 1, 2],
            "index": [0, 1, TALLY, 4, TALLY, TALLY],
            "distance": [0.5, 2.0, np.nan, 0.7, np.nan, np.nan],
            "n_simulated": [0, 0, 2, 0, 3, 1],
            "n_failed": [0, 0, 0, 0, 0, 0],
            "a": [0.1, 0.2, np.nan, 0.3, np.nan, np.nan],
            "_stat_0": [1.0, 2.0, np.nan, 3.0, np.nan, np.nan],
        }
    )
    particles, tally = split(frame, epsilon=1.0)
    assert particles["index"].tolist() == [0, 4] and tally["n_simulated"].sum() == 6
    sample = sampled(frame, n_batches=1)  # batch 0 is the only sample batch
    assert sample["_stat_0"].tolist() == [1.0, 2.0]
    assert sampled_statistics([sample], last=0).tolist() == [[1.0], [2.0]]
    assert sampled_statistics([sampled(frame, 0)], last=5) is None


def test_adaptive_distances_refuse_what_they_cannot_do_yet(tmp_path):
    with pytest.raises(ValueError, match="checkpoint must be None with an adaptive distance"):
        PMCABC(PRIOR, two_scales, AdaptiveEuclidean(), engine="numpy").run(
            OBSERVED, seed=1, checkpoint=str(tmp_path)
        )
    with pytest.raises(ValueError, match="must not be adaptive for RejectionABC"):
        RejectionABC(PRIOR, two_scales, AdaptiveEuclidean())
    with pytest.raises(ValueError, match=r"n_sample must be an int >= 2 \(got 1\)"):
        AdaptiveEuclidean(n_sample=1)
