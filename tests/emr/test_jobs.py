"""The step entry points in emr/jobs, run as spark-submit runs them (as __main__), and the
Python 3.9 grammar of all the Python that runs on EMR nodes or laptops."""

from __future__ import annotations

import ast
import runpy
import sys

import pytest

import abcspark.__main__

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


@pytest.mark.parametrize(
    "path",
    sorted([*JOBS.glob("*.py"), EMR_DIR / "launch.py", *(EMR_DIR / "emr_launcher").glob("*.py")]),
    ids=lambda path: path.name,
)
def test_python_code_parses_as_python_3_9(path):
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
