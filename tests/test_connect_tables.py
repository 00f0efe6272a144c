"""Reference tables on Spark Connect: written and searched over a Connect session, bit for bit
as on the classic session (the server and client of ``connect_server.py``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import assert_same_posterior

from abcspark.calibration import calibrate
from abcspark.connect import is_connect
from abcspark.reference_table import ReferenceTable
from abcspark.table_inference import TableRejectionABC

N, SEED = 3000, 7
SETTINGS = {"seed": SEED, "batch_size": 50, "batches_per_block": 8, "blocks_per_job": 4}
OBSERVED = np.array([0.4, 1.1])


def prior():
    from abcspark import Normal, Prior, Uniform

    return Prior(mu=Normal(0.0, 2.0), sigma=Uniform(0.5, 1.5))


def simulate(theta, rng):
    draws = theta[:, :1] + theta[:, 1:] * rng.standard_normal((len(theta), 10))
    return np.column_stack([draws.mean(axis=1), draws.std(axis=1, ddof=1)])


@pytest.fixture(scope="module")
def tables(remote, spark, tmp_path_factory):
    """The same table written over Connect and on the classic session."""
    folder = tmp_path_factory.mktemp("connect-tables")
    written = {}
    for name, session in (("connect", remote), ("classic", spark)):
        uri = str(folder / name)
        written[name] = ReferenceTable.simulate(
            prior(), simulate, N, uri, spark=session, **SETTINGS
        )
    return written


def rows_of(table: ReferenceTable, spark) -> pd.DataFrame:
    rows = ReferenceTable.open(table.uri, spark).rows().toPandas()
    return rows.sort_values(["batch", "index"], kind="mergesort").reset_index(drop=True)


def same(a, b) -> None:
    assert_same_posterior(a, b)
    np.testing.assert_array_equal(a.statistics, b.statistics)
    drop = ["seconds"]
    pd.testing.assert_frame_equal(a.history.drop(columns=drop), b.history.drop(columns=drop))


def test_a_table_written_over_connect_equals_one_written_on_classic(tables, remote, spark):
    assert is_connect(tables["connect"].spark) and not is_connect(tables["classic"].spark)
    expected = rows_of(tables["classic"], spark)
    assert len(expected) == N + N // SETTINGS["batch_size"]  # every simulation and tally
    pd.testing.assert_frame_equal(rows_of(tables["connect"], spark), expected, check_exact=True)
    opened = ReferenceTable.open(tables["classic"].uri, remote)  # read over Connect too
    pd.testing.assert_frame_equal(rows_of(opened, remote), expected, check_exact=True)
    assert remote.getTags() == set()  # the write jobs' tags are removed after each job


def test_table_rejection_over_connect_equals_classic(tables):
    on_connect = TableRejectionABC(tables["connect"])
    on_classic = TableRejectionABC(tables["classic"])
    same(on_connect.run(OBSERVED, n_samples=60), on_classic.run(OBSERVED, n_samples=60))
    until = dict(epsilon=0.4, n_samples=20)  # its extra job counts the last batch's rows
    same(on_connect.run(OBSERVED, **until), on_classic.run(OBSERVED, **until))
    by_epsilon = dict(epsilon=0.3, n_simulations=1000)
    same(on_connect.run(OBSERVED, **by_epsilon), on_classic.run(OBSERVED, **by_epsilon))


def test_run_many_over_connect_equals_classic_and_one_run_each(tables, remote):
    observations = pd.DataFrame(
        {"id": [3, 1, 2], "stat_0": [0.4, -1.0, 2.5], "stat_1": [1.1, 0.7, 1.4]}
    )
    on_connect = TableRejectionABC(tables["connect"])
    classic = TableRejectionABC(tables["classic"]).run_many(observations, 25)
    for given in (observations, remote.createDataFrame(observations)):  # pandas or Connect's
        found = on_connect.run_many(given, 25)
        assert is_connect(found.frame.sparkSession)
        expected = classic.frame.toPandas().sort_values(["id", "rank"], ignore_index=True)
        got = found.frame.toPandas().sort_values(["id", "rank"], ignore_index=True)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        for id, row in zip(observations["id"], observations[["stat_0", "stat_1"]].to_numpy()):
            same(found.posterior_for(id), on_connect.run(row, n_samples=25))
        found.close()
    classic.close()


def test_calibration_over_connect_equals_classic(tables):
    runs = [
        calibrate(TableRejectionABC(tables[name]), n_truths=30, n_samples=40)
        for name in ("connect", "classic")
    ]
    pd.testing.assert_frame_equal(runs[0].coverage(), runs[1].coverage(), check_exact=True)
    pd.testing.assert_frame_equal(runs[0].ranks(), runs[1].ranks(), check_exact=True)
