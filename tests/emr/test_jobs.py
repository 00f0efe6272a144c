"""The step entry points in emr/jobs, run as spark-submit runs them (as __main__), and the
Python 3.9 grammar of all the Python that runs on EMR nodes or laptops.

The table jobs run for real on the session's local Spark, against file: URIs in a temporary
folder, and are compared with the same calls made in this process.
"""

from __future__ import annotations

import ast
import contextlib
import io
import runpy
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import assert_same_posterior

import abcspark.__main__
from abcspark import Neighbours, ReferenceTable, TableRejectionABC
from abcspark.examples import height_problem

from .conftest import EMR_DIR

JOBS = EMR_DIR / "jobs"


def test_check_cluster_finds_every_executor_on_the_drivers_python(spark, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["check_cluster.py"])
    runpy.run_path(str(JOBS / "check_cluster.py"), run_name="__main__")  # on the active session
    out = capsys.readouterr().out
    assert out.splitlines()[0].split("\t") == [
        "node",
        "host",
        "python",
        "version",
        "abcspark",
        "numpy",
        "pandas",
        "pyarrow",
    ]
    assert "ok: 1 executor environment(s) match the driver" in out


def test_check_cluster_reports_executors_unlike_the_driver(capsys):
    report = runpy.run_path(str(JOBS / "check_cluster.py"))["report"]
    driver = ("primary", "/usr/bin/python3.11", "3.11.9", "0.1.0", "2.4.6", "2.3.3", "26.0.1")
    same = ("core-1",) + driver[1:]
    other = ("core-2", "/usr/bin/python3", "3.9.20", "0.1.0", "2.0.2", "2.3.3", "21.0.0")
    assert report(driver, {same, other}) == [other]
    assert report(driver, {same}) == []
    assert "executor\tcore-2\t/usr/bin/python3\t3.9.20" in capsys.readouterr().out


def test_run_height_pmc_runs_the_main_job_with_its_arguments(monkeypatch):
    calls = []
    monkeypatch.setattr(abcspark.__main__, "main", lambda: calls.append(sys.argv[1:]))
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "run_height_pmc.py",
            "--particles",
            "40",
            "--output",
            "s3://my-abc-bucket/abcspark/results/r1/",
        ],
    )
    runpy.run_path(str(JOBS / "run_height_pmc.py"), run_name="__main__")
    assert calls == [["--particles", "40", "--output", "s3://my-abc-bucket/abcspark/results/r1/"]]


def run_job(name, monkeypatch, *args):
    """Run emr/jobs/<name>.py as spark-submit does, with ``args`` on its command line."""
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *args])
    runpy.run_path(str(JOBS / f"{name}.py"), run_name="__main__")


def test_the_table_jobs_explain_their_options(monkeypatch, capsys):
    for name, option in (("build_table", "--uri URI"), ("query_table", "--observations")):
        with pytest.raises(SystemExit) as done:
            run_job(name, monkeypatch, "--help")
        assert done.value.code == 0 and option in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"build_table.py: error: --model must be MODULE:FUN"):
        run_job("build_table", monkeypatch, "--uri", "t", "--n", "10", "--model", "examples")
    with pytest.raises(SystemExit, match="--model must name an importable function"):
        run_job("build_table", monkeypatch, "--uri", "t", "--n", "10", "--model", "abcspark:no")


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    """(uri, printed lines) of a table build_table.py wrote, then extended, in two steps."""
    uri = (tmp_path_factory.mktemp("jobs") / "table").as_uri()
    options = ["--uri", uri, "--seed", "3", "--batch-size", "100", "--statistics", "mean,sd"]
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        run_job("build_table", patch, *options, "--n", "1000")
        run_job("build_table", patch, *options, "--n", "2000", "--blocks-per-job", "2")
    return uri, printed.getvalue().splitlines()


def test_build_table_writes_and_extends_the_table_of_the_same_call(
    built, spark, tmp_path, monkeypatch
):
    uri, printed = built
    assert ["1,000 draws in 10 batches of 100" in line for line in printed] == [True, False]
    assert "2,000 draws in 20 batches of 100" in printed[1]
    prior, simulate, _ = height_problem()
    whole = ReferenceTable.simulate(
        prior,
        simulate,
        2000,
        str(tmp_path / "whole"),
        seed=3,
        spark=spark,
        batch_size=100,
        statistics=["mean", "sd"],
    )
    order = ["batch", "index"]
    pd.testing.assert_frame_equal(
        ReferenceTable.open(uri, spark).frame.toPandas().sort_values(order, ignore_index=True),
        whole.frame.toPandas().sort_values(order, ignore_index=True),
        check_exact=True,
    )
    with pytest.raises(SystemExit, match=r"build_table.py: error: seed must be the table's"):
        run_job("build_table", monkeypatch, "--uri", uri, "--n", "2000", "--seed", "4")


def test_query_table_saves_what_run_many_finds(built, spark, tmp_path, monkeypatch, capsys):
    table_uri = built[0]
    _, _, observed = height_problem()
    rng = np.random.default_rng(8)
    sites = pd.DataFrame(
        {"site": ["north", "south", "east"], "mean": observed[0] + rng.normal(0, 5, 3)}
    ).assign(sd=observed[1] + rng.normal(0, 2, 3))
    sites.to_csv(tmp_path / "sites.csv", index=False)  # floats as repr: read back exactly
    output = (tmp_path / "neighbours").as_uri()
    query = ["--table", table_uri, "--output", output, "--id-column", "site", "--n-samples", "25"]
    run_job(
        "query_table",
        monkeypatch,
        *query,
        "--observations",
        str(tmp_path / "sites.csv"),
        "--distance",
        "scaled_euclidean",
    )
    assert "Neighbours(3 ids, k=25" in capsys.readouterr().out
    abc = TableRejectionABC(ReferenceTable.open(table_uri, spark), "scaled_euclidean")
    expected = abc.run_many(sites, 25, id_column="site")
    saved = Neighbours.load(output, spark)
    order = ["site", "rank"]
    pd.testing.assert_frame_equal(
        saved.frame.toPandas().sort_values(order, ignore_index=True),
        expected.frame.toPandas().sort_values(order, ignore_index=True),
        check_exact=True,
    )
    for site in saved.ids:
        assert_same_posterior(saved.posterior_for(site), expected.posterior_for(site))
    expected.close()
    with pytest.raises(SystemExit, match=r"query_table.py: error: \[PATH_ALREADY_EXISTS\]"):
        run_job("query_table", monkeypatch, *query, "--observations", str(tmp_path / "sites.csv"))
    sites.to_parquet(tmp_path / "sites.parquet")
    run_job(
        "query_table",
        monkeypatch,
        *query,
        "--observations",
        str(tmp_path / "sites.parquet"),
        "--n-simulations",
        "1000",
        "--overwrite",
    )
    south = sites.loc[1, ["mean", "sd"]].to_numpy()
    first = TableRejectionABC(abc.table).run(south, n_samples=25, n_simulations=1000)
    assert_same_posterior(Neighbours.load(output, spark).posterior_for("south"), first)


@pytest.mark.parametrize(
    "path",
    sorted([*JOBS.glob("*.py"), EMR_DIR / "launch.py", *(EMR_DIR / "emr_launcher").glob("*.py")]),
    ids=lambda path: path.name,
)
def test_python_code_parses_as_python_3_9(path):
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
