"""Posterior: weighted moments, quantiles, ESS, save/load (local and through Hadoop), to_spark,
to_arviz."""

import json
import math
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abcspark import Posterior
from abcspark.storage import HadoopStorage, LocalStorage, for_path, leftover


def posterior(n=5):
    samples = pd.DataFrame({"a": np.arange(n, dtype=float), "b": np.arange(n, dtype=float) ** 2})
    history = pd.DataFrame(
        {
            "generation": [0, 1],
            "epsilon": [np.inf, 0.5],
            "n_simulations": [100, 150],
            "acceptance_rate": [1.0, 0.4],
            "ess": [5.0, 4.2],
            "n_failed": [0, 1],
            "seconds": [0.1, 0.2],
        }
    )
    return Posterior(
        samples,
        np.arange(1, n + 1),
        np.linspace(0, 1, n),
        history,
        {"seed": 3, "settings": {"x": [1, 2]}},
    )


def test_weighted_moments_against_hand_computation():
    post = posterior()
    w = np.arange(1, 6) / 15
    a = np.arange(5.0)
    assert post.mean()["a"] == pytest.approx(w @ a)
    var = (w @ (a - w @ a) ** 2) / (1 - np.sum(w**2))
    assert post.cov().loc["a", "a"] == pytest.approx(var)
    assert post.std()["a"] == pytest.approx(np.sqrt(var))
    assert post.ess == pytest.approx(1 / np.sum(w**2))
    assert post.n_simulations == 250 and post.epsilon == 0.5


def test_quantiles_of_equal_weights_match_numpy_median():
    values = np.random.default_rng(0).normal(size=1001)
    post = Posterior(pd.DataFrame({"x": values}), np.ones(1001), np.zeros(1001))
    assert post.quantile([0.5]).loc[0.5, "x"] == pytest.approx(np.median(values))
    interval = post.credible_interval(0.9)
    assert list(interval.columns) == ["lower", "upper"]
    assert interval.loc["x", "lower"] < np.median(values) < interval.loc["x", "upper"]


def test_heavier_weight_pulls_the_median():
    post = Posterior(pd.DataFrame({"x": [0.0, 1.0, 2.0]}), [1, 1, 10], np.zeros(3))
    assert post.quantile([0.5]).loc[0.5, "x"] > 1.5


def test_repr_shows_the_table():
    text = repr(posterior())
    assert text.startswith("Posterior: 5 particles, ESS")
    assert "2 generation(s), 250 simulations, epsilon 0.5" in text
    assert "mean" in text and "97.5%" in text and "\na " in text


@pytest.mark.parametrize(
    "weights, match",
    [
        ([1, 1], r"weights must be 5 finite non-negative numbers .*got shape \(2,\)"),
        ([1, -1, 1, 1, 1], "weights must be 5 finite non-negative"),
        ([0, 0, 0, 0, 0], "with a positive sum"),
    ],
)
def test_bad_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        Posterior(pd.DataFrame({"a": np.zeros(5)}), weights, np.zeros(5))


def test_bad_levels_and_quantiles():
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        posterior().credible_interval(1.5)
    with pytest.raises(ValueError, match=r"q must lie in \[0, 1\]"):
        posterior().quantile([2.0])


def assert_round_trip(a, b):
    pd.testing.assert_frame_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.distances, b.distances)
    pd.testing.assert_frame_equal(a.history, b.history)
    assert a.metadata == b.metadata


def particles_file(folder):
    """The particles file the metadata of a saved posterior names."""
    return Path(folder, json.loads(Path(folder, "metadata.json").read_text())["particles"])


def test_save_and_load_locally(tmp_path):
    post = posterior()
    post.save(str(tmp_path / "run"))
    named = particles_file(tmp_path / "run").name
    assert re.fullmatch(r"particles-[0-9a-f]{32}\.parquet", named)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["metadata.json", named]
    assert_round_trip(Posterior.load(str(tmp_path / "run")), post)


def other_posterior():
    """Another posterior in every part: other parameters, particles, history, metadata."""
    rng = np.random.default_rng(7)
    samples = pd.DataFrame({"mu": rng.normal(size=8), "sigma": rng.uniform(size=8)})
    history = pd.DataFrame({"generation": [0], "epsilon": [2.0]})
    return Posterior(samples, rng.uniform(size=8), rng.uniform(size=8), history, {"seed": 9})


def test_saving_over_a_posterior_needs_overwrite(tmp_path):
    folder = str(tmp_path / "run")
    posterior().save(folder)
    with pytest.raises(
        ValueError,
        match=r"path must not hold a saved posterior already \(got metadata.json under .*run\); "
        "pass overwrite=True",
    ):
        other_posterior().save(folder)
    assert_round_trip(Posterior.load(folder), posterior())
    other_posterior().save(folder, overwrite=True)
    assert_round_trip(Posterior.load(folder), other_posterior())
    # The earlier particles are gone: one posterior, two files.
    assert sorted(os.listdir(folder)) == ["metadata.json", particles_file(folder).name]
    with pytest.raises(ValueError, match="pass overwrite=True"):
        posterior().save(folder, overwrite="yes")  # only True replaces


def test_an_empty_folder_takes_a_save_without_overwrite(tmp_path):
    posterior().save(str(tmp_path))  # e.g. tempfile.mkdtemp(), as the quickstart does
    assert_round_trip(Posterior.load(str(tmp_path)), posterior())


def test_a_save_interrupted_before_its_metadata_leaves_the_old_posterior_whole(
    tmp_path, monkeypatch
):
    folder = str(tmp_path / "run")
    posterior().save(folder)
    write = LocalStorage.write

    def killed_at_the_metadata(store, name, data):
        if name == "metadata.json":
            raise KeyboardInterrupt  # as if the driver died here
        write(store, name, data)

    monkeypatch.setattr(LocalStorage, "write", killed_at_the_metadata)
    with pytest.raises(KeyboardInterrupt):
        other_posterior().save(folder, overwrite=True)
    monkeypatch.undo()
    assert_round_trip(Posterior.load(folder), posterior())  # not its metadata, their particles
    other_posterior().save(folder, overwrite=True)  # the same call again
    assert_round_trip(Posterior.load(folder), other_posterior())
    assert sorted(os.listdir(folder)) == ["metadata.json", particles_file(folder).name]


def test_the_layout_before_named_particles_still_loads(tmp_path):
    folder = tmp_path / "run"
    posterior().save(str(folder))
    particles_file(folder).rename(folder / "particles.parquet")
    document = json.loads((folder / "metadata.json").read_text())
    del document["particles"]
    (folder / "metadata.json").write_text(json.dumps(document))
    assert_round_trip(Posterior.load(str(folder)), posterior())
    posterior().save(str(folder), overwrite=True)  # and a save over it removes the old file
    assert sorted(os.listdir(folder)) == ["metadata.json", particles_file(folder).name]


@pytest.mark.parametrize(
    "named, match",
    [
        ("../elsewhere.parquet", r"json must name a data file of its folder such as particles"),
        (3, r"metadata.json must name a data file of its folder .*\(got 3\); the file is dam"),
        (f"particles-{'0' * 32}.parquet", "must hold a whole saved posterior .*FileNotFound"),
    ],
)
def test_metadata_naming_a_wrong_particles_file_is_refused(tmp_path, named, match):
    folder = tmp_path / "run"
    posterior().save(str(folder))
    document = json.loads((folder / "metadata.json").read_text())
    document["particles"] = named
    (folder / "metadata.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=match):
        Posterior.load(str(folder))


def test_load_of_a_wrong_folder_says_what_to_pass(tmp_path):
    with pytest.raises(ValueError, match="path must hold a saved posterior"):
        Posterior.load(str(tmp_path))


def test_save_and_load_through_hadoop_filesystem(spark, tmp_path):
    # file:// through Hadoop's FileSystem is the same code path as s3:// or hdfs:// on a cluster.
    store = HadoopStorage(f"file://{tmp_path}/hadoop", spark)
    store.write("x.bin", b"\x00\x01abc")
    assert store.read("x.bin") == b"\x00\x01abc"
    assert store.exists("x.bin") and store.names() == ["x.bin"]
    store.write("x.bin", b"new")  # overwrite: the old file set aside, the new one renamed in
    assert store.read("x.bin") == b"new" and store.names() == ["x.bin"]
    store.delete("x.bin")
    assert not store.exists("x.bin")
    with pytest.raises(FileNotFoundError, match="no file .*x.bin"):
        store.read("x.bin")
    post = posterior()
    post.save(f"file://{tmp_path}/hadoop/run", spark)
    post.save(f"file://{tmp_path}/hadoop/run", spark, overwrite=True)
    assert_round_trip(Posterior.load(f"file://{tmp_path}/hadoop/run", spark), post)


class RenameKilled:
    """A Hadoop FileSystem whose rename of a temporary file into place dies (a killed driver)."""

    def __init__(self, fs):
        self.fs = fs

    def __getattr__(self, name):
        return getattr(self.fs, name)

    def rename(self, source, target, *options):
        if source.getName().endswith(".tmp"):
            raise KeyboardInterrupt
        return self.fs.rename(source, target, *options)


def test_a_hadoop_write_killed_between_its_renames_keeps_the_old_bytes(spark, tmp_path):
    store = HadoopStorage(f"file://{tmp_path}/hadoop", spark)
    store.write("x.bin", b"old")
    store._fs = RenameKilled(store._fs)
    with pytest.raises(KeyboardInterrupt):
        store.write("x.bin", b"new")
    store._fs = store._fs.fs
    # Never neither file: the old one, set aside, is still read under its name.
    assert store.exists("x.bin") and store.read("x.bin") == b"old"
    store.write("x.bin", b"new")
    assert store.read("x.bin") == b"new"
    store.delete("x.bin")  # and the copy set aside (the killed write's temporary file stays)
    assert not store.exists("x.bin")
    assert [leftover(name) for name in store.names()] == [("x.bin", "tmp")]


@pytest.mark.parametrize("way", ["atomic_overwrite", "in_place"])
def test_hdfs_and_object_store_writes(spark, tmp_path, way):
    # HDFS renames over the old file in one operation; S3 writes the object itself. Their code
    # paths, run here on file:// without its .crc side files (which HDFS does not have).
    store = HadoopStorage(f"file://{tmp_path}/hadoop", spark)
    store._fs = store._fs.getRawFileSystem()
    setattr(store, way, True)
    store.write("x.bin", b"old")
    store.write("x.bin", b"new")
    assert store.read("x.bin") == b"new" and store.names() == ["x.bin"]


def test_create_makes_a_file_only_where_none_is(spark, tmp_path):
    for store in (
        LocalStorage(str(tmp_path / "local")),
        HadoopStorage(f"file://{tmp_path}/hadoop", spark),
    ):
        assert store.create("lock.json", b"first")
        assert not store.create("lock.json", b"second")
        assert store.read("lock.json") == b"first" and store.names() == ["lock.json"]
        assert store.rename("lock.json", "moved") and not store.rename("lock.json", "again")
        assert store.read("moved") == b"first"


@pytest.mark.parametrize(
    "uri, path",
    [
        ("file:/tmp/x", "/tmp/x"),
        ("file:///tmp/x", "/tmp/x"),
        ("file://localhost/tmp/x", "/tmp/x"),
        ("file:///tmp/with%20space", "/tmp/with space"),
        ("/tmp/x", "/tmp/x"),
        ("relative/x", "relative/x"),
    ],
)
def test_file_uris_name_local_folders(uri, path):
    local = for_path(uri)
    assert isinstance(local, LocalStorage) and local.root == Path(path)


@pytest.mark.parametrize("uri", ["file://elsewhere/tmp/x", "file:"])
def test_file_uris_of_other_machines_are_refused(uri):
    with pytest.raises(ValueError, match="path must be a file: URI of a folder on this machine"):
        for_path(uri)


def test_uris_pick_the_storage(spark, tmp_path):
    assert isinstance(for_path(str(tmp_path)), LocalStorage)
    local = for_path(f"file://{tmp_path}")
    assert isinstance(local, LocalStorage) and str(local.root) == str(tmp_path)
    with pytest.raises(
        ValueError, match="path must be a local folder or a URI .*No FileSystem for scheme"
    ):
        for_path("nosuchscheme://bucket/x", spark)


def test_to_spark(spark):
    frame = posterior().to_spark(spark)
    assert frame.columns == ["a", "b", "weight", "distance"]
    rows = frame.toPandas()
    np.testing.assert_array_equal(rows["weight"], posterior().weights)


def test_to_arviz_resamples_to_equal_weights_with_the_weighted_moments():
    arviz = pytest.importorskip("arviz")
    rng = np.random.default_rng(4)
    n = 4000
    samples = pd.DataFrame({"mu": rng.normal(0.0, 1.0, n), "sigma": rng.uniform(1.0, 2.0, n)})
    weights = np.exp(samples["mu"].to_numpy())  # tilts N(0, 1) to N(1, 1)
    post = Posterior(samples, weights, np.zeros(n))
    data = post.to_arviz()
    assert isinstance(data, arviz.InferenceData)
    draws = data.posterior
    assert dict(draws.sizes) == {"chain": 1, "draw": n}
    assert set(draws.data_vars) == {"mu", "sigma"}
    # Systematic resampling: every resampled value is a particle, and the equal-weight mean
    # matches the weighted mean to within the resampling error, far below the MC error.
    assert np.isin(draws["mu"].values, samples["mu"].to_numpy()).all()
    weighted = post.mean()
    assert float(draws["mu"].mean()) == pytest.approx(weighted["mu"], abs=0.02)
    assert float(draws["sigma"].mean()) == pytest.approx(weighted["sigma"], abs=0.01)
    assert weighted["mu"] == pytest.approx(1.0, abs=0.15)  # the tilt, within MC error
    summary = arviz.summary(data, kind="stats")
    assert summary.loc["mu", "mean"] == pytest.approx(weighted["mu"], abs=0.02)
    assert post.to_arviz().posterior["mu"].values.tolist() == draws["mu"].values.tolist()


def test_to_arviz_without_arviz_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "arviz", None)  # as if not installed
    with pytest.raises(ImportError, match="to_arviz needs arviz; pip install arviz"):
        posterior().to_arviz()


def test_load_normalises_weights_saved_unnormalised(tmp_path):
    post = posterior()
    post.save(str(tmp_path / "run"))
    frame = pd.read_parquet(particles_file(tmp_path / "run"))
    frame["weight"] *= 5.0  # another tool's weights, not summing to 1
    frame.to_parquet(particles_file(tmp_path / "run"), index=False)
    loaded = Posterior.load(str(tmp_path / "run"))
    np.testing.assert_allclose(loaded.weights.sum(), 1.0, rtol=0, atol=1e-12)
    pd.testing.assert_series_equal(loaded.mean(), post.mean(), rtol=1e-12)


def test_statistics_travel_with_the_posterior(tmp_path):
    post = posterior()
    stats = np.arange(2.0 * len(post.samples)).reshape(-1, 2)
    with_stats = Posterior(post.samples, post.weights, post.distances, post.history, {}, stats)
    with_stats.save(str(tmp_path / "run"))
    loaded = Posterior.load(str(tmp_path / "run"))
    np.testing.assert_array_equal(loaded.statistics, stats)
    assert loaded.names == post.names
    with pytest.raises(ValueError, match=r"statistics must have shape \(n, k\) with n = "):
        Posterior(post.samples, post.weights, post.distances, statistics=stats[:-1])


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda d: d.pop("format"), r"format 2 \(got no format version"),
        (lambda d: d.update(format=99), r"format 2 \(got format 99\)"),
        (lambda d: d.pop("history"), "must hold a whole saved posterior"),
    ],
)
def test_old_foreign_or_damaged_posteriors_are_refused(tmp_path, damage, match):
    posterior().save(str(tmp_path / "run"))
    path = tmp_path / "run" / "metadata.json"
    document = json.loads(path.read_text())
    damage(document)
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=match):
        Posterior.load(str(tmp_path / "run"))


def test_damaged_particles_are_refused(tmp_path):
    posterior().save(str(tmp_path / "run"))
    particles_file(tmp_path / "run").write_bytes(b"PAR1 but not really")
    with pytest.raises(ValueError, match="must hold a whole saved posterior"):
        Posterior.load(str(tmp_path / "run"))


def hand_posterior():
    """Five weighted particles whose weighted CDF is written out by hand below.

    Weights 1, 1, 2, 4, 2 (normalised: 0.1, 0.1, 0.2, 0.4, 0.2). Quantiles interpolate
    linearly between weighted midpoints, ``(cumulative weight - w / 2)``: for ``a`` (values 0 to
    4 in order) the midpoints are 0.05, 0.15, 0.3, 0.6, 0.9. ``b`` has a tie: its two 1s count
    as one point of weight 0.6, so (0 (0.1), 1 (0.6), 2 (0.1), 3 (0.2)) have midpoints 0.05,
    0.4, 0.75, 0.9 whatever the rows' order.
    """
    samples = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0], "b": [2.0, 0.0, 1.0, 1.0, 3.0]})
    return Posterior(samples, [1, 1, 2, 4, 2], np.zeros(5))


def test_quantiles_other_than_the_median_by_hand():
    table = hand_posterior().quantile([0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95])
    # a: 0.1 is a third of the way from 0.05 to 0.15; 0.25 two thirds from 0.15 to 0.3, ...
    expected_a = [0.0, 0.5, 1 + 0.10 / 0.15, 2 + 0.2 / 0.3, 3 + 0.15 / 0.3, 4.0, 4.0]
    # b: 0.1 is 1/7 of the way from 0.05 to 0.4, 0.25 is 4/7, 0.5 is 2/7 from 0.4 to 0.75.
    expected_b = [0.0, 1 / 7, 4 / 7, 1 + 2 / 7, 2.0, 3.0, 3.0]
    np.testing.assert_allclose(table["a"], expected_a, rtol=1e-12)
    np.testing.assert_allclose(table["b"], expected_b, rtol=1e-12)
    assert table.index.tolist() == [0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]


def test_tied_values_of_unequal_weight_give_quantiles_independent_of_order():
    post = hand_posterior()
    order = [0, 1, 3, 2, 4]  # the two tied b = 1 of weights 0.2 and 0.4 swap places
    swapped = Posterior(post.samples.iloc[order], post.weights[order], np.zeros(5))
    q = [0.1, 0.25, 0.4, 0.5, 0.6]
    pd.testing.assert_frame_equal(post.quantile(q), swapped.quantile(q), rtol=0, atol=0)


@pytest.mark.parametrize(
    "level, a, b",
    [
        # quantiles (1 - level) / 2 and (1 + level) / 2; a level mistaken for the upper
        # quantile (quantile([1 - level, level])) gives a = (1.33, 3.67) at 0.8 and
        # (2.67, 2.67) at 0.5.
        (0.8, (0.5, 4.0), (1 / 7, 3.0)),
        (0.5, (1 + 0.10 / 0.15, 3.5), (4 / 7, 2.0)),
    ],
)
def test_credible_intervals_by_hand(level, a, b):
    interval = hand_posterior().credible_interval(level)
    assert list(interval.columns) == ["lower", "upper"] and interval.index.tolist() == ["a", "b"]
    np.testing.assert_allclose(interval.loc["a"], a, rtol=1e-12)
    np.testing.assert_allclose(interval.loc["b"], b, rtol=1e-12)


def test_the_default_95_percent_interval_of_equal_weights():
    # 41 equally weighted values 0..40: midpoint i sits at (i + 0.5) / 41, so quantile q is
    # 41 q - 0.5: 0.525 and 39.475 (a 90% interval would be 1.55 and 38.45).
    post = Posterior(pd.DataFrame({"x": np.arange(41.0)}), np.ones(41), np.zeros(41))
    np.testing.assert_allclose(post.credible_interval().loc["x"], [0.525, 39.475], rtol=1e-12)
    table = post.summary()
    assert list(table.columns) == ["mean", "sd", "2.5%", "97.5%"]
    np.testing.assert_allclose(table.loc["x", ["2.5%", "97.5%"]], [0.525, 39.475], rtol=1e-12)


def test_ess_and_unbiased_weighted_covariance_by_hand():
    post = hand_posterior()
    # sum w^2 = (1 + 1 + 4 + 16 + 4) / 100 = 0.26, so ESS = 1 / 0.26.
    assert post.ess == pytest.approx(1 / 0.26, rel=1e-12)
    # Means 2.5 and 1.4; sum w a^2 = 7.7, sum w b^2 = 2.8, sum w a b = 4.0, so the weighted
    # (biased) covariance is [[7.7 - 6.25, 4.0 - 3.5], [., 2.8 - 1.96]], and the unbiased one
    # divides by 1 - sum w^2 = 0.74.
    np.testing.assert_allclose(post.mean(), [2.5, 1.4], rtol=1e-12)
    expected = np.array([[1.45, 0.5], [0.5, 0.84]]) / 0.74
    np.testing.assert_allclose(post.cov().to_numpy(), expected, rtol=1e-12)
    assert post.cov().index.tolist() == post.cov().columns.tolist() == ["a", "b"]
    np.testing.assert_allclose(post.std(), np.sqrt(np.diag(expected)), rtol=1e-12)


def test_summary_values_by_hand():
    table = hand_posterior().summary(level=0.8)
    assert list(table.columns) == ["mean", "sd", "10%", "90%"]
    assert table.index.tolist() == ["a", "b"]
    expected = [
        [2.5, math.sqrt(1.45 / 0.74), 0.5, 4.0],
        [1.4, math.sqrt(0.84 / 0.74), 1 / 7, 3.0],
    ]
    np.testing.assert_allclose(table.to_numpy(), expected, rtol=1e-12)
