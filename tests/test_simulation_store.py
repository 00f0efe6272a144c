"""``store=uri``: every simulation a run made, one Parquet file per batch, written where the
batch ran; the same files on every engine and after a rerun, and the posterior unchanged."""

import numpy as np
import pandas as pd
import pytest

from abcspark import PMCABC, Normal, Prior, RejectionABC, Uniform

PRIOR = Prior(mu=Normal(0.0, 2.0), sigma=Uniform(0.5, 1.5))
OBSERVED = [0.4, 1.1]
CALLS = []


def simulate(theta, rng):
    draws = theta[:, :1] + theta[:, 1:] * rng.standard_normal((len(theta), 10))
    return np.column_stack([draws.mean(axis=1), draws.std(axis=1, ddof=1)])


def counted(theta, rng):
    CALLS.append(len(theta))
    return simulate(theta, rng)


def stored(folder) -> pd.DataFrame:
    rows = pd.read_parquet(folder)
    rows["generation"] = rows["generation"].astype(int)
    order = ["generation", "batch", "index"]
    return rows.sort_values(order).reset_index(drop=True)[[*order, *rows.columns.drop(order)]]


def pmc(**options):
    settings = dict(n_particles=200, generations=3, batch_size=50, progress=False)
    return PMCABC(PRIOR, counted, **{**settings, **options})


def test_a_pmc_run_keeps_every_simulation_and_the_same_posterior(tmp_path):
    CALLS.clear()
    post = pmc(engine="numpy", store=str(tmp_path / "store")).run(OBSERVED, seed=3)
    rows = stored(tmp_path / "store")
    history = post.history
    per_generation = rows.groupby("generation").size()
    # Every simulator call in batches: the dry runs' 2 x 8 happen on the driver, not stored.
    assert len(rows) == sum(CALLS) - post.metadata["n_driver_simulations"]
    assert per_generation.tolist() == (history["n_simulations"] + history["n_discarded"]).tolist()
    last = rows[rows["generation"] == 2]
    within = last[last["distance"] <= post.epsilon].sort_values(["batch", "index"])
    np.testing.assert_array_equal(
        within[["mu", "sigma"]].to_numpy()[: len(post.samples)], post.samples.to_numpy()
    )
    np.testing.assert_array_equal(
        rows[["_stat_0", "_stat_1"]].to_numpy()[:5],
        simulate_batch_zero()[:5],
    )
    plain = pmc(engine="numpy").run(OBSERVED, seed=3)
    np.testing.assert_array_equal(post.samples.to_numpy(), plain.samples.to_numpy())
    np.testing.assert_array_equal(post.weights, plain.weights)


def simulate_batch_zero():
    from abcspark.rng import batch_rng

    rng = batch_rng(3, 0, 0)
    theta = PRIOR.sample(50, rng)
    return simulate(theta, rng)


@pytest.mark.parametrize("parallelism", [1, 2])
def test_spark_writes_the_same_files_as_numpy_and_a_rerun_changes_nothing(
    spark, tmp_path, parallelism
):
    pmc(engine="numpy", store=str(tmp_path / "numpy")).run(OBSERVED, seed=4)
    options = dict(spark=spark, parallelism=parallelism, store=str(tmp_path / "spark"))
    pmc(**options).run(OBSERVED, seed=4)
    first = stored(tmp_path / "spark")
    pd.testing.assert_frame_equal(first, stored(tmp_path / "numpy"), check_exact=True)
    pmc(**options).run(OBSERVED, seed=4)  # a rerun (or a retried task) rewrites the same bits
    pd.testing.assert_frame_equal(stored(tmp_path / "spark"), first, check_exact=True)
    assert not [p for p in (tmp_path / "spark").rglob(".*")]  # no hidden file left behind


def test_rejection_keeps_its_simulations_too(tmp_path):
    post = RejectionABC(PRIOR, simulate, batch_size=100, engine="numpy", store=str(tmp_path))
    result = post.run(OBSERVED, quantile=0.1, n_simulations=1000, seed=5)
    rows = stored(tmp_path)
    assert len(rows) == 1000 and set(rows["generation"]) == {0}
    best = rows.nsmallest(100, "distance", keep="first").sort_values(["batch", "index"])
    assert sorted(best["distance"]) == sorted(result.distances)


@pytest.mark.parametrize("store", ["", 3, "nosuchscheme://bucket/x"])
def test_a_bad_store_is_refused_before_any_simulation(store):
    with pytest.raises(ValueError, match="store must be"):
        pmc(engine="numpy", store=store)
