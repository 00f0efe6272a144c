"""``store=uri``: every simulation a run made, one Parquet file per batch, written where the
batch ran; the same files on every engine and after a rerun, and the posterior unchanged."""

import numpy as np
import pandas as pd
import pytest
from helpers import assert_same_posterior

from abcspark import APMCABC, PMCABC, SMCABC, Callback, Normal, Prior, RejectionABC, Uniform

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
    # The last population: generation 2's own particles (its first stored rows within its
    # epsilon, in batch order), then generation 1's within it (recycled), which count toward
    # the 200 particles up to half of them.
    samples = post.samples.to_numpy()
    inside = rows[rows["distance"] <= post.epsilon].sort_values(["batch", "index"])
    fresh = inside.loc[inside["generation"] == 2, ["mu", "sigma"]].to_numpy()
    before = {tuple(r) for r in inside.loc[inside["generation"] == 1, ["mu", "sigma"]].to_numpy()}
    kept = sum(tuple(r) in before for r in samples)
    own = len(samples) - kept
    assert kept > 0 and own == 200 - min(kept, 100)
    np.testing.assert_array_equal(samples[:own], fresh[:own])
    assert all(tuple(r) in before for r in samples[own:])
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


def test_an_apmc_run_keeps_every_simulation_and_the_same_posterior(tmp_path):
    CALLS.clear()
    settings = dict(n_particles=100, max_simulations=1500, engine="numpy", progress=False)
    post = APMCABC(PRIOR, counted, store=str(tmp_path), **settings).run(OBSERVED, seed=4)
    rows = stored(tmp_path)
    assert len(rows) == sum(CALLS) - post.metadata["n_driver_simulations"]
    per_generation = rows.groupby("generation").size()
    history = post.history
    assert per_generation.tolist() == (history["n_simulations"] + history["n_discarded"]).tolist()
    plain = APMCABC(PRIOR, counted, **settings).run(OBSERVED, seed=4)
    np.testing.assert_array_equal(post.samples.to_numpy(), plain.samples.to_numpy())
    np.testing.assert_array_equal(post.weights, plain.weights)


@pytest.mark.parametrize("store", ["", 3, "nosuchscheme://bucket/x"])
def test_a_bad_store_is_refused_before_any_simulation(store):
    with pytest.raises(ValueError, match="store must be"):
        pmc(engine="numpy", store=store)


# SMCABC: each step's move is one generation, its blocks of particles the batches.

SMC_BLOCKS = 24
"""120 particles in blocks of 5: the batches of every step."""


def smc(**options):
    settings = dict(n_particles=120, n_datasets=2, alpha=0.6, batch_size=5, generations=4)
    return SMCABC(PRIOR, counted, progress=False, **{**settings, **options})


class StopAfterStep(Callback):
    def on_generation(self, record):
        if record.generation == 1:
            raise KeyboardInterrupt("stopped after step 1")


def file_bytes(folder) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.parquet")}


def test_an_smc_run_keeps_every_simulation_of_every_move_and_the_same_posterior(tmp_path):
    CALLS.clear()
    post = smc(engine="numpy", store=str(tmp_path)).run(OBSERVED, seed=3)
    rows = stored(tmp_path)
    assert len(rows) == sum(CALLS) - post.metadata["n_driver_simulations"]
    per_step = rows.groupby("generation", observed=True).size()
    assert per_step.tolist() == post.history["n_simulations"].tolist()
    sizes = [len(pd.read_parquet(f)) for f in tmp_path.rglob("*.parquet")]
    # Every block of every step writes its file, also one with no particle moved or simulated.
    assert len(sizes) == 4 * SMC_BLOCKS and 0 in sizes
    # Rows 2 i and 2 i + 1 of a block are particle i's two datasets at its one proposal.
    particle = rows["batch"] * 5 + rows["index"] // 2
    proposals = rows.groupby([rows["generation"], particle])[["mu", "sigma"]].nunique()
    assert (proposals == 1).all().all() and (particle < 120).all()
    # Each particle of the posterior is a stored simulation: parameters and nearest distance.
    final = post.samples.assign(distance=post.distances)
    keys = ["mu", "sigma", "distance"]
    assert set(final[keys].itertuples(index=False)) <= set(rows[keys].itertuples(index=False))
    assert_same_posterior(post, smc(engine="numpy").run(OBSERVED, seed=3))


@pytest.mark.parametrize("parallelism", [1, 2])
def test_smc_on_spark_writes_numpys_files_and_a_rerun_the_same_bits(spark, tmp_path, parallelism):
    reference = smc(engine="numpy", store=str(tmp_path / "numpy")).run(OBSERVED, seed=4)
    options = dict(spark=spark, parallelism=parallelism, store=str(tmp_path / "spark"))
    assert_same_posterior(smc(**options).run(OBSERVED, seed=4), reference)
    first = file_bytes(tmp_path / "spark")
    pd.testing.assert_frame_equal(
        stored(tmp_path / "spark"), stored(tmp_path / "numpy"), check_exact=True
    )
    smc(**options).run(OBSERVED, seed=4)  # a rerun (or a retried task) rewrites the same bits
    assert file_bytes(tmp_path / "spark") == first
    assert not [p for p in (tmp_path / "spark").rglob(".*")]  # no hidden file left behind


def test_an_smc_run_resumed_after_a_kill_stores_what_one_run_stores(tmp_path):
    smc(engine="numpy", store=str(tmp_path / "once")).run(OBSERVED, seed=5)
    options = dict(engine="numpy", store=str(tmp_path / "resumed"))
    path = str(tmp_path / "checkpoint")
    with pytest.raises(KeyboardInterrupt):
        smc(**options).run(OBSERVED, seed=5, checkpoint=path, callbacks=[StopAfterStep()])
    assert {p.parent.name for p in file_bytes(tmp_path / "resumed")} == {
        "generation=0",
        "generation=1",
    }
    smc(**options).run(OBSERVED, seed=5, checkpoint=path)
    assert file_bytes(tmp_path / "resumed") == file_bytes(tmp_path / "once")
