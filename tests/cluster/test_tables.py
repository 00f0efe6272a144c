"""Reference tables on the standalone cluster: a write killed mid-job and completed by a
second application equals the table written whole in this process, and the cluster's
many-datasets query equals this process's, bit for bit."""

import os
import signal
from pathlib import Path

import pandas as pd
import pytest
from cluster_models import TABLE_OBSERVATIONS, TABLE_SETTINGS, TABLE_SIZE, HeldTable

from abcspark import ReferenceTable, TableRejectionABC

pytestmark = pytest.mark.cluster
JOB = Path(__file__).parent / "jobs" / "table_cluster_job.py"


def every_row(table: ReferenceTable) -> pd.DataFrame:
    rows = table.rows().toPandas()
    return rows.sort_values(["batch", "index"], kind="mergesort").reset_index(drop=True)


def test_a_table_killed_on_the_cluster_is_completed_to_the_whole_one(
    cluster, drivers, spark, tmp_path
):
    from table_cluster_job import PRIOR

    uri, output = str(tmp_path / "table"), str(tmp_path / "neighbours")
    submit = ["spark-submit", "--master", cluster.master_url, JOB, uri, output]
    held = drivers.start("held", [*submit, "--hold"])
    drivers.wait_for(held, r"application app-", Path(f"{uri}.held"))
    drivers.stop(held, signal.SIGKILL)
    assert len(os.listdir(Path(uri, "_blocks"))) == 2
    code, log = drivers.run("completes", submit)
    assert code == 0 and "queried" in log, log[-3000:]

    whole = ReferenceTable.simulate(
        PRIOR, HeldTable(), TABLE_SIZE, str(tmp_path / "whole"), spark=spark, **TABLE_SETTINGS
    )
    completed = ReferenceTable.open(uri, spark)
    pd.testing.assert_frame_equal(every_row(completed), every_row(whole), check_exact=True)
    here = TableRejectionABC(whole).run_many(pd.DataFrame(TABLE_OBSERVATIONS), 50).frame
    order = ["id", "rank"]
    there = spark.read.parquet(output).toPandas().sort_values(order).reset_index(drop=True)
    here = here.toPandas().sort_values(order).reset_index(drop=True)
    pd.testing.assert_frame_equal(there[here.columns], here, check_exact=True)
