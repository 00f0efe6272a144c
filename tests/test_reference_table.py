"""Reference tables: written by the executors, resumed after a kill, and inferred on.

A table of seed s and batch size b holds bit for bit the simulations of a RejectionABC run of
the same seed and batch size, so every inference on it is compared with that run's posterior.
"""

from __future__ import annotations

import importlib.util
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import assert_same_posterior

from abcspark import AdaptiveEuclidean, RejectionABC, ScaledEuclidean, SemiAutomatic
from abcspark.calibration import calibrate
from abcspark.distances import spread
from abcspark.dry_run import fingerprint
from abcspark.examples import NormalMean
from abcspark.reference_table import ReferenceTable
from abcspark.table_inference import TableRejectionABC

JOB = Path(__file__).parent / "jobs" / "table_job.py"
_spec = importlib.util.spec_from_file_location("table_job", JOB)
job = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(job)  # the killed run's prior, simulator and settings

OBSERVED = np.array([0.4, 1.1])
SEED = job.SETTINGS["seed"]


def frame_of(table: ReferenceTable) -> pd.DataFrame:
    """Every row of a table (simulations and tallies), in batch order."""
    rows = table.rows().toPandas()
    return rows.sort_values(["batch", "index"], kind="mergesort").reset_index(drop=True)


def same(a, b, history=("n_discarded",)) -> None:
    """The same posterior bit for bit: particles, weights, distances, statistics and history
    (but ``history``, the columns RejectionABC's rounds decide)."""
    assert_same_posterior(a, b)
    np.testing.assert_array_equal(a.statistics, b.statistics)
    drop = ["seconds", *history]
    pd.testing.assert_frame_equal(a.history.drop(columns=drop), b.history.drop(columns=drop))


def rejection(distance="euclidean"):
    return RejectionABC(
        job.PRIOR,
        job.simulate,
        distance,
        engine="numpy",  # the same bits as Spark's engine, in this process
        batch_size=job.SETTINGS["batch_size"],
        keep_statistics=True,
    )


@pytest.fixture(scope="module")
def table(spark, tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("tables") / "whole")
    return ReferenceTable.simulate(
        job.PRIOR, job.simulate, job.N, uri, spark=spark, blocks_per_job=5, **job.SETTINGS
    )


def test_a_table_holds_the_simulations_of_rejection_abc(table, spark):
    everything = rejection().run(OBSERVED, epsilon=np.inf, n_simulations=job.N, seed=SEED)
    rows = frame_of(table)
    simulations = rows[rows["index"] >= 0]
    np.testing.assert_array_equal(
        simulations[["mu", "sigma", "stat_0", "stat_1"]].to_numpy(),
        np.column_stack([everything.samples.to_numpy(), everything.statistics]),
    )
    assert (rows["index"] == -1).sum() == table.n_batches == 80
    assert rows["n_simulated"].sum() == job.N == table.n
    assert (simulations["block"] == simulations["batch"] // 8).all()
    opened = ReferenceTable.open(table.uri, spark)
    assert opened.metadata == table.metadata
    assert opened.names == ["mu", "sigma"] and opened.statistics == ["stat_0", "stat_1"]
    assert sorted(os.listdir(table.uri)) == sorted(
        ["_abcspark_table.json", "_blocks", *(f"block={b}" for b in range(10))]
    )


@pytest.mark.parametrize(
    "distance", ["euclidean", ScaledEuclidean(scale=[0.5, 0.2]), "manhattan"], ids=str
)
def test_rejection_on_the_table_equals_rejection_abc(table, distance):
    abc, on_table = rejection(distance), TableRejectionABC(table, distance)
    quantile = 0.02
    k = math.ceil(quantile * job.N)
    same(
        on_table.run(OBSERVED, n_samples=k),
        abc.run(OBSERVED, quantile=quantile, n_simulations=job.N, seed=SEED),
        history=(),
    )
    epsilon = 0.4
    same(
        on_table.run(OBSERVED, epsilon=epsilon, n_simulations=2000),
        abc.run(OBSERVED, epsilon=epsilon, n_simulations=2000, seed=SEED),
        history=(),
    )
    until = on_table.run(OBSERVED, epsilon=epsilon, n_samples=30)
    same(until, abc.run(OBSERVED, epsilon=epsilon, n_samples=30, seed=SEED))
    assert until.history["n_simulations"].iloc[0] < job.N  # it stopped at the 30th particle


def test_regression_adjustment_of_a_table_posterior(table):
    on_table = TableRejectionABC(table).run(OBSERVED, n_samples=200)
    direct = rejection().run(OBSERVED, quantile=0.05, n_simulations=job.N, seed=SEED)
    adjusted = on_table.adjust()
    same(adjusted, direct.adjust(), history=())
    assert adjusted.metadata["adjustment"] == "local-linear"
    assert not np.array_equal(adjusted.samples.to_numpy(), on_table.samples.to_numpy())


def test_a_distance_that_needs_fitting_is_fitted_on_the_table(table):
    posterior = TableRejectionABC(table, ScaledEuclidean(n_pilot=300)).run(OBSERVED, n_samples=50)
    rows = table.frame.toPandas().sort_values(["batch", "index"], kind="mergesort")
    scale = spread(rows[["stat_0", "stat_1"]].to_numpy()[:300])
    assert posterior.metadata["distance"]["scale"] == scale.tolist()
    fixed = TableRejectionABC(table, ScaledEuclidean(scale=scale)).run(OBSERVED, n_samples=50)
    same(posterior, fixed, history=())


def test_a_distance_that_cannot_score_the_table_is_refused_on_the_driver(table, spark):
    unfitted = (
        r"distance must be a fitted SemiAutomatic on a reference table \(got an unfitted one\)"
    )
    with pytest.raises(ValueError, match=unfitted + r"; fit it .* SemiAutomatic\(\)\.fit_table\("):
        TableRejectionABC(table, SemiAutomatic())
    rng = np.random.default_rng(1)
    other = SemiAutomatic().regress(rng.normal(size=(50, 1)), rng.normal(size=(50, 3)))
    with pytest.raises(ValueError, match=r"fitted on the table's k = 2 statistics \(got a Semi"):
        TableRejectionABC(table, other)
    abc = TableRejectionABC(table, ScaledEuclidean(scale=[1.0, 1.0, 1.0]))  # a scale too many
    wrong = r"scale must have one entry per summary statistic, k = 2 \(got scale=\[1\.0, 1"
    observations = pd.DataFrame({"id": [1, 2], "stat_0": [0.4, 0.1], "stat_1": [1.1, 0.9]})
    sc = spark.sparkContext
    sc.setJobGroup("refused-distance", "jobs started while a bad distance is refused")
    try:
        with pytest.raises(ValueError, match=wrong):
            abc.run(OBSERVED, n_samples=5)
        with pytest.raises(ValueError, match=wrong):
            abc.run_many(observations, 5)
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    assert sc.statusTracker().getJobIdsForGroup("refused-distance") == []  # no Spark job ran


def brute_force(rows: pd.DataFrame, observed: np.ndarray, k: int) -> pd.DataFrame:
    """The k nearest rows by a plain sort over the whole table."""
    diff = rows[["stat_0", "stat_1"]].to_numpy() - observed
    found = rows.assign(distance=np.sqrt(np.einsum("ij,ij->i", diff, diff)))
    found = found.sort_values(["distance", "batch", "index"], kind="mergesort").head(k)
    return found[["distance", "batch", "index", "mu", "sigma"]].reset_index(drop=True)


def test_many_observations_in_one_pass_equal_one_rejection_each(table, spark, tmp_path):
    rng = np.random.default_rng(5)
    m, k = 12, 25
    observations = pd.DataFrame(
        {"id": np.arange(m) * 10, "stat_0": rng.normal(0, 2, m), "stat_1": rng.uniform(0.5, 1.5, m)}
    )
    neighbours = TableRejectionABC(table).run_many(observations, k)
    found = neighbours.frame.toPandas()
    assert len(found) == m * k and sorted(found["id"].unique()) == list(observations["id"])
    rows = table.frame.toPandas()
    on_table = TableRejectionABC(table)
    for _, row in observations.iterrows():
        observed = row[["stat_0", "stat_1"]].to_numpy()
        mine = found[found["id"] == row["id"]].sort_values("rank")
        assert mine["rank"].tolist() == list(range(1, k + 1))
        pd.testing.assert_frame_equal(
            mine[["distance", "batch", "index", "mu", "sigma"]].reset_index(drop=True),
            brute_force(rows, observed, k),
            check_exact=True,
        )
        same(neighbours.posterior_for(int(row["id"])), on_table.run(observed, n_samples=k), ())
    neighbours.save(str(tmp_path / "neighbours"))
    saved = spark.read.parquet(str(tmp_path / "neighbours")).toPandas()
    order = ["id", "rank"]
    pd.testing.assert_frame_equal(
        saved.sort_values(order).reset_index(drop=True),
        found.sort_values(order).reset_index(drop=True),
    )
    neighbours.close()


def test_many_observations_from_spark_with_string_ids(table, spark):
    observations = spark.createDataFrame(
        pd.DataFrame({"dataset": ["a", "b"], "stat_1": [1.0, 0.7], "stat_0": [0.4, -1.0]})
    )
    neighbours = TableRejectionABC(table, "manhattan").run_many(
        observations, 10, id_column="dataset", n_simulations=1000
    )
    assert neighbours.ids == ["a", "b"]
    direct = rejection("manhattan").run([-1.0, 0.7], quantile=0.01, n_simulations=1000, seed=SEED)
    same(neighbours.posterior_for("b"), direct, history=())
    neighbours.close()


def test_a_killed_write_resumes_to_the_same_table(table, spark, tmp_path):
    uri = str(tmp_path / "killed")
    env = dict(os.environ, ABCSPARK_TABLE_HOLD=uri, PYSPARK_PYTHON=sys.executable)
    env["PYTHONPATH"] = os.pathsep.join([str(JOB.parents[2]), env.get("PYTHONPATH", "")])
    with open(tmp_path / "job.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, str(JOB), uri], env=env, stdout=log, stderr=log, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 240
            while not Path(f"{uri}.held").exists() and process.poll() is None:
                assert time.monotonic() < deadline, "the table job never held"
                time.sleep(0.2)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # the driver, its JVM and Python workers
            process.wait()
    assert Path(f"{uri}.held").exists(), (tmp_path / "job.log").read_text()[-3000:]
    done = sorted(os.listdir(Path(uri, "_blocks")))
    assert done == ["block-000000000-0-8", "block-000000001-8-16"]
    with pytest.raises(ValueError, match=r"must be complete \(got 8 of 10 blocks missing"):
        ReferenceTable.open(uri, spark)
    kept = {p: p.stat().st_mtime_ns for b in (0, 1) for p in Path(uri, f"block={b}").iterdir()}
    resumed = ReferenceTable.simulate(
        job.PRIOR, job.simulate, job.N, uri, spark=spark, **job.SETTINGS
    )
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # complete blocks were not redone
    assert not [n for n in os.listdir(uri) if n.startswith(".spark-staging")]
    pd.testing.assert_frame_equal(frame_of(resumed), frame_of(table), check_exact=True)


def test_a_rerun_with_other_settings_is_refused(table, spark):
    def again(simulate=job.simulate, n=job.N, **changed):
        settings = {**job.SETTINGS, **changed}
        ReferenceTable.simulate(job.PRIOR, simulate, n, table.uri, spark=spark, **settings)

    with pytest.raises(ValueError, match=r"seed must be the table's .*\(got 8, the table .* has 7"):
        again(seed=8)
    with pytest.raises(ValueError, match=r"batch_size must be the table's .*\(got 40, .* has 50"):
        again(batch_size=40)
    with pytest.raises(ValueError, match="batches_per_block must be the table's"):
        again(batches_per_block=4)
    with pytest.raises(ValueError, match="simulate must be the simulator the table .* was written"):
        again(simulate=lambda theta, rng: job.simulate(theta, rng) * 2.0)
    with pytest.raises(ValueError, match=r"n must be at least the table's 4,000 simulations"):
        again(n=2000)
    with pytest.raises(ValueError, match="statistics must be the table's"):
        again(statistics=["mean", "sd"])
    again()  # the same call: nothing to do, nothing changed
    assert ReferenceTable.open(table.uri, spark).metadata == table.metadata


def test_an_extended_table_equals_one_written_whole(table, spark, tmp_path):
    folder = tmp_path / "extended"
    uri = folder.as_uri()  # file:///...: a Hadoop URI for Spark, a folder for the metadata
    small = ReferenceTable.simulate(
        job.PRIOR, job.simulate, 1000, uri, spark=spark, blocks_per_job=3, **job.SETTINGS
    )
    assert small.n_batches == 20 and sorted(os.listdir(folder / "_blocks"))[-1].endswith("-16-20")
    small.extend(3000, blocks_per_job=3)  # rewrites the short block 2, then adds blocks to 7
    assert sorted(os.listdir(folder / "_blocks"))[2] == "block-000000002-16-24"
    ReferenceTable.simulate(job.PRIOR, job.simulate, job.N, uri, spark=spark, **job.SETTINGS)
    pd.testing.assert_frame_equal(
        frame_of(ReferenceTable.open(uri, spark)), frame_of(table), check_exact=True
    )
    assert len(os.listdir(folder / "_blocks")) == 10


def test_bad_input_is_refused_with_the_fix(table, spark, tmp_path):
    uri = str(tmp_path / "never")
    for n in (0, -5, 2.5):
        with pytest.raises(ValueError, match=r"n must be a positive int \(got"):
            ReferenceTable.simulate(job.PRIOR, job.simulate, n, uri, seed=1, spark=spark)
    with pytest.raises(ValueError, match="seed must be an int"):
        ReferenceTable.simulate(job.PRIOR, job.simulate, 100, uri, seed=None, spark=spark)
    with pytest.raises(ValueError, match=r"statistics must name the k = 2 statistics .*\(got 3"):
        ReferenceTable.simulate(
            job.PRIOR, job.simulate, 100, uri, seed=1, spark=spark, statistics=["a", "b", "c"]
        )
    with pytest.raises(ValueError, match=r"must be unique, .*\(got \['mu'\]\)"):
        ReferenceTable.simulate(
            job.PRIOR, job.simulate, 100, uri, seed=1, spark=spark, statistics=["mu", "sd"]
        )
    assert not os.path.exists(uri)  # refused before anything was written
    with pytest.raises(ValueError, match="uri must hold a reference table"):
        ReferenceTable.open(uri, spark)
    with pytest.raises(TypeError, match="table must be a ReferenceTable"):
        TableRejectionABC(uri)
    with pytest.raises(ValueError, match="distance must not be adaptive"):
        TableRejectionABC(table, AdaptiveEuclidean())
    with pytest.raises(ValueError, match="extend needs the table's prior and simulator"):
        ReferenceTable.open(table.uri, spark).extend(10_000)


def test_bad_observations_are_refused_with_the_fix(table):
    abc = TableRejectionABC(table)
    with pytest.raises(ValueError, match=r"observed must have the table's k = 2 statistics"):
        abc.run([0.1, 0.2, 0.3], n_samples=10)
    with pytest.raises(ValueError, match="run needs epsilon, n_samples or both"):
        abc.run(OBSERVED)
    with pytest.raises(ValueError, match=r"n_simulations must be at most the table's 4,000"):
        abc.run(OBSERVED, n_samples=10, n_simulations=5000)
    with pytest.raises(ValueError, match=r"epsilon=0.0 accepted none of the table's 4,000"):
        abc.run(OBSERVED, epsilon=0.0)
    with pytest.raises(ValueError, match=r"must hold n_samples=3,000 rows within epsilon=0.4"):
        abc.run(OBSERVED, epsilon=0.4, n_samples=3000)
    good = pd.DataFrame({"id": [1, 2], "stat_0": [0.0, 1.0], "stat_1": [1.0, 1.0]})
    with pytest.raises(ValueError, match=r"id_column must name a column .*\(got 'key'"):
        abc.run_many(good, 5, id_column="key")
    with pytest.raises(ValueError, match=r"statistic columns .* without \['stat_1'\]"):
        abc.run_many(good.drop(columns="stat_1"), 5)
    with pytest.raises(ValueError, match=r"ids must be unique .*repeated \[1\]"):
        abc.run_many(good.assign(id=[1, 1]), 5)
    with pytest.raises(ValueError, match="observations must be finite"):
        abc.run_many(good.assign(stat_0=[0.0, np.nan]), 5)
    with pytest.raises(TypeError, match="ids must be integers or strings"):
        abc.run_many(good.assign(id=[0.5, 1.5]), 5)
    with pytest.raises(TypeError, match="observations must be a pandas or Spark DataFrame"):
        abc.run_many(good.to_numpy(), 5)
    neighbours = abc.run_many(good, 5)
    with pytest.raises(ValueError, match=r"id must be one of the observations' ids \(got 3"):
        neighbours.posterior_for(3)
    neighbours.close()


def test_the_search_keeps_the_k_best_with_ties_by_batch_and_index(monkeypatch):
    from abcspark import table_search
    from abcspark.table_search import Search

    monkeypatch.setattr(table_search, "CELLS", 60)  # chunks of 20 rows: prune and bound
    rng = np.random.default_rng(1)
    n = 400
    rows = pd.DataFrame(
        {
            "batch": rng.permutation(n) // 10,
            "index": np.arange(n) % 10,
            "theta": rng.normal(size=n),
            "s": rng.integers(0, 6, n).astype(float),  # many equal distances
        }
    ).sample(frac=1.0, random_state=2)
    observed = np.array([[2.0], [0.0], [4.5]])
    search = Search(observed, np.array([7, 8, 9]), ["s"], lambda s, o: np.abs(s[:, 0] - o[0]), 15)
    parts = [search.frames(iter([rows.iloc[i : i + 50]])) for i in range(0, n, 50)]
    merged = search.merge(pd.concat([frame for part in parts for frame in part]))
    for i, one in zip([7, 8, 9], observed):
        expected = rows.assign(distance=np.abs(rows["s"] - one[0])).sort_values(
            ["distance", "batch", "index"], kind="mergesort"
        )
        got = merged[merged["id"] == i]
        np.testing.assert_array_equal(got[["batch", "index"]], expected[["batch", "index"]][:15])
        assert got["rank"].tolist() == list(range(1, 16))


def test_the_fingerprint_is_the_same_in_another_process():
    code = (
        "import numpy as np\n"
        "from abcspark.dry_run import fingerprint\n"
        "def simulate(theta, rng):\n"
        "    return np.column_stack([c * 2 for c in theta.T if c[0] not in {'a', 'b', 'c'}])\n"
        "print(fingerprint(simulate, np.zeros(3)))\n"
    )
    namespace: dict = {}
    exec(code.replace("print(fingerprint", "result = (fingerprint"), namespace)
    hashes = {namespace["result"]}
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        hashes.add(out.stdout.strip())
    assert len(hashes) == 1
    assert fingerprint(job.simulate, np.ones(2)) != fingerprint(job.simulate, np.zeros(2))


def test_coverage_on_a_conjugate_normal_model_is_nominal(spark, tmp_path):
    model = NormalMean(prior_mean=0.0, prior_sd=2.0, sd=1.0, n_obs=10)
    uri = str(tmp_path / "normal")
    table = ReferenceTable.simulate(
        model.prior, model, 20_000, uri, seed=3, spark=spark, batch_size=500
    )
    abc = TableRejectionABC(table)
    n_truths, k = 300, 100
    found = calibrate(abc, n_truths, k)
    coverage = found.coverage()
    assert coverage["level"].tolist() == [0.5, 0.8, 0.9, 0.95] and (coverage["n"] == n_truths).all()
    # Binomial Monte Carlo error of the share of truths covered, at the nominal level.
    assert (abs(coverage["coverage"] - coverage["level"]) < 4 * coverage["sd"]).all(), coverage
    ranks = found.ranks()["mu"].to_numpy()
    assert ranks.min() >= 0 and ranks.max() <= k
    rank_sd = math.sqrt(((k + 1) ** 2 - 1) / 12)  # of a uniform rank on 0 .. k
    assert abs(ranks.mean() - k / 2) < 4 * rank_sd / math.sqrt(n_truths)
    counts = np.bincount(ranks * 5 // (k + 1), minlength=5)  # 5 bins of SBC's rank histogram
    assert (abs(counts - n_truths / 5) < 4 * math.sqrt(n_truths * 0.2 * 0.8)).all(), counts
    # Each truth's interval is its posterior's: the first truths, held out, run on their own.
    held = table.frame.toPandas().query("batch == 39").sort_values("index").head(2)
    observations = held.assign(id=[0, 1])[["id", "stat_0"]]
    neighbours = abc.run_many(observations, k, n_simulations=39 * 500)
    for i in (0, 1):
        interval = neighbours.posterior_for(i).credible_interval(0.9).loc["mu"]
        row = found.intervals.query("id == @i and level == 0.9").iloc[0]
        assert (row["lower"], row["upper"]) == (interval["lower"], interval["upper"])
        assert row["truth"] == held["mu"].iloc[i]
    neighbours.close()
    with pytest.raises(ValueError, match=r"must hold n_samples=19,600 reference rows"):
        calibrate(abc, n_truths, 19_600)
    with pytest.raises(ValueError, match=r"levels must be a number in \(0, 1\) \(got 1.0\)"):
        calibrate(abc, n_truths, k, levels=[0.5, 1.0])


def test_saved_neighbours_load_to_the_same_posteriors_without_the_table(table, spark, tmp_path):
    import shutil

    from abcspark.table_results import Neighbours

    copy = tmp_path / "copy"
    shutil.copytree(table.uri, copy)
    observations = pd.DataFrame(
        {"id": [3, 11, 7], "stat_0": [0.4, -1.0, 2.5], "stat_1": [1.1, 0.7, 1.0]}
    )
    scaled = ScaledEuclidean(scale=[0.5, 0.2])
    neighbours = TableRejectionABC(ReferenceTable.open(str(copy), spark), scaled).run_many(
        observations, 20
    )
    uri = (tmp_path / "saved").as_uri()
    neighbours.save(uri)
    expected = {i: neighbours.posterior_for(i) for i in neighbours.ids}
    shutil.rmtree(copy)  # the rows and counts a loaded object needs are in the save
    loaded = Neighbours.load(uri, spark)
    assert (loaded.ids, loaded.k, loaded.id_column) == ([3, 11, 7], 20, "id")
    order = ["id", "rank"]
    pd.testing.assert_frame_equal(
        loaded.frame.toPandas().sort_values(order).reset_index(drop=True),
        neighbours.frame.toPandas().sort_values(order).reset_index(drop=True),
        check_exact=True,
    )
    for i, posterior in expected.items():
        again = loaded.posterior_for(i)
        same(again, posterior, history=())
        assert again.metadata == posterior.metadata  # distance, observed, table, counts
    assert again.metadata["distance"] == scaled.to_dict() and again.metadata["id"] == 7
    neighbours.close()


def test_saved_neighbours_with_string_ids_replace_a_save_and_bad_saves_are_refused(
    table, spark, tmp_path
):
    from abcspark.table_results import Neighbours

    abc = TableRejectionABC(table)
    first = abc.run_many(pd.DataFrame({"id": [1], "stat_0": [0.0], "stat_1": [1.0]}), 5)
    folder = str(tmp_path / "saved")
    first.save(folder)
    with pytest.raises(ValueError, match=r"mode must be one of .*\(got 'append'\)"):
        first.save(folder, mode="append")
    observations = pd.DataFrame({"name": ["b", "a"], "stat_0": [0.4, -1.0], "stat_1": [1.1, 0.7]})
    second = abc.run_many(observations, 10, id_column="name", n_simulations=1000)
    second.save(folder, mode="overwrite")
    loaded = Neighbours.load(folder, spark)
    assert loaded.ids == ["b", "a"] and loaded.frame.count() == 20
    same(loaded.posterior_for("a"), second.posterior_for("a"), history=())
    assert loaded.posterior_for("a").history["n_simulations"].iloc[0] == 1000
    with pytest.raises(ValueError, match=r"id must be one of the observations' ids \(got 1"):
        loaded.posterior_for(1)
    os.remove(Path(folder, "_abcspark_neighbours.json"))  # as a save killed before its end
    with pytest.raises(ValueError, match="uri must hold neighbours written by Neighbours.save"):
        Neighbours.load(folder, spark)
    first.close()
    second.close()


def test_the_calibration_plot_shows_coverage_and_ranks_with_their_bands(tmp_path):
    from matplotlib.figure import Figure
    from scipy import stats

    from abcspark.calibration import Calibration

    rng = np.random.default_rng(4)
    n_truths, n_samples, levels = 150, 40, [0.5, 0.9]
    ranks = {"mu": rng.integers(0, n_samples + 1, n_truths), "sigma": np.zeros(n_truths, int)}
    rows = [
        (i, name, 0.0, int(ranks[name][i]), level, -1.0, 1.0, bool(rng.random() < level))
        for i in range(n_truths)
        for name in ("mu", "sigma")
        for level in levels
    ]
    columns = ["id", "parameter", "truth", "rank", "level", "lower", "upper", "covered"]
    found = Calibration(pd.DataFrame(rows, columns=columns), n_samples)
    path = tmp_path / "calibration.png"
    fig = found.plot(str(path), bins=6)
    assert isinstance(fig, Figure) and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    coverage, mu, sigma = fig.axes
    assert [mu.get_title(), sigma.get_title()] == ["SBC ranks of mu", "SBC ranks of sigma"]
    lines = {line.get_label(): line for line in coverage.get_lines()}
    expected = found.coverage().query("parameter == 'mu'")
    np.testing.assert_array_equal(lines["mu"].get_ydata(), expected["coverage"])
    # Ranks 0 .. 40 in 6 bins by rank * 6 // 41: 7, 7, 7, 7, 7, 6 ranks, each with its band.
    band, mean, *bars = mu.patches
    widths = np.bincount(np.arange(n_samples + 1) * 6 // 41)
    assert widths.tolist() == [7, 7, 7, 7, 7, 6]
    np.testing.assert_array_equal([bar.get_width() for bar in bars], widths)
    np.testing.assert_array_equal(
        [bar.get_height() for bar in bars], np.bincount(ranks["mu"] * 6 // 41, minlength=6)
    )
    p = widths / (n_samples + 1)
    np.testing.assert_array_equal(band.get_data().values, stats.binom.ppf(0.995, n_truths, p))
    np.testing.assert_array_equal(band.get_data().baseline, stats.binom.ppf(0.005, n_truths, p))
    np.testing.assert_allclose(mean.get_data().values, n_truths * p)
    assert [bar.get_height() for bar in sigma.patches[2:]] == [n_truths, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match=r"bins must be a positive int .*\(got 42\)"):
        found.plot(bins=42)
    with pytest.raises(ValueError, match=r"band must be a number in \(0, 1\) \(got 1\)"):
        found.plot(band=1)
